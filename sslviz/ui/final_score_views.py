"""A run's final figures by the papers' protocol, beside the live monitor's estimate (run panel).

The page only reads the stored block (summary "papers", sslviz/training/final_scores.py); a run
without one gets a button that queues the scoring as a background job of kind "papers", never
computed in the page.
"""

from __future__ import annotations

import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.training import final_scores

from .common import session_owner, store

CAPTION = ("Final figures by the papers' protocol (lightly, solo-learn): every training image is the kNN's bank, "
           "every test image is scored; cosine similarity, the 20 (or 200) nearest vote with weight exp(sim / 0.07) "
           "(Wu et al., 2018); the linear probe is a logistic regression on all training labels. Quote these. The "
           "kNN curve above is the live monitor's {estimate}, cheap enough to draw every epoch.")


def monitor_label(summary: dict, config: dict | None) -> str:
    """The run panel's label for the monitor's kNN: 'kNN accuracy, estimate (bank N, test M)'."""
    return f"kNN accuracy, {final_scores.estimate_label(summary, config)}"


def papers_panel(run: dict) -> None:
    """The papers' kNN at k = 20 and 200 and the linear probe with their baselines, or the way to get them."""
    summary, status = run["summary"] or {}, run["status"]
    papers = summary.get(final_scores.SUMMARY_KEY)
    if papers:
        pixels, untrained = papers.get("pixels") or {}, papers.get("random_init") or {}
        cols = st.columns(3)
        for col, key, name in zip(cols, ("knn20", "knn200", "linear"),
                                  ("kNN k=20 (papers' protocol)", "kNN k=200 (papers' protocol)",
                                   "linear probe, all labels (papers' protocol)")):
            delta = f"{papers[key] - pixels[key]:+.1%} vs raw pixels" if key in pixels else None
            col.metric(name, f"{papers[key]:.1%}", delta=delta,
                       help=(f"untrained network: {untrained[key]:.1%}; " if key in untrained else "")
                       + f"bank {papers['bank']:,} training images, {papers['test']:,} test images")
        st.caption(CAPTION.format(estimate=final_scores.estimate_label(summary, run["config"])))
        return
    if status != "completed" or run["kind"] != "train":
        return
    s = store()
    job = final_scores.pending(s, run["id"])
    if job:
        st.info(f"Being scored by the papers' protocol in the background ({job}); the figures appear here.")
        return
    if st.button("Score by the papers' protocol", key=f"papers-{run['id']}",
                 help="the whole training split as the kNN bank and the whole test split: the figure to compare "
                      "with a paper (a background job; seconds on the bundled datasets)"):
        try:
            final_scores.submit(s, run["id"], owner=session_owner())
            st.toast("Queued: the papers' figures appear here when they are computed.")
            st.rerun(scope="app")
        except SslvizError as exc:
            st.error(str(exc))
