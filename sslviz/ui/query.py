"""URL query parameters shared by the pages: `run` (one id, or ids separated by commas), `dataset`,
`method`. A page restores its state from them and writes them back when the user changes it, so
a URL reproduces the view (send it to a student, bookmark it, reload it)."""

from __future__ import annotations

import streamlit as st


def query_value(name: str) -> str | None:
    value = st.query_params.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def query_list(name: str) -> list[str]:
    """A comma-separated parameter as a list (empty when absent)."""
    value = query_value(name)
    return [v for v in (p.strip() for p in value.split(",")) if v] if value else []


def set_query(**values) -> None:
    """Write parameters (lists are joined with commas); None or empty removes one. Writes only changes."""
    for name, value in values.items():
        text = ",".join(value) if isinstance(value, (list, tuple)) else (None if value is None else str(value))
        if text:
            if st.query_params.get(name) != text:
                st.query_params[name] = text
        elif name in st.query_params:
            del st.query_params[name]


def run_filters(runs: list[dict], key: str) -> tuple[list[dict], str | None, str | None]:
    """Dataset and method filters (bound to ?dataset= and ?method=) over training runs; returns
    (the runs that pass, dataset, method)."""
    datasets = sorted({r["dataset"] for r in runs})
    methods = sorted({r["method"] for r in runs})
    want_ds, want_m = query_value("dataset"), query_value("method")
    ds_opts = ["any dataset"] + sorted(set(datasets) | ({want_ds} if want_ds else set()))
    m_opts = ["any method"] + sorted(set(methods) | ({want_m} if want_m else set()))
    cols = st.columns(2)
    ds = cols[0].selectbox("dataset", ds_opts, index=ds_opts.index(want_ds) if want_ds else 0, key=f"{key}-dataset")
    m = cols[1].selectbox("method", m_opts, index=m_opts.index(want_m) if want_m else 0, key=f"{key}-method")
    ds = None if ds == "any dataset" else ds
    m = None if m == "any method" else m
    set_query(dataset=ds, method=m)
    return [r for r in runs if (ds is None or r["dataset"] == ds) and (m is None or r["method"] == m)], ds, m
