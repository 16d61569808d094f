"""Label Efficiency: accuracy against labels per class, on demand, with error bars and label savings."""

import streamlit as st

from sslviz.embeddings.imported import entries
from sslviz.ui.common import page, store
from sslviz.ui.home_views import install_progress_bar
from sslviz.ui.labeleff_views import (
    checkpoint_note,
    experiment_form,
    experiment_panel,
    experiment_picker,
    zoo_experiment_runs,
)
from sslviz.ui.query import query_value, run_filters, run_multiselect, set_query

page("Label Efficiency", "🏷️")
st.title("How many labels does self-supervision save?")
st.markdown(
    "Pre-train without labels, then give the network **a few labelled images per class** and score it on "
    "held-out images. Every method gets exactly the same labelled images (drawn per seed), so the curves are a "
    "paired comparison; the shaded band is the 95% interval over seeds. Lines to beat: **raw pixels** and the "
    "**untrained network**; the **supervised** baseline trains that network on the same few labels."
)

runs = entries(store())  # training runs and imported embeddings (sslviz/embeddings/imported.py), newest first
if not runs:
    st.info("No trained runs yet. Train one on the Train page (or start the demo on the home page), then come back.")
    install_progress_bar(small=True, rerun_on_new=True)
    st.stop()
install_progress_bar(small=True)

shown, dataset, method = run_filters(runs, "le")
zoo_exp, zoo = zoo_experiment_runs(runs, dataset, method)  # nothing chosen: the shipped experiment on the zoo
chosen, by_default = run_multiselect("runs to evaluate", "le-runs", runs, shown, zoo or [r["id"] for r in shown][:1],
                                     extra=checkpoint_note)
if not chosen:
    st.info("Choose at least one run.")
    st.stop()
if by_default and zoo_exp:
    st.caption(f"Opened on the pretrained runs on shapes and their experiment, measured when sslviz was built: "
               "choose runs above to evaluate others.")

new_id = experiment_form(chosen)
if new_id:
    set_query(exp=new_id)
for note in st.session_state.pop("le-notes", []):
    st.info(note)

exp_id = experiment_picker(chosen, new_id or query_value("exp") or (zoo_exp if by_default else None))
if exp_id:
    set_query(exp=exp_id)
    experiment_panel(exp_id)
