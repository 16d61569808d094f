"""Read the map: one embedding as PCA, t-SNE and UMAP side by side, how to read each, and the check.

    map_comparison_view(run_id, key, points=1000, epoch=None)

Embeddable anywhere (the Embeddings page's "Read the map" view, a lesson step): no sidebar, no URL
parameters, widget keys under `key`. The maps and their check are computed by
`sslviz.embeddings.map_check.map_check_in` in the server's compute child (never in the page
script), cached in the run's projections folder, and the figure is shared by every session that
shows the same run. While the job runs the view shows a message and polls (`common.wait_for_job`).
"""

from __future__ import annotations

import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.embeddings import map_check as M

from .common import presenting, shared, store, style_figure, wait_for_job
from .run_choice import best_run, default_embedding_run, is_counter_example, run_label

MAP_DATASETS = ("shapes", "mnist")


def default_map_run(runs: list[dict]) -> str | None:
    """The best completed SimCLR run on shapes (then mnist) that is not a counter-example; else what
    the Embeddings page opens on (`run_choice.default_embedding_run`)."""
    for dataset in MAP_DATASETS:
        pool = [r for r in runs if r.get("method") == "simclr" and r.get("dataset") == dataset
                and r.get("status") == "completed" and not is_counter_example(r)]
        best = best_run(pool)
        if best is not None:
            return best["id"]
    return default_embedding_run(runs)


def _runs() -> list[dict]:
    from sslviz.embeddings.embedding import runs_with_embeddings

    return runs_with_embeddings(store())


def _job(run_id: str, epoch: int | None, points: int):
    from .embedding_state import snapshot_stamp
    from .teaching_views import background

    root = str(store().root)
    stamp = snapshot_stamp(store().run_dir(run_id), epoch)  # a new snapshot is a new job
    key = ("map-check", root, run_id, epoch, int(points), stamp)
    return key, background(key, M.map_check_in, root, run_id, epoch, int(points), 0, child=True)


def _table(check: M.MapCheck) -> list[dict]:
    def num(value):
        return None if value is None else float(value)  # None: not measurable here (one class, too few classes)

    rows = []
    for m in check.maps:
        f = m.faithfulness
        rows.append({"map": m.title, "kNN in the map": num(f.get("knn_map")),
                     "kNN in the full embedding": num(f.get("knn_full")),
                     f"neighbours kept (of {f.get('k')})": num(f.get("recall")),
                     "trustworthiness": num(f.get("trustworthiness")),
                     "cluster sizes agree (ρ)": num(f.get("size_agreement")),
                     "cluster gaps agree (ρ)": num(f.get("gap_agreement"))})
    return rows


def _figure(key: tuple, check: M.MapCheck):
    from sslviz.plots.maps import maps_figure

    def build():
        return maps_figure(check.maps, check.labels, check.class_names)

    if presenting():  # style_figure changes the figure: not the shared copy
        return style_figure(build())
    return shared(("map-figure",) + key, build)


def reading_guide() -> None:
    """The three short texts on reading PCA, t-SNE and UMAP, and the rule that holds for all maps."""
    cols = st.columns(len(M.READING_GUIDE))
    for col, (name, text) in zip(cols, M.READING_GUIDE.items()):
        col.markdown(f"**{name}.** {text}")
    st.markdown(M.READING_RULE)


def map_comparison_view(run_id: str | None, key: str, points: int = M.DEFAULT_POINTS, epoch: int | None = None) -> None:
    """The grid of maps of `run_id`'s embedding at `epoch` (default: its newest snapshot) on a sample
    of `points` test images, the reading guide, and the table "kNN in the full embedding vs in each
    2-D map". run_id None: the best shipped SimCLR run on shapes or mnist (`default_map_run`).
    Says in one line why when there is nothing to show."""
    if run_id is None:
        run_id = default_map_run(_runs())
        if run_id is None:
            st.info("No run has saved an embedding yet: train one (the home page's demo takes a minute), or wait "
                    "for the shipped runs to install, and the maps appear here.")
            return
    try:
        run = store().get(run_id)
    except SslvizError as exc:
        st.warning(str(exc))
        return
    job_key, fut = _job(run_id, epoch, points)
    if not wait_for_job(fut, f"Drawing {len(M.DEFAULT_SETTINGS)} maps of {points:,} test images of "
                             f"{run_label(run)} in the background (a few seconds, once)…"):
        return
    try:
        check: M.MapCheck = fut.result()
    except SslvizError as exc:
        st.info(str(exc))
        return
    shown = min(points, check.total)
    st.caption(f"{run_label(run)}, epoch {check.epoch}: {shown:,} of its {check.total:,} test images, the same "
               "points in every panel, coloured by class. Click a class in "
               "the legend to hide it in every panel.")
    st.plotly_chart(_figure(job_key, check), width="stretch", key=f"{key}.figure")
    st.markdown(f"**The check.** {M.read_out(check.maps)}")
    rows = _table(check)
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in rows[0] if c != "map"})
    st.caption("kNN: each image gets the majority class of its 10 nearest other images (leave-one-out), "
               "measured in the full embedding (cosine, every dimension) and in each map. Neighbours kept: the "
               "fraction of an image's 10 nearest neighbours in the full embedding that are still among its 10 "
               f"nearest in the map (chance {check.maps[0].faithfulness.get('recall_chance', 0):.3f}). Trustworthiness "
               "(scikit-learn): 1 when the map's neighbours were neighbours in the embedding too. Sizes and gaps "
               "agree: rank correlation across classes between each class's spread (and the distances between "
               "class centres) in the embedding and in the map; 1 = same order, 0 = no relation.")
    st.markdown("#### How to read each map")
    reading_guide()
