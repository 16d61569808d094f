"""Compare: methods side by side on one budget — curves, label efficiency, leaderboard, embeddings."""

import streamlit as st

from sslviz.ui.common import page, store
from sslviz.ui.compare_views import (curves_and_leaderboard, embeddings_side_by_side, same_budget_form,
                                     show_queued)
from sslviz.ui.labeleff_views import run_label
from sslviz.ui.query import query_list, run_filters, set_query

page("Compare", "⚖️")
st.title("Compare methods side by side")
st.markdown(
    "Choose runs — different methods, or one method with different augmentations or budgets. Their loss and "
    "kNN curves share one axis (wall-clock time is the honest one on a laptop: an epoch of a cheap pretext task "
    "is not an epoch of SimCLR), the leaderboard puts the numbers in one table, and **Same budget** reruns the "
    "chosen methods with identical data, backbone, seed and time."
)

runs = store().list()
if not runs:
    st.info("No trained runs yet. Train a few on the Train page, then compare them here.")
    st.stop()

added = show_queued()
shown, dataset, method = run_filters(runs, "cmp")
by_id = {r["id"]: r for r in runs}
wanted = [r for r in query_list("run") if r in by_id]
state = [r for r in st.session_state.get("cmp-runs", wanted) if r in by_id] + added
options = list(dict.fromkeys(wanted + state + [r["id"] for r in shown]))
st.session_state["cmp-runs"] = list(dict.fromkeys(state or wanted or options[:2]))
chosen = st.multiselect("runs to compare", options, format_func=lambda i: run_label(by_id[i]), key="cmp-runs")
set_query(run=chosen)
if not chosen:
    st.info("Choose at least one run.")
    st.stop()

curves_and_leaderboard(chosen)
embeddings_side_by_side(chosen)
same_budget_form(chosen)
