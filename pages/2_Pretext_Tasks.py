"""Pretext tasks: what each task asks of the network, generated live from real images, with a
trained run's answers next to the truth; and an explainer card for every method."""

import streamlit as st

from sslviz.data import dataset_names
from sslviz.teaching.answers import task_titles
from sslviz.ui import pretext_views as pv
from sslviz.ui.common import page, reset_button, share_box, url_selectbox
from sslviz.ui.import_views import imports_not_listed
from sslviz.ui.teaching_views import card_browser

page("Pretext Tasks", "🧩")
st.title("Pretext tasks: questions the images answer themselves")

task, run = pv.sidebar()
names = dataset_names()
with st.sidebar:
    if run is None:
        dataset = url_selectbox(st.sidebar, "dataset", names, key="dataset")
    else:
        dataset = run["dataset"]
        st.caption(f"images from the run's dataset: **{dataset}**")
    reveal = st.toggle("show the answers", value=True, key="pre.reveal",
                       help="Switch off to let the class guess first.")
    st.session_state.setdefault("pre.seed", 0)
    if st.button("other images", key="pre.new_images", icon=":material/shuffle:"):
        st.session_state["pre.seed"] += 1
    imports_not_listed("an imported embedding has no network to answer a pretext task", st.sidebar)
    reset_button({"method": "rotation", "dataset": "shapes"}, prefixes=("pre.",))
    share_box()

st.header(task_titles()[task])
pv.show(task, run, dataset, st.session_state["pre.seed"], reveal)

st.divider()
st.header("The method, on one card")
pv.card(task)
with st.expander("Every method's card"):
    card_browser(key="pre.anycard")
