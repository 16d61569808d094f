"""Augmentations: edit the pipeline op by op and watch pairs of views regenerate; a factor probe
shows what a trained run's augmentations made it forget."""

import streamlit as st

from sslviz.data import dataset_names
from sslviz.ui.common import page, reset_button, share_box, url_selectbox
from sslviz.ui import teaching_views as tv
from sslviz.ui.import_views import imports_not_listed

page("Augmentations", "🎨")
st.title("Augmentations: what the network learns to ignore")
st.markdown(
    "A contrastive network is shown two **views** of the same image and must recognise them as one. "
    "Whatever differs between the views — position, colour, orientation — it learns to **ignore**. "
    "So the augmentations below *choose* the invariances. These are the very functions the trainer uses."
)

names = dataset_names()
with st.sidebar:
    dataset = url_selectbox(st.sidebar, "dataset", names, key="dataset")
    n = st.slider("images", 1, 8, 8, key="aug.n")
    views = st.select_slider("views per image", [2, 4, 6], value=4, key="aug.views")
    one_per_class = st.toggle("one image per class", key="aug.per_class")
    st.session_state.setdefault("aug.image_seed", 0)
    st.session_state.setdefault("aug.view_seed", 0)
    if st.button("other images", key="aug.new_images", icon=":material/shuffle:", width="stretch"):
        st.session_state["aug.image_seed"] += 1
    if st.button("new views", key="aug.new_views", icon=":material/casino:", width="stretch",
                 help="draw new random views of the same images"):
        st.session_state["aug.view_seed"] += 1
    reset_button({"dataset": "shapes", "preset": "dataset default"}, prefixes=("aug.",))
    share_box()

data = tv.load(dataset)
if data is not None:
    tv.augmentation_studio(data, dataset, n, views, one_per_class)

st.divider()
st.header("What did training forget? The factor probe")
st.markdown(
    "On `shapes` every image was drawn from known factors. A linear read-out tells how much of each factor "
    "a trained embedding still holds, beside the untrained network and the raw pixels. Colour jitter should "
    "make **colour** harder to read while **shape** gets easier; compare a run trained without colour jitter, "
    "and look at what crops and rotations did to **position** and **rotation**."
)
tv.factor_probe_panel()
imports_not_listed("the factor probe compares a run with its untrained network, which an import does not bring")
