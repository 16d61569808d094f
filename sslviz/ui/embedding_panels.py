"""The Embeddings page's views: Explore, Evolution, Side by side and Export.

Each view is one function that the page calls for the view the user picked (views are a radio,
not tabs, so only the visible one computes). The pieces they draw with are in
`sslviz.ui.embedding_views` (projection, colouring, figure) and `sslviz.ui.embedding_state`
(which embedding, its images and factors).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.embeddings import embedding as E
from sslviz.embeddings import imported
from sslviz.embeddings import projection as P
from sslviz.embeddings.alignment import align_to
from sslviz.embeddings.alignment import frame_epochs, sequence_inputs
from sslviz.embeddings.colouring import ColourBy, colour_points
from sslviz.embeddings.neighbours import embedding_neighbours, pixel_neighbours
from sslviz.embeddings.projection_jobs import jobs, submit_sequence
from sslviz.plots.embeddings import customdata_for, evolution_figure, palette, thumbnails

from . import embedding_state as S
from . import embedding_views as V
from .common import refresh_every, store, wait_for_job
from .run_choice import run_labels

GRID_MAX = 60
EVOLUTION_MAX = 10_000  # points in the evolution: each frame is a UMAP and the animation sends every frame
NEIGHBOURS = 8


def image_grid(emb, imgs: np.ndarray, rows, columns: int = 10, size: int = 64) -> None:
    rows = list(rows)
    if not rows:
        return
    thumbs = thumbnails(imgs[rows], size)
    captions = [f"{emb.class_name(int(emb.labels[r]))} · #{int(emb.index[r])}" for r in rows]
    for start in range(0, len(rows), columns):
        cols = st.columns(columns)
        for col, img, cap in zip(cols, thumbs[start : start + columns], captions[start : start + columns]):
            col.image(img, caption=cap, width=size)


def point_image(emb, imgs: np.ndarray, row: int, facts: dict) -> None:
    """The clicked point's image and what is known about it (shown beside the plot)."""
    name = emb.class_name(int(emb.labels[row]))
    st.markdown(f"**Image #{int(emb.index[row])}** — class **{name}**")
    st.image(thumbnails(imgs[[row]], 128)[0], width=128)
    known = [f"{k} {float(v[row]):.2f}" for k, v in facts.items() if k != "shape"]
    if known:
        st.caption(" · ".join(known))


def point_panel(emb, imgs: np.ndarray, row: int) -> None:
    """One clicked point's nearest neighbours in the embedding and in pixel space, one row each."""
    e_rows, sims = embedding_neighbours(emb.features, row, NEIGHBOURS)
    p_rows, _ = pixel_neighbours(imgs, row, NEIGHBOURS)
    same_e = float(np.mean(emb.labels[e_rows] == emb.labels[row]))
    same_p = float(np.mean(emb.labels[p_rows] == emb.labels[row]))
    st.markdown(f"{NEIGHBOURS} nearest in the **embedding** (cosine) — {same_e:.0%} share its class")
    image_grid(emb, imgs, e_rows, columns=NEIGHBOURS)
    st.markdown(f"{NEIGHBOURS} nearest in **pixel space** (Euclidean) — {same_p:.0%} share its class")
    image_grid(emb, imgs, p_rows, columns=NEIGHBOURS)


def neighbour_table(emb, row: int, facts: dict) -> None:
    """A clicked point's nearest neighbours in the embedding as a table (when there are no images)."""
    e_rows, sims = embedding_neighbours(emb.features, row, NEIGHBOURS)
    same = float(np.mean(emb.labels[e_rows] == emb.labels[row]))
    st.markdown(f"Point **#{int(emb.index[row])}** (class **{emb.class_name(int(emb.labels[row]))}**): its "
                f"{NEIGHBOURS} nearest in the embedding (cosine) — {same:.0%} share its class")
    st.dataframe([{"point": int(emb.index[r]), "class": emb.class_name(int(emb.labels[r])), "cosine": float(c),
                   **{k: v[r].item() for k, v in facts.items()}} for r, c in zip(e_rows, sims)],
                 hide_index=True, key="emb_neighbours")


def _show_bad_run_note(choice: S.Choice) -> None:
    note = E.run_note(choice.run)
    if note:
        st.warning(note)


def load_or_explain(choice: S.Choice, source: str | None = None, epoch: int | None = None, run_id: str | None = None):
    """The embedding, or None after showing the one-line reason (no snapshot yet, failed run, NaN...)."""
    try:
        return S.embedding_for(choice, source, epoch, run_id)
    except S.Computing as pending:
        wait_for_job(pending.job, pending.message)
    except E.NoEmbeddings as exc:
        st.info(str(exc))
    except SslvizError as exc:
        st.error(str(exc))
    return None


# ---- Explore --------------------------------------------------------------------------------------


def explore(choice: S.Choice, params: P.ProjectionParams) -> None:
    emb = load_or_explain(choice)
    if emb is None:
        return
    _show_bad_run_note(choice)
    facts = S.factors(emb)
    spec = V.colour_controls(emb, list(facts))
    aids = V.map_aid_controls(min(len(emb), params.max_points))
    proj = V.projection_or_pca(emb, params, choice.run_dir)
    if proj is None:
        return
    try:
        colouring = V.colouring_or_labels(spec, emb, proj, facts)
    except SslvizError as exc:
        st.error(str(exc))
        colouring = colour_points(ColourBy("label"), emb, proj, facts)
    left, right = st.columns([3, 1.1])
    with left:
        shown = proj.params.label() + ("" if proj.params == params.validate() else " — while the asked-for one computes")
        fig = V.figure(emb, proj, colouring, facts, title=f"{emb.title} · {shown}")
        found = V.decorate(fig, emb, proj, colouring, aids)
        if found:
            st.caption(found)
        event = st.plotly_chart(fig, key="emb_plot", on_select="rerun", selection_mode=("points", "box", "lasso"),
                                width="stretch", config=V.PLOT_CONFIG)
        if proj.params.dims == 2:
            _hover_thumbnails(emb)
        if proj.note:
            st.caption(proj.note)
        st.caption(f"{len(proj.rows):,} points · {emb.dims}-d embedding"
                   + (f" · computed in {proj.seconds:.1f} s" if not proj.cached else " · from the cache")
                   + (" · click a point for its neighbours; box/lasso (toolbar) for an image grid" if proj.params.dims == 2
                      else " · drag to rotate (selection works in 2D)")
                   + "; the camera icon saves a PNG")
        from sslviz.embeddings.export import figure_html

        st.download_button("Figure as HTML", lambda: figure_html(fig), file_name="sslviz-embedding.html",
                           mime="text/html", key="emb_html", on_click="ignore")
    rows, area = V.selected_rows(event)
    clicked = rows[0] if len(rows) == 1 and not area else None
    imgs = None
    if rows:
        try:
            imgs = S.images(emb)
        except SslvizError as exc:  # e.g. the run's dataset folder is gone: the plot still works
            st.warning(f"The images behind the points cannot be shown: {exc}")
            if clicked is not None:  # the neighbours still can (an imported embedding without images)
                neighbour_table(emb, clicked, facts)
            return
    with right:
        V.metrics_panel(colouring)
        if clicked is not None:
            point_image(emb, imgs, clicked, facts)
        elif not rows:
            st.caption("Click a point to see its image here.")
    if not rows:
        return
    if clicked is not None:
        point_panel(emb, imgs, clicked)
        return
    counts = {}
    for r in rows:
        name = emb.class_name(int(emb.labels[r]))
        counts[name] = counts.get(name, 0) + 1
    summary = ", ".join(f"class {name}: {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    st.markdown(f"**{len(rows):,} selected** — {summary}")
    if len(rows) > GRID_MAX:
        st.caption(f"showing the first {GRID_MAX}")
    image_grid(emb, imgs, rows[:GRID_MAX])


def _hover_thumbnails(emb) -> None:
    """The hovered point's image next to the pointer (sslviz/ui/hover_thumbs.py), where the images exist."""
    from sslviz.embeddings.projection import fingerprint

    from .hover_thumbs import hover_thumbnails

    try:
        imgs = S.images(emb)
    except SslvizError:
        return  # no images behind the points (an import without paths): the hover keeps its text
    hover_thumbnails("emb_plot", imgs, emb.run_id, str(emb.config.get("dataset")), fingerprint(emb.index))


# ---- Evolution ------------------------------------------------------------------------------------


def _sequence_job(run_id: str, run_dir, epochs: list[int], params: P.ProjectionParams):
    key, feats, caches = sequence_inputs(run_id, run_dir, epochs, params)
    return key, submit_sequence(key, feats, params, caches)  # one job per key, shared by every tab


def evolution(choice: S.Choice, params: P.ProjectionParams) -> None:
    epochs = frame_epochs(choice.epochs)
    if params.max_points > EVOLUTION_MAX:  # frames multiply the points the browser animates
        params = replace(params, max_points=EVOLUTION_MAX)
    if len(epochs) < 2:
        st.info("Evolution needs at least two snapshots; this run has "
                f"{len(choice.epochs)}. The trainer saves one every `snapshot_every` epochs (and one before training).")
        return
    emb = load_or_explain(choice, "run", epochs[-1])
    if emb is None:
        return
    note = "" if len(epochs) == len(choice.epochs) else f" ({len(epochs)} of {len(choice.epochs)} snapshots, evenly spaced)"
    if len(emb) > params.max_points:
        note += f"; a seeded {params.max_points:,} of {len(emb):,} points (the evolution is capped at {EVOLUTION_MAX:,})"
    st.caption(f"{P.METHOD_NAMES[params.method]} of epochs {', '.join(map(str, epochs))}{note}. Each frame starts from the "
               "next one's layout and is rotated onto it (Procrustes), so points move only as much as the embedding does.")
    try:
        key, job = _sequence_job(choice.run["id"], choice.run_dir, epochs, params.validate())
    except SslvizError as exc:
        st.error(str(exc))
        return
    if not job.done():
        live = refresh_every()

        @st.fragment(run_every=live)
        def poll():
            if job.done():
                st.rerun(scope="app")
            done, total = jobs().progress(key) or (0, len(epochs))
            st.progress(done / max(total, 1), text=f"projecting snapshot {done} of {total} in the background…"
                        + ("" if live else " (rerun the page to see it)"))

        poll()
        return
    if job.exception() is not None:
        st.error(str(job.exception()))
        return
    frames = job.result()
    rows = frames[-1].rows
    labels = emb.labels[rows]
    names = np.array([emb.class_name(int(v)) for v in labels], dtype=object)
    order = [emb.class_name(v) for v in sorted(set(int(v) for v in labels))]
    facts = S.factors(emb)
    fig = evolution_figure([(f"epoch {e}", p.coords) for e, p in zip(epochs, frames)], names,
                           customdata_for(rows, emb.index[rows]), V.hover_text(emb, rows, facts), order, palette(order),
                           title=f"{choice.run['id']}: how the embedding forms")
    st.plotly_chart(fig, key="emb_evolution", width="stretch", config=V.PLOT_CONFIG)


# ---- Side by side ---------------------------------------------------------------------------------


def side_by_side(choice: S.Choice, params: P.ProjectionParams) -> None:
    left_emb = load_or_explain(choice)
    if left_emb is None:
        return
    others = [r for r in E.runs_with_embeddings(store(), imports=True) if r["id"] != choice.run["id"]]
    own = imported.sources(choice.run, choice.run_dir) if imported.is_import(choice.run) else list(E.SOURCES)
    options = [("run", choice.run["id"], src) for src in ("pixels", "random-init") if src in own]
    if choice.source != "run":
        options.insert(0, ("run", choice.run["id"], "run"))
    options += [("run", r["id"], "run") for r in others]

    other_labels = run_labels(others)

    def label(opt):
        _, rid, src = opt
        if rid == choice.run["id"]:
            return {"pixels": "baseline: raw pixels", "random-init": "baseline: untrained network",
                    "run": f"{rid} (its network, latest epoch)"}[src]
        r = next(x for x in others if x["id"] == rid)
        return f"{other_labels[rid]} (epoch {r['epochs'][-1]})"

    cols = st.columns([2, 2])
    pick = cols[0].selectbox("compare with", options, format_func=label, key="emb_other")
    link = cols[1].radio("colour both by", ["class", "the left plot's clusters (k-means)"], key="emb_link", horizontal=True,
                         help="linked colouring: the same class (or the same left-hand cluster) has the same colour in both")
    _, rid, src = pick
    right_emb = load_or_explain(choice, src, None if rid != choice.run["id"] or src != "run" else choice.epochs[-1], rid)
    if right_emb is None:
        return
    same_images = (right_emb.config.get("dataset") == left_emb.config.get("dataset")
                   and np.array_equal(np.sort(right_emb.index), np.sort(left_emb.index)))
    right_dir = store().run_dir(rid)
    panes = st.columns(2)
    with panes[0]:
        lp = V.projection_or_pca(left_emb, params, choice.run_dir)
    with panes[1]:
        rp = V.projection_or_pca(right_emb, params, right_dir)
    if lp is None or rp is None:
        return
    if same_images:
        rp = align_to(rp, lp, ref_rows=left_emb.index, own_rows=right_emb.index)
    facts_l = S.factors(left_emb)
    if link == "class":
        lc = colour_points(ColourBy("label"), left_emb, lp, facts_l)
        rc = colour_points(ColourBy("label"), right_emb, rp, S.factors(right_emb))
        order = list(dict.fromkeys(lc.order + rc.order))
    else:
        if not same_images:
            st.warning("The two embeddings show different images, so the left plot's clusters cannot colour the right; "
                       "colouring both by class.")
            return _pair_by_class(left_emb, lp, right_emb, rp, facts_l, panes)
        lc = V.colouring_or_labels(ColourBy("cluster", "kmeans", None), left_emb, lp, facts_l)
        by_image = dict(zip(left_emb.index[lp.rows].tolist(), lc.categories.tolist()))
        right_names = np.array([by_image.get(int(i), "not in the left plot") for i in right_emb.index[rp.rows]], dtype=object)
        rc = replace(lc, categories=right_names, metrics={}, notes=[])
        order = lc.order + (["not in the left plot"] if "not in the left plot" in set(right_names) else [])
    colours = palette(order)
    _draw_pair(left_emb, lp, lc, right_emb, rp, rc, colours, facts_l, panes)
    if not same_images:
        st.caption("These embeddings show different images (another dataset or test subset): colours are linked by class only.")


def _pair_by_class(left_emb, lp, right_emb, rp, facts_l, panes):
    lc = colour_points(ColourBy("label"), left_emb, lp, facts_l)
    rc = colour_points(ColourBy("label"), right_emb, rp, S.factors(right_emb))
    order = list(dict.fromkeys(lc.order + rc.order))
    _draw_pair(left_emb, lp, lc, right_emb, rp, rc, palette(order), facts_l, panes)


def _draw_pair(left_emb, lp, lc, right_emb, rp, rc, colours, facts_l, panes) -> None:
    selected = st.session_state.get("emb_pair_left")
    rows, _ = V.selected_rows(selected)
    highlight = None
    if rows:
        chosen = set(left_emb.index[rows].tolist())
        highlight = np.array([int(i) in chosen for i in right_emb.index[rp.rows]])
    with panes[0]:
        fig = V.figure(left_emb, lp, lc, facts_l, title=f"{left_emb.title}", colours=colours, height=480)
        st.plotly_chart(fig, key="emb_pair_left", on_select="rerun", selection_mode=("box", "lasso"),
                        width="stretch", config=V.PLOT_CONFIG)
        V.metrics_panel(lc, compact=True)
    with panes[1]:
        fig = V.figure(right_emb, rp, rc, S.factors(right_emb), title=f"{right_emb.title}", colours=colours,
                       highlight=highlight, height=480)
        st.plotly_chart(fig, key="emb_pair_right", width="stretch", config=V.PLOT_CONFIG)
        if rc.metrics:
            V.metrics_panel(rc, compact=True)
    st.caption("Select points on the left (box or lasso): the same images light up on the right.")


# ---- Export ---------------------------------------------------------------------------------------


def _images_or_none(emb):
    try:
        return S.images(emb)
    except SslvizError:  # the dataset cannot be loaded any more: the export has no sprite
        return None


def export_panel(choice: S.Choice, params: P.ProjectionParams) -> None:
    from sslviz.embeddings import export as X

    emb = load_or_explain(choice)
    if emb is None:
        return
    path = P.cache_path(choice.run_dir, emb.source, emb.epoch, params.validate(), emb.features)
    proj = P.load_cached(path, params.validate(), len(emb))
    if proj is None:
        proj = P.project(emb.features, replace(params, method="pca"),
                         cache=P.cache_path(choice.run_dir, emb.source, emb.epoch, replace(params, method="pca"),
                                            emb.features))
        st.caption(f"The {P.METHOD_NAMES[params.method]} projection is not computed yet (open Explore): "
                   "the files below carry the PCA projection.")
    facts = S.factors(emb)
    stem = f"{choice.run['id']}-{emb.source}" + (f"-e{emb.epoch}" if emb.epoch is not None else "")
    st.markdown(f"**{emb.title}** — {len(emb):,} points × {emb.dims} dimensions; projection: {proj.params.label()}")
    cols = st.columns(3)
    cols[0].download_button("CSV (embedding + projection)", lambda: X.csv_bytes(emb, proj, facts),
                            file_name=f"{stem}.csv", mime="text/csv", key="emb_csv", on_click="ignore")
    cols[1].download_button(".npy files (zip)", lambda: X.zip_bytes(X.npy_files(emb, proj)),
                            file_name=f"{stem}-npy.zip", mime="application/zip", key="emb_npy", on_click="ignore")
    cols[2].download_button("Embedding Projector (zip)",
                            lambda: X.zip_bytes(X.projector_files(emb, _images_or_none(emb), facts)),
                            file_name=f"{stem}-projector.zip", mime="application/zip", key="emb_proj", on_click="ignore")
    st.caption("Embedding Projector: unzip, open https://projector.tensorflow.org, *Load*, then choose vectors.tsv and "
               "metadata.tsv; sprite.png holds the images in row order (projector_config.pbtxt ties them together "
               "for TensorBoard). The figure itself: *Figure as HTML* under the plot, or the camera icon for a PNG.")
    st.code(f"python -m sslviz export --run {choice.run['id']} --format projector --out export/{stem}"
            + (f" --epoch {emb.epoch}" if emb.source == "run" else "")
            + (f" --source {emb.source}" if emb.source != "run" else ""), language="bash")
