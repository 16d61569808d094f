"""Streamlit widgets of the teaching studio: the augmentation editor and grid, the factor probe,
the explainer cards, and a small background-job helper. The pretext-task widgets are in
pretext_views.py.

Widget keys: the ones a URL restores are bound to query parameters (``dataset``, ``preset``,
``run``, ``epoch``); every other key of these pages starts with "aug." or "pre.", so that the
page's reset button can forget them all. Pipeline controls hold their values in session state
only (no ``value=`` argument), so a preset can rewrite them without Streamlit's "default value
and Session State" warning: the preset's callback writes the keys, the widgets show them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import streamlit as st

from sslviz.augment.engine import PRESET_NOTES, PRESETS, Pipeline
from sslviz.core.errors import SslvizError
from sslviz.evaluation.fewshot_stats import stratified_draw
from sslviz.training.recipes import default_pipeline, default_pipeline_note

from .common import fast_png, presenting, shared, store, style_figure, url_selectbox, wait_for_job

# ---- background jobs (sub-second to a few seconds of numeric work) ------------------------------


@st.cache_resource
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sslviz-teaching")


@st.cache_resource
def _jobs() -> dict:
    return {}


def background(key: tuple, fn, *args, child: bool = False) -> Future:
    """Run fn(*args) once per key in a background thread (shared by all sessions); failed jobs are
    retried. child=True: fn (module-level, picklable arguments) runs in the compute child process,
    for work that would hold the server's GIL (scikit-learn fits; see sslviz.core.compute_pool)."""
    from sslviz.core import compute_pool

    jobs = _jobs()
    fut = jobs.get(key)
    if fut is None or (fut.done() and fut.exception() is not None and not isinstance(fut.exception(), SslvizError)):
        fut = jobs[key] = (_executor().submit(compute_pool.call, fn, *args) if child else _executor().submit(fn, *args))
    return fut


# ---- datasets and images ------------------------------------------------------------------------


def load(name: str):
    """The dataset (cached in memory by sslviz.data), or None after showing a one-line error."""
    from sslviz.data import load_dataset

    try:
        return load_dataset(name, download=False)
    except SslvizError as exc:
        st.error(str(exc))
        return None


def pick_images(split, n: int, seed: int, one_per_class: bool) -> np.ndarray:
    """Indices of n images of a split: random from the seed, or one per class (random within it)."""
    if one_per_class:  # the one N-per-class draw, N = 1, shown in class order
        labels = split.labels.numpy()
        picked = stratified_draw(labels, 1, seed)
        return picked[np.argsort(labels[picked], kind="stable")][:n]
    return np.random.default_rng(seed).choice(len(split), size=min(n, len(split)), replace=False)


# ---- pipeline editor ----------------------------------------------------------------------------

# (field, label, min, max, step, help); pairs are range sliders
CONTROLS = {
    "crop": [("crop_p", "probability", 0.0, 1.0, 0.05, "how often a random part of the image is cut out and enlarged"),
             ("crop_scale", "area kept (min, max)", 0.02, 1.0, 0.01, "the crop's area as a fraction of the image")],
    "flip": [("flip_p", "probability", 0.0, 1.0, 0.05, "how often the view is mirrored left-right")],
    "rotate": [("rotate_p", "probability", 0.0, 1.0, 0.05, "how often the view is turned"),
               ("rotate_degrees", "up to ± degrees", 0.0, 180.0, 1.0, "the largest turn")],
    "colour jitter": [("jitter_p", "probability", 0.0, 1.0, 0.05, "how often colours are changed"),
                      ("brightness", "brightness", 0.0, 1.5, 0.05, "factor drawn in [1 - b, 1 + b]"),
                      ("contrast", "contrast", 0.0, 1.5, 0.05, "factor drawn in [1 - c, 1 + c]"),
                      ("saturation", "saturation", 0.0, 1.5, 0.05, "factor drawn in [1 - s, 1 + s]"),
                      ("hue", "hue", 0.0, 0.5, 0.01, "shift drawn in [-h, h] turns of the colour circle")],
    "grayscale": [("gray_p", "probability", 0.0, 1.0, 0.05, "how often the view loses its colours")],
    "blur": [("blur_p", "probability", 0.0, 1.0, 0.05, "how often the view is blurred"),
             ("blur_sigma", "σ (min, max)", 0.1, 5.0, 0.1, "the Gaussian's width in pixels")],
    "solarize": [("solarize_p", "probability", 0.0, 1.0, 0.05, "how often bright pixels are inverted"),
                 ("solarize_threshold", "threshold", 0.0, 1.0, 0.05, "pixels above it become 1 - pixel")],
}
COLOUR_ONLY = {"saturation", "hue", "gray_p"}  # no effect on 1-channel images
EDITED = [f for group in CONTROLS.values() for f, *_ in group]

AUGMENTATION_PRESETS = ["dataset default", "simclr", "byol", "mocov2", "too-weak", "too-strong"] + [
    p for p in PRESETS if p not in ("simclr", "byol-view1", "byol-view2", "mocov2", "too-weak", "too-strong")]


def preset_pipelines(preset: str, dataset: str) -> tuple[Pipeline, Pipeline]:
    """(view 1, view 2) of a preset: BYOL's two views differ, every other preset uses one pipeline twice."""
    if preset == "byol":
        return PRESETS["byol-view1"], PRESETS["byol-view2"]
    p = default_pipeline(dataset) if preset == "dataset default" else PRESETS[preset]
    return p, p


def augmentation_preset_note(preset: str, dataset: str) -> str:
    """One line under the Augmentations page's preset picker: what this augmentation preset does."""
    if preset == "dataset default":
        return f"The default for {dataset}: {default_pipeline_note(dataset)}"
    if preset == "byol":
        return f"{PRESET_NOTES['byol-view1']} {PRESET_NOTES['byol-view2']}"
    return PRESET_NOTES.get(preset, "")


def _write_controls(view: int, p: Pipeline) -> None:
    for field in EDITED:
        value = getattr(p, field)
        st.session_state[f"aug.v{view}.{field}"] = tuple(value) if isinstance(value, tuple) else float(value)
    st.session_state[f"aug.v{view}.base"] = p.to_dict()


def _control_keys() -> list[str]:
    return [f"aug.v{view}.{field}" for view in (1, 2) for field in EDITED] + ["aug.asym"]


def ensure_controls(preset: str, dataset: str) -> None:
    """Load the preset's values into the controls when the preset or the dataset changed (a click, a
    shared URL, the first visit, a reset); edits made since are kept otherwise.

    Streamlit forgets a widget's value when the page that shows it is left, so every run also keeps
    a copy of the controls under keys no widget owns ("aug.keep.*") and restores them from it when
    the user comes back: an edited pipeline survives a visit to another page.
    """
    state = st.session_state
    if state.get("aug.loaded") == (preset, dataset) and "aug.v1.base" in state:
        missing = [k for k in _control_keys() if k not in state]
        if missing and all(f"aug.keep.{k}" in state for k in missing):
            for k in missing:
                state[k] = state[f"aug.keep.{k}"]
        if all(k in state for k in _control_keys()):
            for k in _control_keys():
                state[f"aug.keep.{k}"] = state[k]
            return
    p1, p2 = preset_pipelines(preset, dataset)
    _write_controls(1, p1)
    _write_controls(2, p2)
    st.session_state["aug.asym"] = p1 != p2
    st.session_state["aug.loaded"] = (preset, dataset)
    for k in _control_keys():
        st.session_state[f"aug.keep.{k}"] = st.session_state[k]


def _encode_ops(p: Pipeline, base: Pipeline) -> str:
    """The edited controls that differ from the preset, as 'field=value,...' (pairs as lo:hi)."""
    parts = []
    for field in EDITED:
        v, b = getattr(p, field), getattr(base, field)
        if v != b:
            parts.append(f"{field}={':'.join(f'{x:g}' for x in v) if isinstance(v, tuple) else f'{v:g}'}")
    return ",".join(parts)


def _decode_ops(text: str) -> dict:
    """The inverse of _encode_ops; unknown fields and bad numbers are ignored (a mangled link still opens)."""
    limits = {f: (lo, hi) for group in CONTROLS.values() for f, _, lo, hi, *_ in group}
    out = {}
    for item in (text or "").split(","):
        field, _, value = item.partition("=")
        try:
            nums = tuple(float(x) for x in value.split(":"))
        except ValueError:
            continue
        if field not in EDITED or len(nums) not in (1, 2) or not all(np.isfinite(nums)):
            continue
        lo, hi = limits[field]
        nums = tuple(sorted(min(hi, max(lo, x)) for x in nums))  # inside the slider's range
        if (len(nums) == 2) == isinstance(getattr(Pipeline(), field), tuple):
            out[field] = nums if len(nums) == 2 else nums[0]
    return out


def apply_url_edits() -> None:
    """Edits carried by a shared link (?ops=... for view 1, ?ops2=... for view 2) into the controls;
    only when the address brought new ones, so the user's own moves are never undone."""
    for view, key in ((1, "ops"), (2, "ops2")):
        raw = st.query_params.get(key)
        if raw is None or raw == st.session_state.get(f"_url.{key}"):
            continue
        for field, value in _decode_ops(raw).items():
            st.session_state[f"aug.v{view}.{field}"] = value
        if view == 2:
            st.session_state["aug.asym"] = True
        st.session_state[f"_url.{key}"] = raw


def share_edits(p1: Pipeline, p2: Pipeline, preset: str, dataset: str, asymmetric: bool) -> None:
    """Keep the edits in the URL so that a copied link shows these very views."""
    r1, r2 = preset_pipelines(preset, dataset)
    for key, value in (("ops", _encode_ops(p1, r1)), ("ops2", _encode_ops(p2, r2) if asymmetric else "")):
        if value:
            st.query_params[key] = value
        else:
            st.query_params.pop(key, None)
        st.session_state[f"_url.{key}"] = st.query_params.get(key)


def pipeline_editor(view: int, channels: int) -> Pipeline | None:
    """The op-by-op controls of one view; returns its Pipeline (None after a one-line error)."""
    for op, group in CONTROLS.items():
        st.markdown(f"**{op}**")
        cols = st.columns(min(len(group), 2))
        for i, (field, label, lo, hi, step, help_) in enumerate(group):
            grey = channels == 1 and field in COLOUR_ONLY
            cols[i % len(cols)].slider(label, lo, hi, step=step, key=f"aug.v{view}.{field}", disabled=grey,
                                       help=help_ + (" (no effect on grayscale images)" if grey else ""))
    base = st.session_state.get(f"aug.v{view}.base") or {}
    values = {f: st.session_state[f"aug.v{view}.{f}"] for f in EDITED}
    try:
        return Pipeline.from_dict({**base, **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}})
    except SslvizError as exc:
        st.error(str(exc))
        return None


def views_grid(data, idx: np.ndarray, pipelines: tuple[Pipeline, Pipeline], views: int, seed: int) -> None:
    """The grid (one picture): each image on top, its views below in pairs; and what was drawn."""
    from sslviz.plots.teaching import augmentation_grid, describe_params, draw_views

    scale = max(2, (128 if presenting() else 96) // data.image_size)

    def build():
        images = data.train.images[idx]
        drawn, params = draw_views(images, pipelines, views, seed)
        return fast_png(augmentation_grid(images, pipelines, views, seed, scale=scale, drawn=drawn)), params

    png, params = shared(("aug-grid", data.name, data.image_size, len(data.train.images), tuple(int(i) for i in idx),
                          repr(pipelines[0]), repr(pipelines[1]), int(views), int(seed), scale), build)
    st.image(png, output_format="PNG", caption="Each column: one image (top) and its views. A pair is what one training step "
             "compares: the network must say the two views are the same image.", width="stretch")
    same = pipelines[0] == pipelines[1]
    st.caption(("Both views: " if same else "View 1: ") + pipelines[0].summary()
               + ("" if same else f" — view 2: {pipelines[1].summary()}"))
    with st.expander("What was drawn for the first image"):
        st.table([{"view": f"pair {j // 2 + 1}, view {j % 2 + 1}", "random choices": describe_params(p, 0)}
                  for j, p in enumerate(params)])


@st.fragment
def augmentation_studio(data, dataset: str, n: int, views: int, one_per_class: bool) -> None:
    """Preset picker, op-by-op editor and the grid of views. A fragment: moving a control reruns only this
    part of the page (the factor probe below is not redrawn), so the views follow the slider."""
    preset = url_selectbox(st, "start from a preset", AUGMENTATION_PRESETS, key="preset")
    ensure_controls(preset, dataset)
    apply_url_edits()
    st.caption(augmentation_preset_note(preset, dataset))
    left, right = st.columns([1, 2], gap="large")
    with left:
        asym = st.toggle("a different second view (BYOL style)", key="aug.asym")
        if asym:
            tab1, tab2 = st.tabs(["view 1", "view 2"])
            with tab1:
                p1 = pipeline_editor(1, data.channels)
            with tab2:
                p2 = pipeline_editor(2, data.channels)
        else:
            p1 = p2 = pipeline_editor(1, data.channels)
    with right:
        if p1 is not None and p2 is not None:
            idx = pick_images(data.train, n, st.session_state.get("aug.image_seed", 0), one_per_class)
            views_grid(data, idx, (p1, p2), views, st.session_state.get("aug.view_seed", 0))
            share_edits(p1, p2, preset, dataset, asym)
            train_with_button(p1, asym)


def train_with_button(p1: Pipeline, asymmetric: bool) -> None:
    """Hand the pipeline to the Train page (session state) and go there."""
    if st.button("Train with this pipeline", type="primary", key="aug.train", icon=":material/play_arrow:",
                 help="Opens the Train page with these augmentations selected as 'from the Augmentations page'."):
        st.session_state["pipeline_from_augmentations"] = p1.to_dict()
        st.switch_page("pages/3_Train.py")
    if asymmetric:
        st.caption("The Train page uses one pipeline for both views: view 1's. For BYOL's two different views, "
                   "train `byol` with the parameter asymmetric=true.")


# ---- factor probe -------------------------------------------------------------------------------


def probe_runs() -> list[dict]:
    from sslviz.embeddings.embedding import runs_with_embeddings

    return [r for r in runs_with_embeddings(store()) if r["dataset"] == "shapes"]


def factor_probe_panel() -> None:
    """Pick a shapes run and a snapshot; bars of how well each factor can be read linearly from its
    embedding, beside the untrained network and raw pixels."""
    from .run_choice import run_labels, status_note

    runs = probe_runs()
    if not runs:
        st.info("No run on `shapes` has saved an embedding yet. Train one (the home page demo takes a minute) "
                "and come back: the probe shows which factors it kept.")
        from .home_views import install_progress_bar

        install_progress_bar(small=True, rerun_on_new=True)
        return
    ids = [r["id"] for r in runs]
    by_id = {r["id"]: r for r in runs}
    cols = st.columns([3, 1])
    labels = run_labels(runs, status_note)
    run_id = url_selectbox(cols[0], "run", ids, key="run", format_func=labels.get)
    epochs = sorted(by_id[run_id]["epochs"], reverse=True)  # the latest first: the default
    epoch = url_selectbox(cols[1], "epoch", epochs, key="epoch",
                          help="the embedding snapshot (0 = before training)")
    factor_probe_of(by_id[run_id], int(epoch), key="aug.probe")


def factor_probe_of(run: dict, epoch: int | None, key: str) -> None:
    """The probe's bars for one shapes run at one snapshot (None: its newest), with what they mean."""
    from sslviz.embeddings.embedding import snapshot_epochs
    from sslviz.embeddings.factor_probe import FACTOR_NOTES, describe, probe_run_in, summary_sentence
    from sslviz.plots.teaching import probe_figure

    run_id = run["id"]
    if epoch is None:
        epochs = snapshot_epochs(store().run_dir(run_id))
        if not epochs:
            st.info(f"{run_id} has no embedding snapshot yet.")
            return
        epoch = epochs[-1]
    config = run["config"]
    pipe = Pipeline.from_dict(config["pipeline"]) if config.get("pipeline") else default_pipeline("shapes")
    st.caption(f"**{config['method']}**, trained with: {pipe.summary()}.")
    fut = background(("probe", run_id, int(epoch)), probe_run_in, str(store().root), run_id, int(epoch), child=True)
    if not wait_for_job(fut, "Fitting the linear probes (a few seconds)…"):
        return
    try:
        results = fut.result()
    except SslvizError as exc:
        st.error(str(exc))
        return
    st.plotly_chart(style_figure(probe_figure(results)), width="stretch", key=key)
    st.markdown(summary_sentence(describe(results["run"], results["random-init"])))
    st.caption("Each bar: a linear read-out fitted on 4/5 of the test images and scored on the other 1/5 "
               "(5 folds, error bar = spread over folds). Shape: accuracy (dashed line = guessing). Others: R², "
               "1 = read perfectly, 0 = no better than always guessing the average. Colour and rotation are "
               "read on their circle; rotation counts a square turned by 90° as the same, and leaves out "
               "circles and rings.")
    with st.expander("The factors"):
        st.table([{"factor": k, "what it is": v} for k, v in FACTOR_NOTES.items()])


# ---- explainer cards ----------------------------------------------------------------------------


def render_card(name: str) -> None:
    """One method's card: what from what, the loss (LaTeX), invariance, collapse, and the loss code."""
    from sslviz.teaching.cards import card, loss_source, source_file

    c = card(name)
    left, right = st.columns([1, 1])
    with left:
        st.markdown(f"#### {c.title}")
        st.caption(f"{c.family} · {c.paper}")
        st.markdown(f"**Predicts.** {c.predicts}")
        if c.formula:
            st.latex(c.formula)
        st.markdown(f"**Invariance it buys.** {c.invariance}")
        if c.collapse:
            st.markdown(f"**What collapse looks like.** {c.collapse}")
    with right:
        st.markdown(f"**The code that trains it** — `{source_file(name)}`")
        st.code(loss_source(name), language="python", wrap_lines=True)


def card_browser(default: str = "simclr", key: str = "pre.card") -> None:
    """Any method's card, picked from a list (reusable on any page)."""
    from sslviz.methods import list_methods

    methods = [m["name"] for m in list_methods()]
    name = st.selectbox("method", methods, index=methods.index(default) if default in methods else 0, key=key,
                        format_func=lambda m: m)
    render_card(name)
