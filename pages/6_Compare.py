"""Compare: methods side by side on one budget — curves, label efficiency, leaderboard, embeddings."""

import streamlit as st

from sslviz.embeddings.imported import entries
from sslviz.ui.common import page, store
from sslviz.ui.compare_views import curves_and_leaderboard, embeddings_side_by_side, same_budget_form, show_queued
from sslviz.ui.home_views import install_progress_bar
from sslviz.ui.query import run_filters, run_multiselect
from sslviz.ui.run_choice import status_note, zoo_runs

page("Compare", "⚖️")
st.title("Compare methods side by side")
st.markdown(
    "Choose runs — different methods, or one method with different augmentations or budgets. Their loss and "
    "kNN curves share one axis (wall-clock time is the honest one on a laptop: an epoch of a cheap pretext task "
    "is not an epoch of SimCLR), the leaderboard puts the numbers in one table, and **Same budget** reruns the "
    "chosen methods with identical data, backbone, seed and time."
)

runs = entries(store())  # trained runs and imported embeddings (sslviz/embeddings/imported.py)
if not runs:
    st.info("No trained runs yet. Train a few on the Train page, then compare them here.")
    install_progress_bar(small=True, rerun_on_new=True)
    st.stop()
install_progress_bar(small=True)

added = show_queued()
shown, dataset, method = run_filters(runs, "cmp")
# nothing chosen: the pretrained runs of the filtered dataset (shapes by default): the zoo's leaderboard
zoo = zoo_runs(runs, dataset or "shapes", method)
chosen, by_default = run_multiselect("runs to compare", "cmp-runs", runs, shown, zoo or [r["id"] for r in shown][:2],
                                     added, extra=status_note)
if not chosen:
    st.info("Choose at least one run.")
    st.stop()
if by_default and zoo:
    st.caption(f"Opened on the {len(chosen)} pretrained run{'s' if len(chosen) != 1 else ''} on "
               f"{dataset or 'shapes'}, best kNN first: choose runs above to compare others.")

curves_and_leaderboard(chosen)
embeddings_side_by_side(chosen)
same_budget_form(chosen)
