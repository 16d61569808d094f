"""Run list, live run panel and the demo button: the pieces the Train page and the home page share."""

from __future__ import annotations

import time

import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.evaluation.collapse_gauge import (
    DIRECTIONS_FALL,
    DIRECTIONS_WARNING,
    EFFECTIVE_RANK_FALL,
    EFFECTIVE_RANK_WARNING,
    SPREAD_FALL,
    SPREAD_WARNING,
    collapse_warnings,
)
from sslviz.plots import training_curves
from sslviz.training import final_scores, worker
from sslviz.training.config import RunConfig

from .common import refresh_every, session_owner, shared, store
from .final_score_views import monitor_label, papers_panel
from .run_choice import flag_suffix, run_title
from .zoo_check_views import flag_warnings

STATUS_ICON = {"queued": "◷", "running": "▶", "completed": "✓", "failed": "✗", "cancelled": "■", "interrupted": "!",
               "installing": "⤓"}
# a shipped pretrained run being copied into the store: it trains nothing, so no Stop and no time left
LIVE = ("queued", "running", "installing")

# 60 s on 2 CPU cores: batch 128 gives twice the optimiser steps of 256 in the same time, which
# is what learning needs at this budget (measured: kNN 0.49 vs 0.35 at batch 256 after 60 s).
# final_scores off: a class's one-minute run is read by its curve; the papers' protocol would take the two cores for
# 13-48 s more after the minute (scored on demand from the Train page instead)
DEMO = dict(method="simclr", dataset="shapes", epochs=30, time_budget=60.0, batch_size=128, name="demo: SimCLR on shapes",
            final_scores=False)


def start_demo() -> str:
    """Queue the one-click demo run and return its id."""
    cfg = RunConfig.from_dict({**DEMO, "owner": session_owner()})
    return worker.submit(cfg, store())


def selected_run_id() -> str | None:
    return st.session_state.get("run") or st.query_params.get("run")


def select_run(run_id: str | None) -> None:
    st.session_state["run"] = run_id
    if run_id:
        st.query_params["run"] = run_id


def device_label(summary: dict) -> str:
    """'cpu', 'cuda:0 · bfloat16', 'cpu × 2 processes', ... ('' before the run has started)."""
    device = summary.get("device")
    if not device:
        return ""
    parts = [device + (f" × {summary['processes']} processes" if summary.get("processes", 1) > 1 else "")]
    if summary.get("precision") not in (None, "fp32"):
        parts.append(summary["precision"])
    if summary.get("compiled"):
        parts.append("compiled")
    return " · ".join(parts)


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "…"
    s = int(s)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def live_run_table() -> None:
    """The run list, redrawn when the store changes; picking a row selects that run for the page."""

    def current() -> tuple[list[dict], bool]:
        s = store()
        version = s.version()
        runs = st.session_state.get("_runs") if st.session_state.get("_runs_version") == version else None
        if runs is None:
            runs = s.list()
            st.session_state["_runs"], st.session_state["_runs_version"] = runs, version
        return runs, any(r["status"] in LIVE for r in runs)

    training = current()[1]

    # while something trains: every LIVE_SECONDS; otherwise a slow look for runs other sessions start
    @st.fragment(run_every=refresh_every(True if training else None))
    def table():
        runs, active = current()
        picked = run_table(runs)
        if picked and picked != st.session_state.get("run"):
            select_run(picked)
            st.rerun(scope="app")
        elif active != training:  # the poll rate follows: a full rerun defines the fragment again
            st.rerun(scope="app")

    table()


def run_table(runs: list[dict]) -> str | None:
    """A table of runs; returns the id of the row the user selected (or None)."""
    if not runs:
        st.info("No runs yet. Start one with the form, or the demo on the home page.")
        return None
    rows = [
        {
            "status": f"{STATUS_ICON.get(r['status'], '')} {r['status']}",
            "name": run_title(r) + flag_suffix(r),
            "run": r["id"],
            "method": r["method"],
            "dataset": r["dataset"],
            "progress": r["progress"] if r["status"] == "running" else (1.0 if r["status"] == "completed" else r["progress"]),
            "kNN": r["summary"].get("knn_accuracy"),
            "kNN (papers)": (r["summary"].get("papers") or {}).get("knn20"),
            "device": device_label(r["summary"]),
            "started": time.strftime("%H:%M:%S", time.localtime(r["started"] or r["created"])),
        }
        for r in runs
    ]
    event = st.dataframe(
        rows,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="run_table",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "kNN": st.column_config.NumberColumn("kNN estimate", format="%.3f",
                                                 help="the live monitor's, on a subset (sizes in the run's panel)"),
            "kNN (papers)": st.column_config.NumberColumn("kNN k=20 (papers)", format="%.3f",
                                                          help="the final figure: whole training split as the bank, "
                                                               "whole test split"),
        },
    )
    picked = event.selection.rows if event and event.selection else []
    return rows[picked[0]]["run"] if picked else None


def run_panel(run_id: str) -> None:
    """Status, progress with ETA, stop button and live curves of one run; refreshes while it trains."""
    s = store()
    try:
        was_active = s.get(run_id)["status"] in LIVE or final_scores.pending(s, run_id) is not None
    except SslvizError:
        was_active = False

    @st.fragment(run_every=refresh_every(was_active))  # polls only while the run is queued, training or installing
    def live():
        worker.schedule(s)  # keeps the queue moving (also reconciles runs whose process died)
        try:
            run = s.get(run_id)
        except Exception as exc:  # deleted meanwhile
            st.warning(str(exc))
            return
        status = run["status"]
        if was_active and status not in LIVE and final_scores.pending(s, run_id) is None:
            st.rerun(scope="app")  # it just ended: one full redraw, and the polling stops
        head = st.columns([3, 1])
        device = device_label(run["summary"])
        head[0].markdown(f"**{STATUS_ICON.get(status, '')} {run_title(run)}** · `{run['id']}` · "
                         f"**{status}** {('· ' + run['message']) if run['message'] else ''}"
                         f"{(' · on ' + device) if device else ''}")
        if status in ("queued", "running"):
            if head[1].button("Stop run", key=f"stop-{run_id}", type="secondary"):
                worker.cancel(s, run_id)
                st.toast(f"Stopping {run_id}…")
        elif status in ("interrupted", "cancelled", "failed") and (s.run_dir(run_id) / "checkpoint.pt").exists():
            if head[1].button("Resume", key=f"resume-{run_id}", help="continue from the last checkpoint"):
                try:
                    worker.resume(s, run_id)
                    st.toast(f"Resuming {run_id}…")
                except SslvizError as exc:
                    st.error(str(exc))
        if status == "installing":
            st.info("Being installed: a pretrained run shipped with sslviz, copied into this store (nothing "
                    "trains). Its curves and embeddings appear when it is done, in a few seconds.")
        if status == "queued":
            position = worker.queue_position(s, run_id)
            st.info(f"Waiting in the queue: position {position}. It starts when a running job finishes.")
        if status == "running":
            eta = run["eta"]
            st.progress(min(1.0, run["progress"]), text=f"{run['progress']:.0%} · about {_fmt_seconds(eta)} left · {run['message']}")
        if status == "failed":
            st.error(f"This run failed: {run['message']}")
            with st.expander("Traceback (for bug reports)"):
                st.code(run["error"] or "(none)")
        rows = s.metrics(run_id)
        if not rows:
            st.caption("No measurements yet: the first kNN score arrives after the untrained network is scored.")
            return
        axis = st.session_state.get(f"axis-{run_id}", "epoch")
        last = rows[-1]
        fig = shared(("curves", str(s.root), run_id, axis, len(rows), last["step"], last["name"], last["value"]),
                     lambda: training_curves(rows, x=axis))
        st.plotly_chart(fig, key=f"curves-{run_id}", width="stretch")
        _collapse_warning(rows)
        summary = run["summary"]
        flag_warnings([run])  # a shipped run whose figures the install did not reproduce: both numbers
        if summary.get("knn_accuracy") is not None:
            cols = st.columns(5)
            cols[0].metric(monitor_label(summary, run["config"]), f"{summary['knn_accuracy']:.1%}",
                           delta=f"{summary['knn_accuracy'] - summary.get('knn_pixels', 0):+.1%} vs raw pixels",
                           help=f"untrained network: {summary.get('knn_random_init') or 0:.1%}")
            few = summary.get("few_label_linear")
            if few is not None:
                cols[1].metric("10 labels per class", f"{few:.1%}",
                               delta=f"{few - (summary.get('few_label_pixels') or 0):+.1%} vs raw pixels",
                               help="a linear probe trained on 10 labelled images per class (the same images "
                                    f"every epoch); untrained network: {summary.get('few_label_random_init') or 0:.1%}")
            cols[2].metric("untrained network (kNN)", f"{summary.get('knn_random_init') or 0:.1%}")
            cols[3].metric("images / s", f"{summary.get('images_per_second', 0):,.0f}")
            cols[4].metric("training time", _fmt_seconds(summary.get("seconds")))
        papers_panel(run)  # the papers' protocol: stored figures, or the button that queues them

    live()
    st.radio("x axis", ["epoch", "elapsed", "step"], horizontal=True, key=f"axis-{run_id}")


def _collapse_warning(rows: list[dict]) -> None:
    """The gauge's last readings in words: a warning when they cross a line or fell far below the
    run's own untrained start (sslviz.evaluation.collapse_gauge), and what the numbers mean."""
    last, start = {}, {}
    for r in rows:  # the latest value of each gauge metric, and its epoch-0 (untrained) value
        if (r["name"] in GAUGE_AND_GEOMETRY or r["name"] == "knn_accuracy") and r["value"] is not None:
            last[r["name"]] = r["value"]
            if r["epoch"] == 0:
                start.setdefault(r["name"], r["value"])
    if not set(last) - {"knn_accuracy"}:
        return
    found = collapse_warnings(last, start)
    if any(w.startswith("collapsed to a point") for w in found):
        st.warning(f"Collapse warning: {found[0]}. The network maps different images to nearly the same "
                   "point on the sphere, so the kNN monitor can hardly tell them apart.")
    if any(w.startswith("dimensional collapse") for w in found):
        st.warning(f"Collapse warning: {found[-1]}. The images vary along only a few directions: most of "
                   "the embedding's dimensions carry nothing.")
    st.caption(gauge_caption(last, start))
    if "alignment" in last and "uniformity" in last:
        st.caption(geometry_caption(last, start))


GAUGE_AND_GEOMETRY = ("spread", "effective_rank", "directions_95", "collapse_std", "alignment", "uniformity",
                      "alignment_pixels", "uniformity_pixels")


def gauge_caption(last: dict, start: dict) -> str:
    """The collapse gauge's reading with its meaning, its lines and its untrained start, in words."""
    if "spread" not in last:
        return ("This run was recorded with the old collapse gauge (mean per-dimension std of the normalised "
                f"features), which reads at most the new spread; only a reading under {SPREAD_WARNING} "
                "counts as a collapse.")

    def began(name, fmt):
        return f", and read {start[name]:{fmt}} untrained" if start.get(name) is not None else ""

    text = (f"Collapse gauge: spread {last['spread']:.2f} (how far the images lie from their centre on the unit "
            f"sphere: 1 = all over it, 0 = one point; warns below {SPREAD_WARNING} or below {SPREAD_FALL:g} × the "
            f"untrained start{began('spread', '.2f')})")
    if last.get("effective_rank") is not None:
        text += (f" · effective rank {last['effective_rank']:.1f} (how many directions carry the images' variance, "
                 "by the entropy of its shares; warns below "
                 f"{EFFECTIVE_RANK_WARNING:g} or below {EFFECTIVE_RANK_FALL:g} × the untrained start"
                 f"{began('effective_rank', '.1f')})")
    if last.get("directions_95") is not None:
        text += (f" · 95% of the variance in {last['directions_95']:.0f} directions (warns below "
                 f"{DIRECTIONS_WARNING}, or below {DIRECTIONS_FALL:g} × the untrained start"
                 f"{began('directions_95', '.0f')} while kNN has not risen above the untrained network's)")
    if last.get("effective_rank") is not None:
        text += (". An untrained network's ReLU features sit in a narrow cone "
                 "(spread about 0.1-0.25); training usually widens it. A collapse drops the spread or the "
                 "directions far below where the run began. Runs recorded before 2026-12-07 show an older rank (from singular "
                 "values), which reads higher.")
    return text


def geometry_caption(last: dict, start: dict) -> str:
    """Alignment and uniformity (Wang & Isola, 2020) in words, against the start and raw pixels."""
    def compared(name):
        parts = [f"untrained {start[name]:.2f}"] if start.get(name) is not None else []
        if last.get(f"{name}_pixels") is not None:
            parts.append(f"raw pixels {last[name + '_pixels']:.2f}")
        return f" ({', '.join(parts)})" if parts else ""

    return (f"Alignment {last['alignment']:.2f}{compared('alignment')}: the mean squared distance between two "
            "augmented views of one held-out image (0 = the same point, 2 = unrelated). Uniformity "
            f"{last['uniformity']:.2f}{compared('uniformity')}: the log of the mean Gaussian potential between all "
            "pairs of images (0 = all on one point, about -4 = spread evenly over the sphere). **Lower is better "
            "for both**; a collapsed network aligns perfectly (0) because every image lands on the same point, "
            "and its uniformity reads 0, the worst.")
