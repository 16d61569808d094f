"""The views a lesson step can embed, by name: each draws one of sslviz's views with the step's settings.

A lesson (sslviz/teaching/lessons.py, a TOML file) names a view and its settings; this module maps
the name to the page code that already draws it, so a step shows the real view in place (the
class is never sent to another page to find it). Runs are named by their zoo entry ("simclr-shapes")
and found in the store through the installer's marker, so every step that needs a model opens at
once on a shipped run. A view that has nothing to show yet (the zoo still installing) says so in
one line.

Each view is `view(settings, ctx)`; `ctx` says which lesson and step it is in and whether the answer
has been revealed (a pretext game hides the network's answers until then).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from sslviz.core.errors import SslvizError

from .common import fast_png, presenting, store, style_figure


@dataclass(frozen=True)
class StepContext:
    lesson: str
    step: int
    revealed: bool

    @property
    def key(self) -> str:
        return f"lesson-{self.lesson}-{self.step}"


def zoo_run(name: str) -> dict | None:
    """The installed shipped run called `name` (a zoo entry), or None after a one-line note."""
    from sslviz.teaching.pretrained.install import installed

    run_id = installed(store()).get(name)
    if run_id:
        try:
            return store().get(run_id)
        except SslvizError:
            st.info(f"The shipped run “{name}” was deleted from this store; this step needs it.")
            return None
    st.info(f"The shipped run “{name}” is not in this store yet (it installs in the background on first start).")
    from .home_views import install_progress_bar

    install_progress_bar(small=True, rerun_on_new=True)
    return None


def _zoo_runs(names: list[str]) -> list[dict]:
    from sslviz.teaching.pretrained.install import installed

    have = installed(store())
    out = []
    for n in names:
        try:
            out.append(store().get(have[n]))
        except (KeyError, SslvizError):
            continue
    missing = [n for n in names if n not in have]
    if missing:
        st.caption(f"Not installed yet: {', '.join(missing)}.")
    return out


# ---- the views ------------------------------------------------------------------------------------

def text_view(settings: dict, ctx: StepContext) -> None:
    st.markdown(settings.get("text", ""))


def images_view(settings: dict, ctx: StepContext) -> None:
    """A grid of unlabelled images from a dataset: what a self-supervised method gets."""
    from sslviz.plots.teaching import enlarge

    from .teaching_views import load, pick_images

    data = load(settings.get("dataset", "mnist-10k"))
    if data is None:
        return
    idx = pick_images(data.train, int(settings.get("count", 40)), int(settings.get("seed", 0)), one_per_class=False)
    factor = max(1, (72 if presenting() else 56) // data.image_size)
    big = enlarge(data.train.images[idx].permute(0, 2, 3, 1).numpy(), factor)  # N×H×W×C
    big = big[..., 0] if big.shape[-1] == 1 else big
    st.image([fast_png(im) for im in big], width=factor * data.image_size)
    st.caption(f"{len(idx)} of the {len(data.train):,} training images of `{data.name}`, as a self-supervised method "
               "sees them: no labels.")


def pretext_view(settings: dict, ctx: StepContext) -> None:
    """A pretext game on held-out images; the trained run's answers appear at the reveal."""
    from . import pretext_views as pv

    run = zoo_run(settings["run"]) if settings.get("run") else None
    dataset = run["dataset"] if run else settings.get("dataset", "shapes")
    pv.show(settings.get("task", "rotation"), run, dataset, int(settings.get("seed", 0)), ctx.revealed)
    if not ctx.revealed:
        st.caption("The network's answers appear when the answer is revealed.")


def live_train_view(settings: dict, ctx: StepContext) -> None:
    """The one live-training step: a button starts the class's run in the background (one run per class,
    whoever presses first); every screen then follows it while the lesson goes on."""
    from sslviz.teaching import classroom
    from sslviz.training import worker

    from .run_views import run_panel

    preset = settings.get("preset", "demo")
    config, title = live_preset(preset)
    s = store()
    run_id = classroom.live_run(s, ctx.lesson, ctx.step) or classroom.live_run(s, ctx.lesson, int(settings.get("same_as", 0)))
    if run_id is None:
        st.markdown(f"**{title}** — trains in the background on this computer; the lesson goes on meanwhile.")
        if st.button(f"Start: {title}", key=f"{ctx.key}-start", type="primary", icon=":material/play_arrow:"):
            from .common import session_owner

            mine = None

            def start() -> str:
                nonlocal mine
                mine = worker.submit(config.__class__.from_dict({**config.to_dict(), "owner": session_owner()}), s)
                return mine

            try:
                run_id = classroom.claim_live_run(s, ctx.lesson, ctx.step, start)
            except SslvizError as exc:
                st.error(str(exc))
                return
            if mine and mine != run_id:
                worker.cancel(s, mine)  # another screen of the class started it a moment earlier
        else:
            return
    run_panel(run_id)


def live_preset(name: str):
    """(RunConfig, title) of a live step's preset: the home page's one-minute demo, or a broken variant."""
    from sslviz.training.config import RunConfig

    from .run_views import DEMO

    if name == "demo":
        return RunConfig.from_dict(DEMO), "SimCLR on shapes, one minute"
    from sslviz.teaching.variants import variant

    v = variant(name)
    return RunConfig.from_dict({**v["config"], "final_scores": False}), v["title"]  # a class's minute, as the demo


def curves_view(settings: dict, ctx: StepContext) -> None:
    """A finished run's curves: loss, kNN against the raw-pixel and untrained lines, the gauge."""
    from .run_views import run_panel

    run = zoo_run(settings["run"])
    if run is not None:
        run_panel(run["id"])


def evolution_view(settings: dict, ctx: StepContext) -> None:
    """The run's embedding over its snapshots (UMAP, coloured by class)."""
    from sslviz.embeddings import embedding as E
    from sslviz.teaching.lesson_cache import evolution_params

    from . import embedding_panels as panels
    from .embedding_state import Choice

    run = zoo_run(settings["run"])
    if run is None:
        return
    run_dir = store().run_dir(run["id"])
    epochs = E.snapshot_epochs(run_dir)
    choice = Choice(run, run_dir, "run", epochs[-1] if epochs else None, epochs)
    panels.evolution(choice, evolution_params(settings))


def label_efficiency_view(settings: dict, ctx: StepContext) -> None:
    """The shipped label-efficiency experiment (every method on shapes, 1 to all labels per class)."""
    from sslviz.teaching.pretrained.experiment import zoo_experiment

    from .labeleff_views import experiment_panel

    exp_id = zoo_experiment(store())
    if exp_id is None:
        st.info("The shipped label-efficiency experiment is not in this store yet (it installs after the runs).")
        return
    experiment_panel(exp_id, key=ctx.key)


def factor_probe_view(settings: dict, ctx: StepContext) -> None:
    from .teaching_views import factor_probe_of

    run = zoo_run(settings["run"])
    if run is not None:
        factor_probe_of(run, None, key=ctx.key)


def card_view(settings: dict, ctx: StepContext) -> None:
    from .teaching_views import render_card

    methods = settings.get("methods", ["simclr"])
    for tab, name in zip(st.tabs(methods), methods):
        with tab:
            render_card(name)


def leaderboard_view(settings: dict, ctx: StepContext) -> None:
    """The leaderboard of the named shipped runs (kNN, the few-label probe, speed, the gauge)."""
    from sslviz.experiments import compare

    runs = _zoo_runs(settings.get("runs", []))
    if not runs:
        return
    from .run_choice import flag_suffix
    from .zoo_check_views import flag_warnings

    board = compare.leaderboard(store(), [r["id"] for r in runs])  # kNN and probe: as re-scored at install
    names = {r["id"]: r["name"].removesuffix(", pretrained") + flag_suffix(r) for r in runs}
    rows = sorted(({"run": names[b["run"]], "kNN": b.get("kNN"), "10 labels / class": b.get(compare.TRAINER_PROBE),
                    "images/s": b.get("images/s"), "training s": b.get("training s"), "collapse": b.get("collapse")}
                   for b in board), key=lambda r: -(r["kNN"] or 0))
    flag_warnings(runs)
    pixels = runs[0]["summary"].get("knn_pixels")
    pct = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"kNN": pct, "10 labels / class": pct, "images/s": st.column_config.NumberColumn(format="%.0f"),
                                "training s": st.column_config.NumberColumn(format="%.0f")})
    if pixels is not None:
        bank, tested = runs[0]["config"].get("eval_train_max"), runs[0]["summary"].get("test_images_scored")
        sizes = f" (bank {bank:,} training images, {tested:,} test images)" if bank and tested else ""
        st.caption(f"Raw pixels' kNN on this data: {pixels:.3f} (same test images). kNN: the training monitor's "
                   f"estimate, k = 20{sizes}; 10 labels / class: a linear probe, mean of the trainer's fixed draws.")


def compare_curves_view(settings: dict, ctx: StepContext) -> None:
    """kNN and loss of the named shipped runs overlaid, against wall-clock seconds or epochs."""
    from sslviz.experiments import compare
    from sslviz.plots.compare import overlay_training

    runs = _zoo_runs(settings.get("runs", []))
    if not runs:
        return
    axis = st.radio("x axis", ["wall-clock seconds", "epoch"], horizontal=True, key=f"{ctx.key}-axis")
    series = compare.training_series(store(), [r["id"] for r in runs])
    named = {r["name"].removesuffix(", pretrained"): rows for r, rows in zip(runs, series.values())}  # in run order
    fig = overlay_training(named, "elapsed" if axis.startswith("wall") else "epoch")
    st.plotly_chart(style_figure(fig), width="stretch", key=f"{ctx.key}-curves")


def alignment_uniformity_view(settings: dict, ctx: StepContext) -> None:
    from .compare_views import alignment_uniformity_view as draw

    runs = _zoo_runs(settings.get("runs", []))
    if runs:
        draw([r["id"] for r in runs], key=ctx.key)


def temperature_view(settings: dict, ctx: StepContext) -> None:
    from .contrastive_views import temperature_explorer

    run = zoo_run(settings["run"])
    temperature_explorer(run["id"] if run else None, key=ctx.key, temperature=float(settings.get("temperature", 0.5)),
                         batch=int(settings.get("batch", 16)))


def temperature_runs_view(settings: dict, ctx: StepContext) -> None:
    from .contrastive_views import temperature_runs

    temperature_runs(key=ctx.key)


def collapse_view(settings: dict, ctx: StepContext) -> None:
    from .contrastive_views import collapse_gallery

    collapse_gallery(key=ctx.key)


def map_check_view(settings: dict, ctx: StepContext) -> None:
    from .map_views import map_comparison_view

    from sslviz.teaching.lesson_cache import map_points

    run = zoo_run(settings["run"])
    if run is not None:
        map_comparison_view(run["id"], key=ctx.key, points=map_points(settings))


VIEWS = {
    "text": text_view, "images": images_view, "pretext": pretext_view, "live-train": live_train_view,
    "curves": curves_view, "evolution": evolution_view, "label-efficiency": label_efficiency_view,
    "factor-probe": factor_probe_view, "card": card_view, "leaderboard": leaderboard_view,
    "compare-curves": compare_curves_view, "alignment-uniformity": alignment_uniformity_view,
    "temperature": temperature_view, "temperature-runs": temperature_runs_view, "collapse": collapse_view,
    "map-check": map_check_view,
}


def draw(view: str, settings: dict, ctx: StepContext) -> None:
    """Draw a step's view; an unknown view or a failing one is one line, and the lesson goes on."""
    fn = VIEWS.get(view)
    if fn is None:
        st.error(f"This step names a view “{view}” that sslviz does not have.")
        return
    try:
        fn(settings, ctx)
    except SslvizError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in one view: one line here, the traceback in the log
        import logging

        logging.getLogger("sslviz").exception("lesson %s step %s: the view %s failed", ctx.lesson, ctx.step, view)
        st.error(f"This step's view could not be drawn ({type(exc).__name__}: {exc}); the lesson goes on, "
                 "and the server's log has the details.")
