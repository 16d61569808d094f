"""Home-page widgets: the demo's verdict (has the kNN curve passed the raw-pixel line?) and the
pretrained runs shipped with sslviz, with links into the pages that show them."""

from __future__ import annotations

import streamlit as st

from ..errors import SslvizError
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


def pretrained_status() -> None:
    """The shipped pretrained runs of this store, with links; a note while they are being installed."""
    from ..pretrained import NOTES
    from ..pretrained.install import installed
    from .common import ensure_pretrained, page_link

    fut = ensure_pretrained()
    if fut is not None and not fut.done():
        every = refresh_every()

        @st.fragment(run_every=every)
        def poll():
            if fut.done():
                st.rerun(scope="app")
            st.info("Installing the pretrained runs into the run store (only on the first start, about half a "
                    "minute)…")

        poll()
        return
    runs = installed(store())
    from ..pretrained import CATALOG

    present = {name: runs[name] for name in CATALOG if name in runs and _exists(runs[name])}
    if not present:
        return
    st.subheader("Ready to explore: pretrained runs")
    for name, run_id in present.items():
        st.markdown(f"**{store().get(run_id)['name'] or name}** (`{run_id}`): {NOTES.get(name, '')}")
        cols = st.columns(3)
        with cols[0]:
            page_link("pages/4_Embeddings.py", "its embedding", icon=":material/scatter_plot:",
                      query_params={"run": run_id})
        with cols[1]:
            task = "rotation" if name.startswith("rotation") else "simclr"
            page_link("pages/2_Pretext_Tasks.py", "its answers", icon=":material/extension:",
                      query_params={"method": task, "run": run_id})
        with cols[2]:
            if "shapes" in name:
                page_link("pages/1_Augmentations.py", "what it forgot (factor probe)", icon=":material/palette:",
                          query_params={"run": run_id})


def _exists(run_id: str) -> bool:
    try:
        store().get(run_id)
        return True
    except SslvizError:
        return False
