"""sslviz home: what self-supervised learning is, a one-click demo, and the way to every page."""

import streamlit as st

from sslviz.ui.common import page, page_link
from sslviz.ui.run_views import run_panel, select_run, start_demo
from sslviz.ui.home_views import demo_status, pretrained_status

page("Home")
st.title("sslviz — self-supervised learning, visualised")
st.markdown(
    """
**Self-supervised learning** trains a network without labels. The images themselves set the task:
recognise two augmented views of the same picture among many (*contrastive* methods such as SimCLR),
predict how an image was rotated (*pretext* tasks such as RotNet), or match a slowly moving copy of
yourself (*non-contrastive* methods such as BYOL). What the network learns on the way, its
**embedding**, turns out to be useful: a few labels are then enough to name the clusters it found.

Watch it happen: the demo trains SimCLR on **shapes** (eight shape classes in random colours, sizes,
positions and rotations) for one minute on this machine's CPU and draws its kNN accuracy on held-out
images against the raw-pixel line. Measured on the project's 2-core development machine (2026-12-07,
BENCHMARKS.md, "Lessons"): the kNN passed the raw-pixel line (0.370) 29.2 s after the run started and
ended the minute at 0.566, so the network had learned something about *shape* without ever seeing a
label. A busier or slower machine trains fewer steps in the same minute.
"""
)
page_link("pages/0_Lessons.py", "Teaching a class? Follow a lesson: a guided 45-minute path, the class votes before each reveal",
          icon=":material/school:")
if st.button("Start the one-minute demo (SimCLR on shapes)", type="primary", icon=":material/play_arrow:"):
    run_id = start_demo()
    select_run(run_id)
    st.session_state["home.demo"] = run_id

demo = st.session_state.get("home.demo")
if demo:
    st.subheader("The demo, live")
    run_panel(demo)
    demo_status(demo)
    cols = st.columns(2)
    with cols[0]:
        page_link("pages/4_Embeddings.py", "See its embedding (UMAP), coloured by shape or colour", icon=":material/scatter_plot:",
                  query_params={"run": demo})
    with cols[1]:
        page_link("pages/3_Train.py", "Open it on the Train page", icon=":material/model_training:", query_params={"run": demo})

pretrained_status()

st.subheader("Pages")
page_link("pages/0_Lessons.py", "Lessons — a guided path for a class: one view per step, a question, a reveal",
          icon=":material/school:")
page_link("pages/1_Augmentations.py", "Augmentations — edit the views live; see what training made the network forget",
          icon=":material/palette:")
page_link("pages/2_Pretext_Tasks.py", "Pretext Tasks — what each task asks, the network's answers, a card per method",
          icon=":material/extension:")
page_link("pages/3_Train.py", "Train — start runs, watch loss, kNN accuracy and the collapse gauge", icon=":material/model_training:")
page_link("pages/4_Embeddings.py", "Embeddings — UMAP of a run, coloured by label, cluster or factor", icon=":material/scatter_plot:")
page_link("pages/5_Label_Efficiency.py", "Label efficiency — accuracy against the number of labels per class", icon=":material/trending_up:")
page_link("pages/6_Compare.py", "Compare — methods side by side on one budget", icon=":material/balance:")
st.caption("Everything here is also scriptable: `python -m sslviz train --method simclr --dataset shapes --epochs 5`.")
