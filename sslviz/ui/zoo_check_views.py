"""The zoo's install check on the pages: a shipped run whose recorded figures the install did not
reproduce (sslviz/teaching/pretrained/verify.py) is flagged wherever it is shown. Its label carries
the flag (run_choice.run_label), the leaderboards a "check" column (experiments/compare.leaderboard),
and the run card, Compare, Label Efficiency and the lessons' leaderboard this warning, with both
numbers; the figures those pages show are the re-scored ones (the install writes them into the
run's summary)."""

from __future__ import annotations

import streamlit as st

from .run_choice import run_title, zoo_flag


def flag_warnings(runs: list[dict]) -> int:
    """One warning per flagged run among `runs`; returns how many were flagged."""
    flagged = [r for r in runs if zoo_flag(r)]
    for run in flagged:
        tolerance = (run.get("summary") or {}).get("zoo_check", {}).get("tolerance")
        st.warning(f"⚠ **{run_title(run)}** ({run['id']}): {zoo_flag(run)} (tolerance ±{tolerance}). Its shipped "
                   "checkpoint or its record changed since the build, so the figures shown here are the ones "
                   "re-scored at install, not the recorded ones.", icon=None)
    return len(flagged)
