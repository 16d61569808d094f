"""Which embedding the Embeddings page shows: run, source and epoch, restored from and written to the URL.

URL query parameters (shared by all pages): `run`, `epoch`, `source` (run | pixels | random-init).
A link such as `pages/4_Embeddings.py?run=ID&epoch=3` opens that view; changing a widget writes
the parameter back, so the address bar is always a shareable link. A URL value is adopted when
it differs from what this page last wrote (a first visit, or a link followed in the same
session); an invalid one (unknown run, an epoch without a snapshot) gives a one-line warning
and the nearest valid choice.

Also here: the loaded Embedding and its images are kept per process (st.cache_resource), keyed
by the snapshot file's modification time, so every session shares one copy in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.embeddings import embedding as E
from sslviz.embeddings import imported

from .common import refresh_every, store
from .home_views import install_progress_bar
from .run_choice import default_embedding_run, run_labels, status_note

SOURCE_LABELS = {"run": "the run's network", "pixels": "raw pixels (baseline)", "random-init": "untrained network (baseline)"}


@dataclass
class Choice:
    run: dict
    run_dir: Path
    source: str
    epoch: int | None  # None for pixels
    epochs: list[int]


def snapshot_stamp(run_dir: Path, epoch: int | None = None) -> float:
    """The modification time of a run's snapshot at `epoch` (None: its newest), 0 when there is none."""
    try:
        files = [E.snapshot_path(run_dir, epoch)] if epoch is not None else sorted(run_dir.glob("embeddings_*.npz"))[-1:]
        return max(p.stat().st_mtime for p in files) if files else 0.0
    except (OSError, ValueError):
        return 0.0


class Computing(Exception):
    """A baseline embedding is being computed in the background: show `message`, poll `job`."""

    def __init__(self, job, message: str):
        super().__init__(message)
        self.job, self.message = job, message


BASELINE_WAIT = 1.0  # seconds a page waits for a baseline before it says "computing" and polls


@st.cache_resource(max_entries=12, show_spinner=False)
def _cached_embedding(root: str, run_id: str, source: str, epoch: int | None, stamp: float):
    """A run's snapshot is read here; a baseline (raw pixels: the dataset's images; untrained
    network: a forward pass) is computed the first time in the compute child, never in a page
    thread: under a class's load that took up to 38 s and held the server's GIL meanwhile."""
    if source == "run":
        return E.load_embedding(store(), run_id, source, epoch)
    from sslviz.embeddings.projection_jobs import jobs, wait

    job_key = f"embedding|{root}|{run_id}|{source}|{stamp}"
    job = jobs().submit_to_child(job_key, E.load_embedding_at, root, run_id, source, epoch, retry=True, priority=0)
    if not wait(job, BASELINE_WAIT) and refresh_every() is not None:
        raise Computing(job, f"Computing the {SOURCE_LABELS[source]} embedding of {run_id} in the background "
                             "(once per server; a few seconds)…")
    emb = job.result()  # a failure raises its one-line SslvizError here
    jobs().forget(job_key)  # held by this cache from now on, not also by the job queue (24 MB for pixels)
    return emb


def embedding_for(choice: Choice, source: str | None = None, epoch: int | None = None, run_id: str | None = None):
    """The Embedding of a choice (or of another run/source/epoch); raises SslvizError subclasses."""
    run_id = run_id or choice.run["id"]
    source = source or choice.source
    epoch = choice.epoch if epoch is None and run_id == choice.run["id"] and source == choice.source else epoch
    run_dir = store().run_dir(run_id)
    return _cached_embedding(str(store().root), run_id, source, epoch if source == "run" else None,
                             snapshot_stamp(run_dir, epoch if source == "run" else None))


@st.cache_resource(max_entries=6, show_spinner=False)
def _cached_images(root: str, run_id: str, dataset: str, stamp: float, index_key: str, _emb):
    return np.asarray(E.images_for(_emb))


def images(emb) -> np.ndarray:
    """uint8 N×C×H×W images behind the points (cached per process)."""
    from sslviz.embeddings.projection import fingerprint

    return _cached_images(str(store().root), emb.run_id, str(emb.config.get("dataset")), 0.0,
                          fingerprint(emb.index), emb)


@st.cache_resource(max_entries=6, show_spinner=False)
def _cached_factors(run_id: str, index_key: str, _emb) -> dict:
    return E.factors_for(_emb)


def factors(emb) -> dict:
    from sslviz.embeddings.projection import fingerprint

    return _cached_factors(emb.run_id, fingerprint(emb.index), emb)


# ---- URL-bound widgets ------------------------------------------------------------------------------


def _adopt_url(name: str, key: str, options: list, parse) -> str | None:
    """Put the URL's value of `name` into the widget state `key` when the URL changed; returns a warning."""
    raw = st.query_params.get(name)
    if raw is None or raw == st.session_state.get(f"_url_{name}"):
        if key in st.session_state and st.session_state[key] not in options:
            del st.session_state[key]
        return None
    st.session_state[f"_url_{name}"] = raw
    try:
        value = parse(raw)
    except (TypeError, ValueError):
        value = None
    if value in options:
        st.session_state[key] = value
        return None
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    return f"{name}={raw} from the link is not available here"


def _write_url(name: str, value) -> None:
    text = None if value is None else str(value)
    if text is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != text:
        st.query_params[name] = text
    st.session_state[f"_url_{name}"] = text


def choose() -> Choice | None:
    """Sidebar: run, source and epoch (URL-bound). None when there is nothing to show yet."""
    s = store()
    runs = E.runs_with_embeddings(s, imports=True)  # imported embeddings too (sslviz/embeddings/imported.py)
    ids = [r["id"] for r in runs]
    url_run = st.query_params.get("run")
    if url_run and url_run not in ids:
        try:
            extra = s.get(url_run)  # a run without snapshots (queued, failed...): select it to say why
            runs.insert(0, {**extra, "epochs": []})
            ids.insert(0, url_run)
        except SslvizError as exc:
            st.warning(str(exc))
    if not ids:
        st.info("No run has saved embeddings yet. Train one on the Train page (even one epoch saves two snapshots: "
                "the untrained network and the trained one).")
        try:
            st.page_link("pages/3_Train.py", label="Go to Train", icon=":material/model_training:")
        except st.errors.StreamlitAPIException:  # the page runs on its own (tests): no page registry
            st.markdown("Open the **Train** page from the sidebar.")
        install_progress_bar(small=True, rerun_on_new=True)
        return None
    shared = st.session_state.get("run")  # the run selected on another page
    if "emb_run" not in st.session_state and not url_run and shared in ids:
        st.session_state["emb_run"] = shared
    warnings = [_adopt_url("run", "emb_run", ids, str)]
    # Nothing chosen: the best self-supervised run on shapes, not the newest. The page keeps following
    # that choice (while the pretrained runs install, a better one may arrive) until the user picks one.
    if "emb_run" not in st.session_state or st.session_state["emb_run"] == st.session_state.get("emb_run_auto"):
        st.session_state["emb_run"] = st.session_state["emb_run_auto"] = default_embedding_run(runs)
    by_id = {r["id"]: r for r in runs}
    labels = run_labels(runs, status_note)
    run_id = st.sidebar.selectbox("run", ids, key="emb_run", format_func=labels.get)
    _write_url("run", run_id)
    st.session_state["run"] = run_id  # the selected run, shared with the other pages
    run = by_id[run_id]
    run_dir = s.run_dir(run_id)
    epochs = E.snapshot_epochs(run_dir)

    sources, names = list(SOURCE_LABELS), dict(SOURCE_LABELS)
    if imported.is_import(run):  # no network: its own embedding, and raw pixels when it has images
        sources, names["run"] = imported.sources(run, run_dir), "the imported embedding"
    warnings.append(_adopt_url("source", "emb_source", sources, str))
    source = st.sidebar.radio("embedding of", sources, key="emb_source", format_func=names.get,
                              help="; ".join(f"{k}: {v}" for k, v in E.SOURCES.items()))
    if imported.is_import(run):
        st.sidebar.caption(imported.describe(run))
    _write_url("source", source if source != "run" else None)
    epoch = None
    if source == "run" and epochs:
        warnings.append(_adopt_url("epoch", "emb_epoch", epochs, int))
        goto = st.session_state.pop("_emb_goto", None)
        if goto in epochs:
            st.session_state["emb_epoch"] = goto
        if st.session_state.get("emb_epoch") not in epochs:
            st.session_state["emb_epoch"] = epochs[-1]
        if len(epochs) > 1:
            epoch = st.sidebar.select_slider("epoch (snapshot)", epochs, key="emb_epoch",
                                             help="the trainer saves the test-set embedding every snapshot_every epochs")
        else:
            epoch = epochs[0]
            st.sidebar.caption(f"one snapshot: epoch {epoch}")
        _write_url("epoch", epoch)
    elif source == "random-init":
        epoch = 0
        _write_url("epoch", None)
    else:
        _write_url("epoch", None)
    for w in filter(None, warnings):
        st.warning(w)
    if run["status"] in ("queued", "running"):
        with st.sidebar:
            watch_snapshots(run_id, run_dir, epochs)
    return Choice(run, run_dir, source, epoch, epochs)


def watch_snapshots(run_id: str, run_dir: Path, epochs: list[int]) -> None:
    """While a run trains: notice new snapshots (a directory listing every few seconds) without
    redrawing the plot under the user's cursor; the first snapshot of a run that had none is shown at once."""
    live = refresh_every()
    if live is None:
        return

    @st.fragment(run_every=live * 3)
    def poll():
        now = E.snapshot_epochs(run_dir)
        if now and not epochs:
            st.rerun(scope="app")
        if now and now[-1] != (epochs[-1] if epochs else None):
            if st.button(f"Show the newest snapshot (epoch {now[-1]})", key="emb_newest", type="primary"):
                st.session_state["_emb_goto"] = now[-1]
                st.rerun(scope="app")
        else:
            st.caption(f"{run_id} is training; new snapshots appear here.")

    poll()
