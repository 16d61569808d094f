"""sslviz home: what self-supervised learning is, a one-click demo, and the way to every page."""

import streamlit as st

from sslviz.ui.common import page
from sslviz.ui.run_views import select_run, start_demo

page("Home")
st.title("sslviz — self-supervised learning, visualised")
st.markdown(
    """
**Self-supervised learning** trains a network without labels. The images themselves set the task:
recognise two augmented views of the same picture among many (*contrastive* methods such as SimCLR),
predict how an image was rotated (*pretext* tasks such as RotNet), or match a slowly moving copy of
yourself (*non-contrastive* methods such as BYOL). What the network learns on the way, its
**embedding**, turns out to be useful: a few labels are then enough to name the clusters it found.

Watch it happen: the demo trains SimCLR on **shapes** (six shape classes in random colours, sizes,
positions and rotations) for one minute on this machine's CPU. The kNN accuracy on held-out images
climbs past the raw-pixel line, which means the network learned *shape* while ignoring colour and
position — without ever seeing a label.
"""
)
if st.button("▶ Start the one-minute demo (SimCLR on shapes)", type="primary"):
    run_id = start_demo()
    select_run(run_id)
    st.switch_page("pages/3_Train.py", query_params={"run": run_id})

st.subheader("Pages")
st.page_link("pages/3_Train.py", label="Train — start runs, watch loss, kNN accuracy and the collapse gauge", icon="🏋️")
st.caption("Everything here is also scriptable: `python -m sslviz train --method simclr --dataset shapes --epochs 5`.")
