"""The Embeddings page's import panel: an embedding file made elsewhere becomes an entry of the store
(sslviz/embeddings/imported.py) and is selected at once.

Why a panel here and not a page: an import is for looking at, and the Embeddings page is where one
looks; Compare and Label Efficiency list the entry as soon as it exists. The upload obeys the app's
upload limit (settings.max_upload_mb, checked on the file's size before a byte is read), image paths in
an uploaded file are read only inside the allowed data folders (core/access.py), and a refused file
leaves one line and nothing in the store.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from sslviz.core import access
from sslviz.core.errors import SslvizError
from sslviz.core.settings import load_settings
from sslviz.embeddings import imported
from sslviz.embeddings.import_readers import EXTENSIONS, ImportFileError

from .common import session_owner, store

NO_DATASET = "(none: the file's own rows)"
FORMATS_HELP = (".npy (with a metadata table of labels), .npz (embeddings/features, labels, optional paths), "
                "CSV or Parquet with an embedding column (or numbered columns e0, e1, …) and a label column, or the "
                "Embedding Projector's tensors.tsv with metadata.tsv. Choose two files to give a metadata table.")


def _pick_files(files) -> tuple[object, object | None]:
    """(the embedding file, the metadata file or None) of one or two uploads."""
    if len(files) > 2:
        raise ImportFileError(f"{len(files)} files chosen: give the embedding file and at most one metadata table")
    if len(files) == 1:
        return files[0], None

    def rank(f) -> tuple[int, int]:  # the embedding: .npz, else .npy (the larger), else the TSV of numbers only
        name = f.name.lower()
        if name.endswith((".npz", ".npy")):
            return (3 if name.endswith(".npz") else 2, f.size)
        head = f.getvalue()[:4096].decode("utf-8", "replace").split("\n", 1)[0]
        try:
            numeric = bool(head.strip()) and all(float(v) or True for v in head.split("\t"))
        except ValueError:
            numeric = False
        return (1 if numeric else 0, f.size)

    main = max(files, key=rank)
    return main, next(f for f in files if f is not main)


def _write(folder: Path, upload) -> Path:
    path = folder / (Path(upload.name).name or "upload")
    path.write_bytes(upload.getvalue())
    return path


def import_upload(files, labels: str, dataset: str | None, name: str) -> str:
    """Check, import and return the new entry's id; ImportFileError / SslvizError with one line otherwise."""
    limit = load_settings().max_upload_mb * 2**20
    for f in files:  # before anything is read
        if f.size > limit:
            raise ImportFileError(f"{f.name}: {f.size / 2**20:,.0f} MB is over the upload limit of "
                                  f"{limit / 2**20:,.0f} MB (max_upload_mb in sslviz.toml); import it with "
                                  "`python -m sslviz import embeddings PATH`")
    main, meta = _pick_files(files)
    if dataset:
        access.check_dataset(dataset, store().root)
    roots = access.allowed_roots(store().root)
    with tempfile.TemporaryDirectory(prefix="sslviz-import-") as tmp:
        path = _write(Path(tmp), main)
        meta_path = None
        if meta is not None:
            (Path(tmp) / "meta").mkdir()
            meta_path = _write(Path(tmp) / "meta", meta)
        return imported.import_file(store(), path, name=name or None, file_name=main.name,
                                    labels=labels.strip() or None, metadata=meta_path,
                                    metadata_name=meta.name if meta is not None else None, dataset=dataset,
                                    max_bytes=limit, owner=session_owner(),
                                    allow_path=lambda p: access.is_allowed(p, roots))


def import_panel() -> None:
    """Sidebar: upload an embedding file; on success the page opens on the new entry."""
    from sslviz.data import dataset_names

    report = st.session_state.get("_import_report")
    with st.sidebar.expander("Import embeddings", expanded=bool(report)):
        st.caption(FORMATS_HELP + f" At most {load_settings().max_upload_mb} MB; larger files: "
                   "`python -m sslviz import embeddings PATH`.")
        files = st.file_uploader("embedding file (and metadata)", type=[e.lstrip(".") for e in EXTENSIONS],
                                 accept_multiple_files=True, max_upload_size=load_settings().max_upload_mb,
                                 key="import-files")
        labels = st.text_input("label column", key="import-labels", placeholder="automatic: label, class, y, …")
        dataset = st.selectbox("rows are the test images of", [NO_DATASET] + dataset_names(), key="import-dataset",
                               help="the images (thumbnails, raw pixels) and class names come from that dataset's "
                                    "test split: row i is test image i, or the row's 'index' column")
        name = st.text_input("name", key="import-name", placeholder="imported: <file name>")
        st.caption(f"Train/test for the few-label curves and the papers' protocol: a 'split' column (train/test), "
                   f"else {imported.TEST_FRACTION:.0%} of each class held out by a seeded draw.")
        if st.button("Import", key="import-go", disabled=not files, type="primary"):
            try:
                with st.spinner("reading, checking and scoring the embedding …"):
                    run_id = import_upload(files, labels, None if dataset == NO_DATASET else dataset, name)
            except SslvizError as exc:
                st.session_state["_import_report"] = ("error", str(exc))
            else:
                st.session_state["_import_report"] = ("ok", run_id)
                st.session_state["emb_run"] = run_id  # selected at once
                st.session_state.pop("emb_source", None)
                st.query_params["run"] = run_id
                st.session_state["_url_run"] = run_id
                st.rerun()
        report = st.session_state.get("_import_report")
        if report and report[0] == "error":
            st.error(report[1])
        elif report:
            try:
                st.success(f"{report[1]}: {store().get(report[1])['message']}")
            except SslvizError:
                st.session_state.pop("_import_report", None)
    model_panel()


ARCH_LABELS = {"auto": "read it off the keys", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
               "torchscript": "TorchScript"}


def model_panel() -> None:
    """Sidebar: upload a backbone checkpoint and choose a dataset; the worker embeds it (a progress bar here),
    then the entry is selectable like an imported embedding (sslviz/embeddings/model_import.py)."""
    from sslviz.data import dataset_names
    from sslviz.embeddings import model_import

    opened = st.session_state.pop("_open_entry", None)  # set by the progress fragment: select it before the list
    if opened:
        st.session_state["emb_run"] = opened
        st.session_state.pop("emb_source", None)
        st.query_params["run"] = opened
        st.session_state["_url_run"] = opened
        st.session_state.pop("_model_job", None)
    job_id = st.session_state.get("_model_job")
    with st.sidebar.expander("Import a model", expanded=bool(job_id or st.session_state.get("_model_error"))):
        st.caption("A ResNet-18/50 state dict (torchvision's, lightly's or solo-learn's key names) or a TorchScript "
                   "file; it embeds the dataset's train and test images in the background. Loaded with "
                   f"weights_only (no pickled code). At most {load_settings().max_upload_mb} MB; larger: "
                   "`python -m sslviz import model PATH --dataset NAME`.")
        upload = st.file_uploader("checkpoint", type=["pt", "pth", "ckpt", "ts", "bin"], key="model-file",
                                  max_upload_size=load_settings().max_upload_mb)
        dataset = st.selectbox("dataset to embed", dataset_names(), key="model-dataset",
                               help="an uploaded zip of class folders is a folder: dataset (Train page); type "
                                    "folder:PATH below for one inside the allowed data folders")
        folder = st.text_input("or a folder", key="model-folder", placeholder="folder:PATH")
        arch = st.selectbox("architecture", list(ARCH_LABELS), format_func=ARCH_LABELS.get, key="model-arch")
        size = st.number_input("image size (0: what the model wants: 32 for a CIFAR stem, else 96 or 224)", 0, 512,
                               0, 8, key="model-size")
        norm = st.radio("normalisation", model_import.NORMALISE, horizontal=True, key="model-norm")
        if st.button("Embed", key="model-go", disabled=upload is None, type="primary"):
            st.session_state.pop("_model_error", None)
            try:
                st.session_state["_model_job"] = submit_model(upload, folder.strip() or dataset, arch,
                                                              int(size) or None, norm)
            except SslvizError as exc:
                st.session_state["_model_error"] = str(exc)
        if st.session_state.get("_model_error"):
            st.error(st.session_state["_model_error"])
        if st.session_state.get("_model_job"):
            _model_progress()


def submit_model(upload, dataset: str, arch: str, size: int | None, normalise: str) -> str:
    """Check the upload (size first, then its keys), queue the embedding job; its id."""
    from sslviz.embeddings import model_import
    from sslviz.embeddings.model_loading import ModelFileError

    limit = load_settings().max_upload_mb * 2**20
    if upload.size > limit:
        raise ModelFileError(f"{upload.name}: {upload.size / 2**20:,.0f} MB is over the upload limit of "
                             f"{limit / 2**20:,.0f} MB; import it with `python -m sslviz import model PATH`")
    access.check_dataset(dataset, store().root)
    with tempfile.TemporaryDirectory(prefix="sslviz-model-") as tmp:
        path = _write(Path(tmp), upload)
        return model_import.submit(store(), path, dataset, arch=arch, image_size=size, normalise=normalise,
                                   file_name=upload.name, owner=session_owner())


@st.fragment(run_every=1.5)
def _model_progress() -> None:
    """The job's progress bar while it runs (a Stop button); when done, a button that opens the entry."""
    from sslviz.training import worker

    job_id = st.session_state.get("_model_job")
    try:
        run = store().get(job_id)
    except SslvizError:
        st.session_state.pop("_model_job", None)
        return
    if run["status"] in ("queued", "running"):
        st.progress(float(run["progress"] or 0), text=run["message"] or run["status"])
        if st.button("Stop", key="model-stop"):
            worker.cancel(store(), job_id)
    elif run["status"] == "completed" and run["kind"] == imported.KIND:
        st.success(f"{run['name']}: embedded {run['summary'].get('import', {}).get('points', 0):,} images")
        if st.button("Open it", key="model-open"):
            st.session_state["_open_entry"] = job_id
            st.rerun(scope="app")
    else:
        st.warning(f"{run['name']}: {run['status']}: {run['message']}")
        if run["status"] in ("cancelled", "interrupted", "failed") and st.button("Resume", key="model-resume"):
            worker.resume(store(), job_id)


def delete_import_panel() -> None:
    """'Delete run' (teacher password when set) for the selected entry when it is an import: the Train
    page, where runs are deleted, does not list imports."""
    from .upload_views import delete_run_panel

    run_id = st.session_state.get("emb_run")
    try:
        if not run_id or store().get(run_id)["kind"] != imported.KIND:
            return
    except SslvizError:
        return
    with st.sidebar:
        delete_run_panel(run_id)


def imports_not_listed(why: str, where=st) -> None:
    """One line on a page that lists trained runs only, when the store holds imported embeddings."""
    n = len(store().list(imported.KIND))
    if n:
        where.caption(f"{n} imported embedding{'s are' if n != 1 else ' is'} not listed here: {why}. Imports are on "
                      "Embeddings, Compare and Label Efficiency.")
