"""Home-page widgets: the demo's verdict (has the kNN curve passed the raw-pixel line?) and the
pretrained runs shipped with sslviz, with links into the pages that show them."""

from __future__ import annotations

import streamlit as st

from sslviz.core.errors import SslvizError

from .common import refresh_every, store


def demo_status(run_id: str) -> None:
    """One line that says whether the demo's kNN accuracy has passed the raw-pixel line yet."""
    s = store()

    def verdict() -> bool:
        rows = s.metrics(run_id, ["knn_accuracy", "knn_pixels"])
        knn = [r["value"] for r in rows if r["name"] == "knn_accuracy"]
        pixels = [r["value"] for r in rows if r["name"] == "knn_pixels"]
        status = s.get(run_id)["status"]
        if not knn or not pixels:
            st.info("Scoring the untrained network first (the dotted line); the red kNN curve starts there.")
        elif len(knn) > 1 and knn[-1] > pixels[-1]:
            st.success(f"Past the raw-pixel line: kNN accuracy {knn[-1]:.0%} against {pixels[-1]:.0%} for raw "
                       "pixels. The network learned shape without ever seeing a label.")
        elif status in ("queued", "running"):
            st.info(f"kNN accuracy {knn[-1]:.0%}, raw pixels {pixels[-1]:.0%}: watch the red curve climb.")
        else:
            st.warning(f"Finished at kNN {knn[-1]:.0%} against {pixels[-1]:.0%} for raw pixels: this machine was "
                       "busy, so the minute bought few training steps. A pretrained run is below.")
        return status in ("queued", "running")

    try:
        was_active = s.get(run_id)["status"] in ("queued", "running")
    except SslvizError:
        was_active = False

    @st.fragment(run_every=refresh_every(was_active))  # polls only while the demo trains
    def live():
        if verdict() != was_active:
            st.rerun(scope="app")  # the demo ended: redraw once, stop polling

    live()


def install_progress_bar(small: bool = False, rerun_on_new: bool = False) -> bool:
    """While the shipped runs install in the background (first start): "Installing pretrained runs: k
    of n", a bar that follows the installing thread (a fragment polling its progress, sslviz.teaching.pretrained.
    install.install_progress), and one full redraw when it is over. small: one thin line, for pages
    that have nothing else to show yet; rerun_on_new: redraw the page as each run arrives (for a page
    that said "no runs yet"). Returns whether an install is in progress."""
    from sslviz.teaching.pretrained.install import install_progress

    s = store()
    first = install_progress(s)
    if first is None or first["finished"] or not first["total"]:  # nothing, over, or only the experiment
        return False
    seen = first["done"]

    @st.fragment(run_every=refresh_every())
    def poll():
        p = install_progress(s)
        if p is None or p["finished"] or (rerun_on_new and p["done"] != seen):
            st.rerun(scope="app")
        text = f"Installing pretrained runs: {p['done']} of {p['total']}"
        if not small and p["current"]:
            text += f" (now: {_entry_title(p['current'])})"
        if p.get("paused"):
            text += " · paused while a user's job goes first"
        st.progress(p["done"] / max(1, p["total"]), text=text)
        if not small:
            st.caption("Only on the first start of this run store. Every page works meanwhile, and what you ask "
                       "for goes first (the install runs at the lowest priority); the runs appear as they are "
                       "installed.")

    poll()
    return True


def _entry_title(name: str) -> str:
    from sslviz.teaching.pretrained import CATALOG

    return CATALOG.get(name, {}).get("name") or name


FEATURED = 4  # the first catalogue entries get a paragraph each; the rest are listed under them


def pretrained_status() -> None:
    """The shipped pretrained runs of this store, with links; a progress bar while they are installed."""
    from sslviz.teaching.answers import tasks
    from sslviz.teaching.pretrained import CATALOG, NOTES
    from sslviz.teaching.pretrained.install import install_progress, installed

    from .common import ensure_pretrained, page_link
    from .run_choice import flag_suffix

    ensure_pretrained()
    if install_progress_bar():
        return
    errors = (install_progress(store()) or {}).get("errors") or []
    if errors:
        more = f" (and {len(errors) - 1} more: see `python -m sslviz pretrained install`)" if len(errors) > 1 else ""
        st.warning(f"Not every pretrained run could be installed: {errors[0]}{more}")
    runs = installed(store())
    present = {name: runs[name] for name in CATALOG if name in runs and _exists(runs[name])}
    if not present:
        return
    st.subheader("Ready to explore: pretrained runs")
    names = list(present)
    for name in names[:FEATURED]:
        run_id = present[name]
        run = store().get(run_id)
        st.markdown(f"**{run['name'] or name}** (`{run_id}`){flag_suffix(run)}: {NOTES.get(name, '')}")
        cols = st.columns(3)
        with cols[0]:
            page_link("pages/4_Embeddings.py", "its embedding", icon=":material/scatter_plot:",
                      query_params={"run": run_id})
        with cols[1]:
            method = CATALOG[name]["method"]  # its own task when it has one; else the contrastive game
            task = method if method in tasks().values() else "simclr"
            page_link("pages/2_Pretext_Tasks.py", "its answers", icon=":material/extension:",
                      query_params={"method": task, "run": run_id})
        with cols[2]:
            if "shapes" in name:
                page_link("pages/1_Augmentations.py", "what it forgot (factor probe)", icon=":material/palette:",
                          query_params={"run": run_id})
    rest = names[FEATURED:]
    if rest:
        mnist = any(CATALOG[name]["dataset"] == "mnist-10k" for name in rest)
        with st.expander(f"{len(rest)} more pretrained runs: every method on shapes" + (" and on MNIST" if mnist else "")):
            for name in rest:
                run_id = present[name]
                st.markdown(f"**{_entry_title(name)}** (`{run_id}`){flag_suffix(store().get(run_id))}: "
                            f"{NOTES.get(name, '')}")
        page_link("pages/6_Compare.py", "All methods on shapes, side by side (leaderboard)", icon=":material/balance:")
        if mnist:
            page_link("pages/6_Compare.py", "All methods on MNIST, side by side (leaderboard)", icon=":material/balance:",
                      query_params={"dataset": "mnist-10k"})
        page_link("pages/5_Label_Efficiency.py", "How many labels each saves (label efficiency)",
                  icon=":material/trending_up:")


def _exists(run_id: str) -> bool:
    try:
        store().get(run_id)
        return True
    except SslvizError:
        return False
