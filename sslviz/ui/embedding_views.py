"""The Embeddings page's main view: projection settings, the scatter plot, its colouring and numbers.

How a projection reaches the screen without waiting:
1. A cached result (run_dir/projections/...) is shown at once.
2. PCA is computed in the script (a fraction of a second) and shown immediately.
3. UMAP / t-SNE go to the background thread (sslviz.embeddings.projection_jobs); meanwhile the page shows
   PCA with a note, and a fragment polls the job (a cheap `future.done()`), rerunning the page
   once, when the result is there. Nothing redraws while a user looks at a finished picture.

Selections (st.plotly_chart on_select): clicking one point shows its image and its nearest
neighbours (embedding vs pixels); a box or lasso shows the selected images as a grid.
Plotly tooltips cannot show images, so the image of the point under the cursor cannot be shown
on hover; a click shows it beside the plot instead, and the tooltip names class and image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.embeddings import projection as P
from sslviz.embeddings.colouring import COLOURINGS, ColourBy, colour_points
from sslviz.embeddings.projection_jobs import jobs, wait, warm_state
from sslviz.plots.embeddings import LARGE_HOVER, categorical_scatter, continuous_scatter, customdata_for, palette

from .common import refresh_every, wait_for_job

PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "sslviz-embedding"}}


def projection_settings() -> P.ProjectionParams:
    """Sidebar: method, dimensions and the parameters a UMAP user expects (defaults are good)."""
    st.sidebar.subheader("Projection")
    method = st.sidebar.radio("method", list(P.METHODS), key="emb_method", horizontal=True,
                              format_func=P.METHOD_NAMES.get, help=" · ".join(P.METHODS.values()))
    dims = st.sidebar.radio("dimensions", [2, 3], key="emb_dims", horizontal=True,
                            help="3D: drag to rotate; box/lasso selection works in 2D")
    with st.sidebar.expander("parameters"):
        metric = st.selectbox("metric", list(P.METRICS), key="emb_metric",
                              help="cosine: the angle between embeddings (what the kNN monitor uses)")
        n_neighbors = st.slider("n_neighbors (UMAP)", 2, 100, 15, key="emb_nn",
                                help="small: local detail, many small clumps; large: global layout")
        min_dist = st.slider("min_dist (UMAP)", 0.0, 0.99, 0.1, 0.01, key="emb_md",
                             help="0: tightly packed clusters; near 1: evenly spread points")
        n_epochs = st.select_slider("epochs (UMAP)", [50, 100, 200, 300, 500, 1000], 200, key="emb_epochs",
                                    help="optimisation steps over the neighbour graph: more is a little more faithful "
                                         "and slower (10,000 MNIST points: 200 take 2.3 s; 500 take about 5 s and keep "
                                         "6% more of each point's neighbours)")
        perplexity = st.slider("perplexity (t-SNE)", 5, 50, 30, key="emb_perp")
        max_points = st.number_input("sample size (max points)", 10, P.MAX_POINTS_INPUT, P.DEFAULT_MAX_POINTS,
                                     step=1000, key="emb_max",
                                     help="above this a random sample is projected (seeded); every point up to it is "
                                          f"drawn (WebGL); t-SNE stops at {P.TSNE_MAX_POINTS:,}")
        seed = st.number_input("seed", 0, 10_000, 0, key="emb_seed")
        reference = st.toggle("UMAP by umap-learn itself", False, key="emb_umap_learn",
                              help="off: sslviz's own UMAP optimiser (the same algorithm, faster: BENCHMARKS.md, 'UMAP'); "
                                   "on: umap-learn's code on the same neighbour graph, for comparison")
    return P.ProjectionParams(method=method, dims=int(dims), n_neighbors=int(n_neighbors), min_dist=float(min_dist),
                              metric=metric, max_points=int(max_points), seed=int(seed), perplexity=float(perplexity),
                              n_epochs=int(n_epochs), engine="umap-learn" if reference else "sslviz")


WIDE = 512  # PCA of wider features (raw pixels: a randomised SVD) runs in the compute child
PCA_WAIT = 2.0  # seconds a page waits for such a PCA before it polls


def obtain(emb, params: P.ProjectionParams, run_dir, submit: bool = True) -> tuple[P.Projection | None, object, str]:
    """(projection or None while it computes, the background job or None, the job's key).

    A PCA of a network's embedding (milliseconds) is computed here; everything else in the
    compute child (sslviz.core.compute_pool), a wide PCA ahead of queued UMAPs. submit=False only
    looks in the cache."""
    params = params.validate()
    path = P.cache_path(run_dir, emb.source, emb.epoch, params, emb.features)
    hit = P.load_cached(path, params, len(emb))
    if hit is not None or not submit:
        return hit, None, str(path)
    quick = params.method == "pca"
    if quick and emb.features.shape[1] <= WIDE:
        return P.project(emb.features, params, cache=path), None, str(path)
    P.check_projectable(emb.features, params, P.subsample(len(emb), params.max_points, params.seed))  # say it now
    job = jobs().submit_to_child(str(path), P.project, emb.features, params, cache=path, priority=0 if quick else 1)
    if quick:
        wait(job, PCA_WAIT if refresh_every() is not None else None)
    if job.done():
        exc = job.exception()
        if exc is not None:
            raise exc
        return job.result(), job, str(path)
    return None, job, str(path)


def projection_or_pca(emb, params: P.ProjectionParams, run_dir, what: str = "") -> P.Projection | None:
    """The asked-for projection, or PCA while it computes (with a polling note); errors as st.error."""
    pca = pca_job = None
    try:
        proj, job, _ = obtain(emb, params, run_dir, submit=False)
        if proj is None and params.method != "pca":  # the PCA first: it is what shows meanwhile
            pca, pca_job, _ = obtain(emb, replace(params, method="pca"), run_dir)
        if proj is None:
            proj, job, _ = obtain(emb, params, run_dir)
        if proj is None and job is not None and job.done():  # finished since: show it, not a stale note
            proj, job, _ = obtain(emb, params, run_dir)
    except SslvizError as exc:
        st.error(str(exc))
        if params.method == "pca":
            return None
        try:
            proj, _, _ = obtain(emb, replace(params, method="pca"), run_dir)
            if proj is not None:
                st.caption("PCA shown instead.")
            return proj
        except SslvizError:
            return None
    if proj is None:
        name, meanwhile = what or P.METHOD_NAMES[params.method], params.method != "pca"

        def note() -> str:
            warm = warm_state()
            extra = "" if warm["done"] else " (the first one after a server start also loads the compiled UMAP code)"
            shown = "" if not meanwhile else "; PCA is shown meanwhile" if pca is not None else "; PCA first, in a moment"
            return f"{name} is computing in the background{extra}{shown}"

        wait_for_job(job, note, also=pca_job if pca is None else None, block=False)
        return pca
    return proj


# ---- colouring ------------------------------------------------------------------------------------


SLOW_COLOURINGS = ("cluster", "few-shot")  # computed in the compute child: agglomerative or HDBSCAN on 10,000 points takes seconds


def colouring_or_labels(spec: ColourBy, emb, proj: P.Projection, facts: dict):
    """The asked-for colouring; clusters and few-shot predictions are computed in the compute child
    (sslviz.core.compute_pool) while the page shows the true labels with a note, so one student's
    agglomerative clustering never holds up the other sessions. Errors come back as st.error."""
    if spec.colour_by not in SLOW_COLOURINGS:
        return colour_points(spec, emb, proj, facts)
    from dataclasses import astuple

    coords = P.fingerprint(proj.coords) if spec.space == "projection" else ""
    key = f"colour|{P.fingerprint(emb.features)}|{P.fingerprint(proj.rows)}|{coords}|{astuple(spec)}"
    job = jobs().submit_to_child(key, colour_points, spec, emb, proj, facts)
    if not wait_for_job(job, f"Colouring by {COLOURINGS[spec.colour_by]} is computing in the background; "
                             "true classes are shown meanwhile"):
        return colour_points(ColourBy("label"), emb, proj, facts)
    if job.exception() is not None:
        st.error(str(job.exception()))
        return colour_points(ColourBy("label"), emb, proj, facts)
    return job.result()


def colour_controls(emb, factor_names: list[str], key: str = "emb") -> ColourBy:
    """'Colour by' and its options, in one row above the plot."""
    offered = [c for c in COLOURINGS if c != "factor" or factor_names]
    cols = st.columns([1.4, 1.2, 1, 1])
    colour_by = cols[0].radio("colour by", offered, key=f"{key}_colour", horizontal=True)
    if colour_by == "cluster":
        from sslviz.embeddings.clusters import CLUSTER_METHODS

        names = {"kmeans": "k-means", "agglomerative": "agglomerative (Ward)", "hdbscan": "HDBSCAN"}
        method = cols[1].selectbox("clustering", list(CLUSTER_METHODS), key=f"{key}_cmethod", format_func=names.get,
                                   help=" · ".join(CLUSTER_METHODS.values()))
        if method == "hdbscan":
            size = cols[2].number_input("min cluster size", 2, 2000, max(5, len(emb) // 100), key=f"{key}_mcs")
            space = cols[3].radio("cluster in", ["projection", "embedding"], key=f"{key}_space_h",
                                  help="HDBSCAN is density based: it works best in the 2-D/3-D projection")
            return ColourBy("cluster", method, None, space, min_cluster_size=int(size))
        auto = cols[2].toggle("estimate k", True, key=f"{key}_auto", help="best k-means silhouette for k = 2..20")
        k = None if auto else int(cols[2].number_input("k", 2, 100, max(2, len(emb.class_names) or 10), key=f"{key}_k"))
        space = cols[3].radio("cluster in", ["embedding", "projection"], key=f"{key}_space")
        return ColourBy("cluster", method, k, space)
    if colour_by == "factor":
        names = [f for f in factor_names if f != "shape"] or factor_names
        what = "metadata column" if emb.config.get("method") == "import" else "factor"  # embeddings/imported.py
        return ColourBy("factor", factor=cols[1].selectbox(what, names, key=f"{key}_factor"))
    if colour_by == "few-shot":
        n = cols[1].select_slider("labels per class", [1, 2, 5, 10, 20, 50], 5, key=f"{key}_shots")
        seed = cols[2].number_input("draw", 0, 1000, 0, key=f"{key}_shot_seed", help="which labelled images (seed)")
        return ColourBy("few-shot", per_class=int(n), seed=int(seed))
    return ColourBy("label")


def _hover_value(v) -> str:
    """A factor's value for the hover: a number to 2 decimals, anything else (an imported embedding's text
    column, e.g. colour = "red") as it is."""
    try:
        return f"{float(v):.2f}"
    except (TypeError, ValueError):
        return str(v)


def hover_text(emb, rows: np.ndarray, factors: dict) -> np.ndarray:
    names = emb.label_names()
    extra = [f for f in ("colour", "size", "rotation") if f in factors]
    out = []
    for r in rows:
        text = f"<b>{names[r]}</b> · image #{int(emb.index[r])}"
        if extra:
            text += "<br>" + " · ".join(f"{f} {_hover_value(factors[f][r])}" for f in extra)
        out.append(text)
    return np.array(out, dtype=object)


def figure(emb, proj: P.Projection, colouring, factors: dict, title: str = "", colours: dict | None = None,
           highlight: np.ndarray | None = None, height: int = 560):
    """The plotly figure of a projection under a colouring."""
    custom = customdata_for(proj.rows, emb.index[proj.rows])
    large = len(proj.rows) >= LARGE_HOVER and colouring.values is None  # a template per trace, not a text per point
    hover = None if large else hover_text(emb, proj.rows, factors)
    revision = f"{proj.params.key()}-{emb.source}-{emb.epoch}"
    if colouring.values is not None:
        return continuous_scatter(proj.coords, colouring.values, custom, hover, colouring.legend, title, revision,
                                  height=height)
    return categorical_scatter(proj.coords, colouring.categories, custom, hover, colouring.order,
                               colours or palette(colouring.order), title, colouring.legend, revision,
                               highlight=highlight, height=height)


# ---- aids for large maps: density, labels on clusters, search (sslviz.embeddings.map_aids) -----------


LARGE_MAP = 20_000  # from this many points the density contours are on by default


@dataclass
class MapAids:
    density: bool = False
    labels: bool = True
    query: str = ""


def map_aid_controls(n_points: int, key: str = "emb") -> MapAids:
    """One row above the plot: density contours, labels on the clusters, a search box."""
    cols = st.columns([1, 1, 2.4])
    dens = cols[0].toggle("density", n_points >= LARGE_MAP, key=f"{key}_density",
                          help="binned density as contours under the points: where 70,000 points overlap, "
                               "the contours show how many lie there (2D)")
    labels = cols[1].toggle("labels on the map", True, key=f"{key}_labels",
                            help="each class's or cluster's name at the median position of its points (2D)")
    query = cols[2].text_input("search", "", key=f"{key}_search", placeholder="a label, an image number or a file name",
                               help="case-insensitive: labels containing it, the image number (#123), or any text "
                                    "column of an import (file names, metadata values); matches are ringed")
    return MapAids(bool(dens), bool(labels), str(query or ""))


def decorate(fig, emb, proj: P.Projection, colouring, aids: MapAids) -> str:
    """Add the aids to a figure; returns a one-line note on the search ('' when there is none)."""
    from sslviz.embeddings import map_aids as A
    from sslviz.plots.embeddings import add_density, add_labels, add_search

    two_d = proj.params.dims == 2
    if aids.density and two_d:
        add_density(fig, proj.coords)
    if aids.labels and two_d:
        names = colouring.categories if colouring.values is None else np.asarray(emb.label_names(), dtype=object)[proj.rows]
        add_labels(fig, A.label_positions(proj.coords, names))
    match = A.search(aids.query, np.asarray(emb.label_names(), dtype=object)[proj.rows], emb.index[proj.rows],
                     {k: np.asarray(v)[proj.rows] for k, v in A.search_columns(emb).items()})
    if match is None:
        return ""
    if match.count:
        rows = proj.rows[match.mask]
        text = np.full(len(proj.rows), "", dtype=object)
        text[match.mask] = hover_text(emb, rows, {})
        add_search(fig, proj.coords, match.mask, customdata_for(proj.rows, emb.index[proj.rows]), text,
                   f"search: {match.count:,}")
    return (f"'{aids.query.strip()}': {match.count:,} of {len(proj.rows):,} points match"
            + (f" (by {match.how}); ringed in black" if match.count else ""))


def _fmt(name: str, value) -> str:
    if value is None:
        return "–"
    if name in ("clusters", "labelled points"):
        return f"{int(value):,}"
    return f"{value:.1%}" if "accuracy" in name else f"{value:.3f}"


def metrics_panel(colouring, compact: bool = False) -> None:
    """NMI / ARI / silhouette / accuracy beside the plot, with what they mean."""
    if compact:
        if colouring.metrics:
            st.markdown(" · ".join(f"{name} **{_fmt(name, v)}**" for name, v in colouring.metrics.items()))
        for note in colouring.notes:
            st.caption(note)
        return
    st.markdown("**Cluster quality**" if any(k.startswith(("NMI", "ARI", "sil")) for k in colouring.metrics)
                else "**Numbers**")
    for name, value in colouring.metrics.items():
        if name in ("clusters", "labelled points"):
            st.caption(f"{name}: {_fmt(name, value)}")
            continue
        st.metric(name, _fmt(name, value))
    for note in colouring.notes:
        st.caption(note)
    if any(k.startswith(("NMI", "ARI", "sil")) for k in colouring.metrics):
        st.caption("NMI / ARI: agreement of clusters with the labels (1 = the same groups, 0 = chance). "
                   "Silhouette: how much closer points are to their own group than to the next (-1…1).")


def selected_rows(event) -> tuple[list[int], bool]:
    """(embedding rows of the selected points, True when it was a box/lasso selection)."""
    sel = getattr(event, "selection", None) if event is not None else None
    if not sel:
        return [], False
    rows = []
    for point in sel.get("points", []) or []:
        data = point.get("customdata")  # [row, image]; a typed array may come back as {"0": row, "1": image}
        if isinstance(data, dict):
            data = data.get("0", data.get(0))
        elif isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            rows.append(int(data))
    area = bool(sel.get("box")) or bool(sel.get("lasso"))
    return list(dict.fromkeys(rows)), area
