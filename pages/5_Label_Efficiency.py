"""Label Efficiency: accuracy against labels per class, on demand, with error bars and label savings."""

import streamlit as st

from sslviz.ui.common import page, store
from sslviz.ui.labeleff_views import experiment_form, experiment_panel, experiment_picker, run_label
from sslviz.ui.query import query_list, query_value, run_filters, set_query

page("Label Efficiency", "🏷️")
st.title("How many labels does self-supervision save?")
st.markdown(
    "Pre-train without labels, then give the network **a few labelled images per class** and score it on "
    "held-out images. Every method gets exactly the same labelled images (drawn per seed), so the curves are a "
    "paired comparison; the shaded band is the 95% interval over seeds. Lines to beat: **raw pixels** and the "
    "**untrained network**; the **supervised** baseline trains that network on the same few labels."
)

runs = store().list()  # training runs, newest first
if not runs:
    st.info("No trained runs yet. Train one on the Train page (or start the demo on the home page), then come back.")
    st.stop()

shown, dataset, method = run_filters(runs, "le")
by_id = {r["id"]: r for r in runs}
wanted = [r for r in query_list("run") if r in by_id]
state = [r for r in st.session_state.get("le-runs", wanted) if r in by_id]
options = list(dict.fromkeys(wanted + state + [r["id"] for r in shown]))
st.session_state["le-runs"] = state or wanted or options[:1]
chosen = st.multiselect("runs to evaluate", options, format_func=lambda i: run_label(by_id[i]), key="le-runs")
set_query(run=chosen)
if not chosen:
    st.info("Choose at least one run.")
    st.stop()

new_id = experiment_form(chosen)
if new_id:
    set_query(exp=new_id)
for note in st.session_state.pop("le-notes", []):
    st.info(note)

exp_id = experiment_picker(chosen, new_id or query_value("exp"))
if exp_id:
    set_query(exp=exp_id)
    experiment_panel(exp_id)
