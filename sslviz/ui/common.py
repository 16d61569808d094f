"""Page setup, the shared run store, and the live-refresh switch."""

from __future__ import annotations

import os

import streamlit as st

from ..runs import RunStore


def page(title: str, icon: str = "🧠") -> None:
    st.set_page_config(page_title=f"{title} · sslviz", page_icon=icon, layout="wide")


@st.cache_resource
def _store(root: str | None) -> RunStore:
    return RunStore(root)


def store() -> RunStore:
    """The run store every session shares ($SSLVIZ_HOME or ./runs)."""
    return _store(os.environ.get("SSLVIZ_HOME"))


def refresh_every() -> float | None:
    """Seconds between live refreshes, or None when live refresh is off.

    Off when SSLVIZ_NO_LIVE=1 (tests with AppTest) or the URL has ?live=0.
    """
    if os.environ.get("SSLVIZ_NO_LIVE") == "1" or st.query_params.get("live") == "0":
        return None
    return 1.0


def session_owner() -> str:
    """A stable id for this browser session (for 'my runs' and per-student limits)."""
    if "owner" not in st.session_state:
        import secrets

        st.session_state.owner = secrets.token_hex(4)
    return st.session_state.owner
