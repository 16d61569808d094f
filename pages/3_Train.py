"""Train: start, queue and stop runs; watch loss, kNN accuracy and the collapse gauge live."""

import streamlit as st

from sslviz.augment.engine import PRESET_NOTES, PRESETS
from sslviz.core.errors import SslvizError
from sslviz.data import dataset_names
from sslviz.methods import list_methods
from sslviz.ui.import_views import imports_not_listed
from sslviz.methods.models import BACKBONES
from sslviz.training import worker
from sslviz.training.choices import config_from_choices
from sslviz.training.recipes import training_recipe_note
from sslviz.ui.common import page, session_owner, store
from sslviz.ui.home_views import install_progress_bar
from sslviz.ui.run_views import live_run_table, run_panel, select_run, selected_run_id
from sslviz.ui.upload_views import check_dataset_choice, dataset_options, delete_run_panel, upload_panel

page("Train")
st.title("Train a self-supervised model")

methods = {m["name"]: m for m in list_methods()}
with st.sidebar.form("new-run"):
    st.subheader("New run")
    names = dataset_names()
    options, dataset_label = dataset_options(names)  # the registry, then uploaded zips, then folder:…
    dataset = st.selectbox("dataset", options, index=names.index("shapes") if "shapes" in names else 0,
                           format_func=dataset_label)
    folder = st.text_input("folder path (for folder:…)", "", help="one subfolder per class, or train/ and test/")
    method = st.selectbox("method", list(methods), index=list(methods).index("simclr") if "simclr" in methods else 0)
    backbone = st.selectbox("backbone", ["recipe (follows the data)", *BACKBONES],
                            help="; ".join(f"{k}: {v}" for k, v in BACKBONES.items()))
    budget_kind = st.radio("budget", ["epochs", "seconds"], horizontal=True)
    epochs = st.number_input("epochs", 1, 1000, 10)
    seconds = st.number_input("time budget (s)", 5, 36000, 60)
    batch_size = st.number_input("batch size (0 = the recipe's)", 0, 4096, 0)
    lr = st.number_input("learning rate (0 = method default)", 0.0, 1.0, 0.0, format="%.4f")
    seed = st.number_input("seed", 0, 2**31 - 1, 0)
    handed = st.session_state.get("pipeline_from_augmentations")
    choices = ["recipe (follows the data)"] + (["from the Augmentations page"] if handed else []) + list(PRESETS)
    preset = st.selectbox("augmentations", choices, index=1 if handed else 0,
                          help="a pipeline handed over from the Augmentations page is chosen for you")
    submitted = st.form_submit_button("Start run", type="primary")

chosen = methods[method]
st.sidebar.caption(f"**{method}** ({chosen['family']}): {chosen['description']}")
ds_name = f"folder:{folder.strip()}" if dataset == "folder:…" else dataset
if backbone.startswith("recipe") or preset.startswith("recipe"):
    st.sidebar.caption(f"Recipe for {method} on {ds_name}: {training_recipe_note(method, ds_name)}")
if preset in PRESET_NOTES:
    st.sidebar.caption(f"{preset}: {PRESET_NOTES[preset]}")
with st.sidebar:
    upload_panel()

if submitted:
    pipeline = None
    if preset == "from the Augmentations page":
        pipeline = handed
    elif not preset.startswith("recipe"):
        pipeline = PRESETS[preset].to_dict()
    try:
        if dataset == "folder:…" and not folder.strip():
            raise SslvizError("folder path: enter the folder that holds your class subfolders")
        check_dataset_choice(ds_name)  # folder: only inside the allowed data roots
        cfg = config_from_choices(  # a choice left to the recipe is None
            method=method, dataset=ds_name,
            backbone=None if backbone.startswith("recipe") else backbone,
            epochs=int(epochs) if budget_kind == "epochs" else None,
            time_budget=float(seconds) if budget_kind == "seconds" else None,
            batch_size=int(batch_size) or None, lr=float(lr) or None, seed=int(seed), pipeline=pipeline,
            owner=session_owner(),
        )
        run_id = worker.submit(cfg, store())
        select_run(run_id)
        st.toast(f"Queued {run_id}")
    except SslvizError as exc:
        st.sidebar.error(str(exc))

left, right = st.columns([2, 3])
with left:
    st.subheader("Runs")
    live_run_table()
    imports_not_listed("they were not trained here (no curves, checkpoint or resume); delete one on Embeddings")
    install_progress_bar(small=True, rerun_on_new=not store().list())  # first start: the pretrained runs arrive
with right:
    run_id = selected_run_id()
    if not run_id:
        latest = store().list()
        run_id = latest[0]["id"] if latest else None
    if run_id:
        run_panel(run_id)
        delete_run_panel(run_id)
