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


def run_multiselect(label: str, key: str, runs: list[dict], shown: list[dict], default: list[str],
                    added: list[str] = (), extra=None) -> tuple[list[str], bool]:
    """A multiselect of runs (bound to ?run=), labelled by their names (run_choice.run_labels; extra(run)
    is appended to a label). It starts with the URL's runs, else what this session chose, else
    `default`; the default is not written to the URL and is not taken for a choice, so it follows the
    store (e.g. while the pretrained runs install) and a reload opens on it again.
    Returns (the chosen ids, whether they are the default)."""
    from .run_choice import run_labels

    by_id = {r["id"]: r for r in runs}
    marker = f"_{key}-default"
    wanted = [r for r in query_list("run") if r in by_id]
    state = [r for r in st.session_state.get(key, []) if r in by_id]
    added = [r for r in added if r in by_id]
    if added:  # runs the page just queued join what is shown (the default too): a choice from now on
        state = list(dict.fromkeys(state + added))
    elif state and state == st.session_state.get(marker):
        state = []  # what we preselected last time, not a choice
    default = [r for r in default if r in by_id]
    value = state or wanted or default
    is_default = not (state or wanted)
    options = list(dict.fromkeys(wanted + state + default + [r["id"] for r in shown]))
    labels = run_labels([by_id[i] for i in options], extra)
    st.session_state[key] = value
    st.session_state[marker] = value if is_default else None
    chosen = st.multiselect(label, options, format_func=labels.get, key=key)
    is_default = is_default and chosen == value
    set_query(run=None if is_default else chosen)
    return chosen, is_default
