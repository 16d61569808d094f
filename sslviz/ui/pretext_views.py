"""Streamlit widgets of the Pretext Tasks page: pick a task (and a trained run of it), see what the
network sees, the target it must produce, and - with a run - its answers next to the truth and
its score on the task. The numbers come from sslviz.teaching.answers; this module only lays them out,
in the layout the task's method declares (methods/base.py PretextTask: turns, tiles, positions, paint),
so a new pretext method needs no edit here.

Keys: ``method`` (the task's method), ``run`` and ``dataset`` are bound to the URL; the rest start
with "pre." (the reset button forgets them).
"""

from __future__ import annotations

import copy

import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.teaching.answers import ANGLES, task_titles, tasks

from .common import fast_png, presenting, shared, store, style_figure, url_selectbox, wait_for_job
from .run_choice import best_first, run_labels, run_title, status_note
from .teaching_views import background, load, pick_images, render_card

CONTRASTIVE_SHOWN = 8  # images in one round of the contrastive game
NONE = "none: just show the task"


def _scale(size: int) -> int:
    return max(1, (160 if presenting() else 128) // size)


def _row(images, factor: int, captions=None) -> None:
    """A row of enlarged images, all the same width (st.image would otherwise size them by their captions)."""
    from sslviz.plots.teaching import enlarge

    st.image([fast_png(enlarge(im, factor)) for im in images], caption=captions, width=factor * images.shape[1],
             output_format="PNG")


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def sidebar() -> tuple[str, dict | None]:
    """Task and run choosers; returns (task, run or None)."""
    from sslviz.teaching.answers import runs_for_task

    method_to_task, titles = {m: t for t, m in tasks().items()}, task_titles()
    method = url_selectbox(st.sidebar, "pretext task", list(method_to_task), key="method",
                           format_func=lambda m: titles[method_to_task[m]])
    task = method_to_task[method]
    runs = task_runs(runs_for_task(store(), task), method)
    by_id = {r["id"]: r for r in runs}
    options = list(by_id) + [NONE]
    labels = {**run_labels(runs, status_note), NONE: NONE}
    run_id = url_selectbox(st.sidebar, "trained run (its answers)", options, key="run", format_func=labels.get,
                                  help=f"runs of {tasks()[task]} with a checkpoint" if task != "contrastive"
                                  else "any trained run: its embedding plays the game")
    if not runs:
        st.sidebar.caption(f"No trained {tasks()[task]} run yet: start one on the Train page to see its answers.")
        from .home_views import install_progress_bar

        with st.sidebar:
            install_progress_bar(small=True, rerun_on_new=True)
    return task, by_id.get(run_id)


def task_runs(runs: list[dict], method: str) -> list[dict]:
    """The runs offered for a task, the first one the default: the chosen method's runs, best kNN first
    (run_choice.best_first: completed with a checkpoint, then kNN), then the others in their order
    (for the contrastive game: other contrastive methods before the rest)."""
    own = best_first([r for r in runs if r["method"] == method])
    return own + [r for r in runs if r["method"] != method]


def _score_metric(score) -> None:
    fmt = (lambda v: f"{v:.1%}") if score.higher_is_better else (lambda v: f"{v:.4f}")
    delta = score.value - score.baseline
    st.metric(score.name, fmt(score.value),
              delta=f"{'+' if delta >= 0 else ''}{fmt(delta) if score.higher_is_better else f'{delta:.4f}'} vs {score.baseline_name}",
              delta_color="normal" if score.higher_is_better else "inverse",
              help=f"over {score.n:,} held-out puzzles; {score.baseline_name}: {fmt(score.baseline)}")


def show(task: str, run: dict | None, dataset: str, seed: int, reveal: bool) -> None:
    """The task on a few held-out images, and the run's answers and score when there is one."""
    from sslviz.embeddings.embedding import dataset_for
    from sslviz.teaching import answers

    task = answers.task_key(task)  # a lesson may still name a task by an older name
    method = None
    if run is not None:
        try:
            trained = answers.load_trained(store(), run["id"])
        except SslvizError as exc:
            st.error(str(exc))
            return
        method, data = trained.method, dataset_for(run["config"])
        st.caption(f"Answers of **{run_title(run)}** (`{run['id']}`, checkpoint of epoch "
                   f"{trained.epoch}) on test images it never trained on.")
    else:
        data = load(dataset)
        if data is None:
            return
    pre = answers.pretext_task(task)  # None for the contrastive game
    for name, caveat in pre.notes if pre else ():
        if name == data.name:
            st.warning(caveat)
    idx = pick_images(data.test, pre.shown if pre else CONTRASTIVE_SHOWN, seed, one_per_class=False)
    images = data.test.images[idx]

    def build():
        if task == "contrastive":
            return answers.contrastive(images, method=method, seed=seed, dataset=data.name)
        return answers.example(task, images, method, seed=seed)

    try:  # the same puzzle for every session that asks for it (a class follows one screen)
        example = shared(("pretext", task, data.name, data.image_size, tuple(int(i) for i in idx), int(seed),
                          None if run is None else (run["id"], trained.epoch)), build)
    except SslvizError as exc:
        st.error(str(exc))
        return
    factor = _scale(data.image_size)
    layout, captions = layout_of(task)
    render = _paint(*captions) if layout == "paint" else RENDER[layout]
    render(example, factor, reveal, method is not None)
    if method is not None:
        key = ("task", run["id"], trained.epoch, task)
        fut = background(key, _score_on_a_copy, task, method, data.test.images[:512])
        if wait_for_job(fut, "Scoring the run on 512 held-out images…"):
            try:
                _score_metric(fut.result())
            except SslvizError as exc:
                st.error(str(exc))


def _score_on_a_copy(task: str, method, images):
    """task_score on a private copy of the method: the page keeps using the cached one meanwhile
    (its random generator, e.g. jigsaw's tile crops, must not be shared between threads)."""
    from sslviz.teaching.answers import task_score

    return task_score(task, copy.deepcopy(method), images)


def _caption(truth: str, pred: str | None, ok: bool | None, reveal: bool) -> str:
    if not reveal:
        return "?"
    return truth if pred is None else f"{truth} · guess {pred} {_mark(bool(ok))}"


def _rotation(ex, factor, reveal, has_run):
    n = ex["n"]
    st.markdown("**What the network sees:** each image turned four ways. **What it must answer:** by how much "
                "(under each picture" + (", with the run's guess)." if has_run else ")."))
    for i in range(n):
        rows = [k * n + i for k in range(4)]
        caps = [_caption(ANGLES[ex["targets"][r]], ANGLES[ex["predicted"][r]] if has_run else None,
                         has_run and ex["predicted"][r] == ex["targets"][r], reveal) for r in rows]
        _row(ex["inputs"][rows], factor, caps)


def _jigsaw(ex, factor, reveal, has_run):
    from sslviz.plots.teaching import enlarge, tile_lines

    g = ex["grid"]
    heads = ["the image", "what the network sees: shuffled tiles", "the answer: the order"] + (
        ["put back by the run's guess"] if has_run else [])
    cols = st.columns(len(heads))
    for c, h in zip(cols, heads):
        c.markdown(f"**{h}**")
    for i in range(len(ex["inputs"])):
        cols = st.columns(len(heads))
        cols[0].image(enlarge(ex["originals"][i], factor), output_format="PNG")
        cols[1].image(tile_lines(enlarge(ex["inputs"][i], factor), g), output_format="PNG")
        order = " ".join(str(int(t) + 1) for t in ex["orders"][i])
        cols[2].markdown(f"shuffle #{ex['targets'][i]}: tiles **{order}**" if reveal else "?")
        if has_run:
            ok = ex["predicted"][i] == ex["targets"][i]
            cols[3].image(tile_lines(enlarge(ex["restored"][i], factor), g),
                          caption=f"guess #{ex['predicted'][i]} {_mark(ok)}" if reveal else "?", output_format="PNG")
    st.caption("Tiles are numbered in reading order; 'tiles 3 1 4 2' means the first position shows the original's "
               "third tile. Only a right guess puts the image back together.")


def _relative(ex, factor, reveal, has_run):
    from sslviz.augment.pretext import RELATIVE_NAMES
    from sslviz.plots.teaching import enlarge, position_diagram, tile_lines

    heads = ["the image (not shown to it)", "centre patch", "second patch", "the answer: where"] + (
        ["the run's guess"] if has_run else [])
    cols = st.columns(len(heads))
    for c, h in zip(cols, heads):
        c.markdown(f"**{h}**")
    patch_factor = max(1, factor * ex["images"].shape[1] // ex["centre"].shape[1] // 2)
    for i in range(len(ex["targets"])):
        cols = st.columns(len(heads))
        t = int(ex["targets"][i])
        cols[0].image(tile_lines(enlarge(ex["images"][i], factor), 3, colour=(255, 255, 0)), output_format="PNG")
        cols[1].image(enlarge(ex["centre"][i], patch_factor), output_format="PNG")
        cols[2].image(enlarge(ex["neighbour"][i], patch_factor), output_format="PNG")
        if reveal:
            cols[3].image(position_diagram(t), caption=RELATIVE_NAMES[t], output_format="PNG")
        else:
            cols[3].markdown("?")
        if has_run:
            p = int(ex["predicted"][i])
            cols[4].image(position_diagram(t, p), caption=f"{RELATIVE_NAMES[p]} {_mark(p == t)}" if reveal else "?",
                          output_format="PNG")
    st.caption("Board: blue = the centre patch, green = where the second patch really is, red = a wrong guess.")


def _paint(inputs_label: str, target_label: str, pred_label: str):
    def render(ex, factor, reveal, has_run):
        st.markdown(f"**What the network sees:** {inputs_label}")
        _row(ex["inputs"], factor)
        st.markdown(f"**What it must produce:** {target_label}")
        if reveal:
            _row(ex["targets"], factor)
        else:
            st.markdown("? (the class guesses first)")
        if has_run:
            st.markdown(f"**The run's answer:** {pred_label}")
            _row(ex["predicted"], factor)
    return render


def _contrastive(ex, factor, reveal, has_run):
    from sslviz.plots.teaching import similarity_figure

    n = len(ex["view1"])
    st.markdown("**The game:** every image was augmented twice. Row 1 holds one view of each image, row 2 the "
                "other views in a shuffled order. Which view of row 2 belongs to which image? That is all a "
                "contrastive network is trained to answer.")
    _row(ex["view1"], factor, [str(i + 1) for i in range(n)])
    _row(ex["view2"], factor, [chr(ord("A") + j) for j in range(n)])
    answer, picked = ex["answer"], ex["picked"]
    if reveal:
        st.markdown("**The answer:** " + ", ".join(f"{i + 1} → {chr(ord('A') + int(answer[i]))}" for i in range(n)))
        who = "the run's embedding" if has_run else "raw pixels (no network)"
        hits = int((picked == answer).sum())
        st.markdown(f"**Cosine similarity in {who}: {hits} of {n} picked right**")
        st.plotly_chart(style_figure(similarity_figure(ex["similarity"], answer)), width="stretch",
                        key="pre.similarity")
        st.caption("White boxes: the true pairs. Dots: each image's most similar view (green right, red wrong).")


RENDER = {"turns": _rotation, "tiles": _jigsaw, "positions": _relative, "contrastive": _contrastive}


def layout_of(task: str) -> tuple[str, tuple[str, ...]]:
    """How the page draws a task: the layout its method declares (methods/base.py PretextTask) and,
    for a painting task, its captions; the contrastive game has its own."""
    from sslviz.teaching.answers import pretext_task

    pre = pretext_task(task)
    return ("contrastive", ()) if pre is None else (pre.layout, pre.captions if pre.layout == "paint" else ())


def card(task: str) -> None:
    render_card(tasks()[task])
