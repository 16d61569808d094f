"""Compare widgets: overlaid training and label-efficiency curves, the leaderboard, embeddings side
by side and the same-budget race. Everything redraws only when the store changed (a fingerprint
of runs, metrics and experiments), so a student's zoom survives while runs train."""

from __future__ import annotations

import pandas  # noqa: F401  imported here, in the script thread, before page() starts background threads
import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.evaluation.protocols import FEW_LABEL_DRAWS
from sslviz.experiments import compare
from sslviz.experiments.label_efficiency import submit
from sslviz.methods import method_names
from sslviz.plots.compare import alignment_uniformity_figure, embedding_scatter, overlay_training
from sslviz.plots.label_efficiency import label_efficiency_figure
from sslviz.training import worker

from .common import refresh_every, session_owner, shared, store
from .embedding_state import snapshot_stamp
from .query import query_value, set_query
from .run_choice import run_labels, run_title
from .zoo_check_views import flag_warnings

MAX_SIDE_BY_SIDE = 4


def _versioned(name: str, version, compute):
    """compute() once per store version (per session): polls are cheap, redraws rare."""
    cached = st.session_state.get(f"_cmp_{name}")
    if cached is None or cached[0] != version:
        cached = (version, compute())
        st.session_state[f"_cmp_{name}"] = cached
    return cached[1]


def curves_and_leaderboard(run_ids: list[str]) -> None:
    """Loss / kNN overlays, label-efficiency overlays and the leaderboard; live while runs train."""
    s = store()

    def training() -> bool:
        return any(s.get(r)["status"] in ("queued", "running") for r in run_ids)

    was_training = training()

    @st.fragment(run_every=refresh_every(was_training))  # polls only while a chosen run trains
    def live():
        worker.schedule(s)
        if was_training and not training():
            st.rerun(scope="app")  # the last one finished: redraw once, stop polling
        version = (s.version(), tuple(run_ids))
        st.subheader("Training curves")
        axis = st.radio("x axis", ["wall-clock seconds", "epoch"], horizontal=True, key="cmp-axis")
        labels = _versioned("labels", version, lambda: _labels(s, run_ids))
        series = _versioned("series", version, lambda: dict(zip(
            [labels[r] for r in run_ids], compare.training_series(s, run_ids).values())))
        x = "elapsed" if axis.startswith("wall") else "epoch"
        imported = [r for r in run_ids if s.get(r)["kind"] == "import"]  # nothing was trained here: no curves
        if imported:
            st.caption(f"{', '.join(labels[r] for r in imported)}: imported, so no training curves; "
                       "the leaderboard below has its scores.")
        if len(imported) < len(run_ids):
            fig = shared(("overlay", str(s.root), version, x), lambda: _tall(overlay_training(series, x), len(series)))
            st.plotly_chart(fig, key="cmp-training", width="stretch")
        _alignment_uniformity(s, run_ids, labels, version, "cmp-au")

        st.subheader("Label efficiency")
        rows = _versioned("le", version, lambda: compare.label_rows(s, run_ids))
        if rows:
            present = list(dict.fromkeys(r["protocol"] for r in rows))
            chosen = st.multiselect("protocols", present, default=["linear"] if "linear" in present else present[:1],
                                    key="cmp-protocols")
            fig = shared(("cmp-le", str(s.root), version, tuple(chosen)),
                         lambda: _tall(label_efficiency_figure(rows, chosen), len(run_ids)))
            st.plotly_chart(fig, key="cmp-le", width="stretch")
            st.caption("From the newest experiment on each run (with the baselines measured alongside it); "
                       "open the Label Efficiency page for the tables and intervals.")
        else:
            st.caption("No label-efficiency results for these runs yet.")

        st.subheader("Leaderboard")
        flag_warnings([s.get(r) for r in run_ids])  # shipped runs whose figures the install did not reproduce
        board = _versioned("board", version, lambda: [{**row, "name": labels[row["run"]].rsplit(" · ", 1)[0]
                                                       + (" ⚠" if (row["check"] or "").startswith("⚠") else "")}
                                                      for row in compare.leaderboard(s, run_ids)])
        pct = st.column_config.NumberColumn(format="%.3f")
        st.dataframe(board, hide_index=True, width="stretch", column_order=BOARD_COLUMNS,
                     column_config={"kNN": st.column_config.NumberColumn("kNN estimate", format="%.3f"),
                                    compare.PAPERS_KNN: pct, compare.PAPERS_LINEAR: pct, "linear @1": pct, "linear @10": pct, "linear @100": pct,
                                    compare.TRAINER_PROBE: pct,
                                    "images/s": st.column_config.NumberColumn(format="%.0f"),
                                    "training s": st.column_config.NumberColumn(format="%.1f")})
        st.caption(f"kNN and '{compare.TRAINER_PROBE}' are the trainer's own figures at the end of each run (a "
                   f"linear probe on 10 labelled images per class, mean of {FEW_LABEL_DRAWS} fixed draws); "
                   "'linear @N' come from a label-efficiency experiment on the run; a shipped run's 'check' says "
                   "whether its install re-scored the figures it was built with (the table shows the re-scored ones).")
        st.caption(f"'{compare.PAPERS_KNN}' and '{compare.PAPERS_LINEAR}' are the final figures, by the "
                   "papers' protocol (the whole training split as the kNN bank, the whole test split; quote these); "
                   f"'kNN estimate' is the live monitor's, on the subsets in '{compare.ESTIMATE_ON}' (for the curve). "
                   "Empty: not scored yet (the Train page's 'Score by the papers' protocol').")
        missing = [r for r in compare.missing_linear(board) if (s.run_dir(r) / "checkpoint.pt").exists()]
        if missing and st.button(f"Measure kNN and linear probe at 1/10/100 labels per class for {len(missing)} "
                                 "run(s)", key="cmp-measure"):
            _measure(missing)

    live()


GEOMETRY = ("alignment", "uniformity", "alignment_pixels", "uniformity_pixels")
GEOMETRY_CAPTION = (
    "Alignment and uniformity (Wang & Isola, 2020), measured every epoch on two augmented views of the same "
    "held-out images. Alignment (x): the mean squared distance between the two views of an image, 0 when "
    "they land on the same point. Uniformity (y): the log of the mean Gaussian potential between all pairs "
    "of images, 0 when every image lands on one point, about -4 when they spread evenly over the sphere. "
    "Each run is a trajectory from its untrained network (open circle, epoch 0) to its last epoch (filled); "
    "the × is raw pixels of the same views. **Lower-left is better.** Contrastive learning works on both at once: "
    "it pulls the views of an image together (alignment) and pushes different images apart (uniformity). A collapsed network sits "
    "at the top left: perfect alignment (every image, so both views, on one point) with the worst "
    "uniformity (0).")


def alignment_uniformity_view(run_ids: list[str], key: str) -> None:
    """The alignment-uniformity chart of these runs with its caption (for Compare and lesson steps);
    `key` keeps its widget keys apart from any other copy on the page."""
    s = store()
    version = (s.version(), tuple(run_ids))
    _alignment_uniformity(s, run_ids, _versioned(f"labels-{key}", version, lambda: _labels(s, run_ids)), version, key)


def _alignment_uniformity(s, run_ids: list[str], labels: dict, version, key: str) -> None:
    st.subheader("Alignment and uniformity")
    series = _versioned(f"geometry-{key}", version, lambda: {labels[r]: s.metrics(r, list(GEOMETRY)) for r in run_ids})
    if not any(rows for rows in series.values()):
        st.caption("Not measured for these runs (recorded before alignment and uniformity were): train a new "
                   "run, or reinstall the shipped ones, to see them.")
        return
    fig = shared(("cmp-au", str(s.root), version), lambda: _tall(alignment_uniformity_figure(series), len(series)))
    st.plotly_chart(fig, key=key, width="stretch")
    st.caption(GEOMETRY_CAPTION)


BOARD_COLUMNS = ("name", compare.PAPERS_KNN, compare.PAPERS_LINEAR, "kNN", compare.ESTIMATE_ON, compare.TRAINER_PROBE, "linear @1", "linear @10", "linear @100", "images/s", "training s", "collapse",
                 "check", "method", "status", "run")


def _labels(s, run_ids: list[str]) -> dict[str, str]:
    """{run id: its name · short id}, unique (run_choice.run_labels)."""
    return run_labels([s.get(r) for r in run_ids])


def _tall(fig, n: int):
    """Room for a legend of n runs below the plot (a horizontal legend of ~3 long names a line)."""
    if n > 6:
        fig.update_layout(height=(fig.layout.height or 340) + 22 * ((n + 2) // 3))
    return fig


def _measure(run_ids: list[str]) -> None:
    """Queue one experiment per dataset for runs without linear-probe numbers."""
    s = store()
    by_dataset: dict = {}
    for r in run_ids:
        by_dataset.setdefault(s.get(r)["dataset"], []).append(r)
    for ids in by_dataset.values():
        try:
            exp_id, _ = submit(dict(runs=ids, labels_per_class=list(compare.LEADERBOARD_BUDGETS),
                                    protocols=["knn", "linear"], seeds=5, baselines=["pixels", "random-init"],
                                    owner=session_owner()), s)
            st.toast(f"Queued {exp_id}")
        except SslvizError as exc:
            st.error(str(exc))


def embeddings_side_by_side(run_ids: list[str]) -> None:
    """Each run's newest test embedding in 2-D; UMAP computed in the background, PCA until then."""
    st.subheader("Embeddings side by side")
    options = ["umap", "pca"]
    wanted = query_value("proj")
    method = st.radio("projection", options, index=options.index(wanted) if wanted in options else 0,
                      horizontal=True, key="cmp-proj", format_func=str.upper)
    set_query(proj=None if method == "umap" else method)
    shown = run_ids[:MAX_SIDE_BY_SIDE]
    if len(run_ids) > MAX_SIDE_BY_SIDE:
        st.caption(f"The first {MAX_SIDE_BY_SIDE} chosen runs are shown.")
    s = store()
    waiting = []
    cols = st.columns(len(shown))
    for col, run_id in zip(cols, shown):
        with col:
            snapshot = (str(s.root), run_id, snapshot_stamp(s.run_dir(run_id)))  # a new snapshot: a new view
            try:  # a finished view is the same for every session: computed and drawn once
                view = shared(("cmp-view", *snapshot, method), lambda: compare.projection_of(s, run_id, method),
                              keep=lambda v: v["ready"])
            except SslvizError as exc:
                st.warning(f"{run_id}: {exc}")
                continue
            title = f"{run_title(s.get(run_id))} · epoch {view['epoch']} · {view['method'].upper()}"
            fig = shared(("cmp-figure", *snapshot, view["method"], title),
                         lambda: embedding_scatter(view["coords"], view["labels"], view["class_names"], title=title))
            st.plotly_chart(fig, key=f"cmp-emb-{run_id}-{view['method']}", width="stretch")
            if view["note"]:
                st.caption(view["note"])
            if not view["ready"]:
                waiting.append(view["pending"])
    if waiting and refresh_every():
        @st.fragment(run_every=2.0)
        def wait_for_umap():  # a cheap poll (a file's existence); the page redraws once all are there
            if all(compare.projection_ready(k) for k in waiting):
                st.rerun(scope="app")

        wait_for_umap()


def same_budget_form(run_ids: list[str]) -> None:
    """Queue the chosen runs' methods (and extra ones) with one dataset, backbone, seed and budget."""
    st.subheader("Same budget")
    s = store()
    trained = [r for r in run_ids if s.get(r)["kind"] == "train"]
    if len(trained) < len(run_ids):  # sslviz/embeddings/imported.py: nothing was trained here to retrain
        st.caption("Imported embeddings are left out of the race: they were not trained here, so there is no "
                   "method and budget to rerun.")
    if not trained:
        return
    run_ids = trained
    ref = s.get(run_ids[0])["config"]
    st.caption(f"Retrains every chosen method on **{ref['dataset']}** with backbone **{ref['backbone']}**, "
               f"image size {ref['image_size']}, batch {ref['batch_size']}, one seed and one wall-clock budget "
               "(each keeps its own augmentations and hyper-parameters): a fair race.")
    with st.form("cmp-same-budget"):
        cols = st.columns([1, 1, 3])
        seconds = cols[0].number_input("time budget (s)", 5, 36000, 60, key="cmp-seconds")
        seed = cols[1].number_input("seed", 0, 2**31 - 1, int(ref.get("seed", 0)), key="cmp-seed")
        chosen_methods = sorted({s.get(r)["method"] for r in run_ids})
        extra = cols[2].multiselect("add methods", [m for m in method_names() if m not in chosen_methods],
                                    key="cmp-extra")
        go = st.form_submit_button(f"Queue {len(chosen_methods) + len(extra)} run(s) with the same budget")
    if go:
        try:
            ids, errors = compare.submit_same_budget(s, run_ids, float(seconds), int(seed), session_owner(), extra)
        except SslvizError as exc:
            st.error(str(exc))
            return
        st.session_state["cmp-queued"] = (ids, errors)
        st.rerun()  # the page adds the new runs to the comparison before its run picker is drawn


def show_queued() -> list[str]:
    """After a same-budget submit: its messages, and the ids to add to the chosen runs."""
    ids, errors = st.session_state.pop("cmp-queued", ([], []))
    for e in errors:
        st.error(e)
    if ids:
        st.success(f"Queued {', '.join(ids)} with the same budget; they are added to the comparison and "
                   "train one after another.")
    return ids
