"""What a 2-D map can and cannot say: one embedding as PCA, t-SNE and UMAP at several settings, and
how faithful each map is to the full embedding.

    map_grid(features, labels, settings=DEFAULT_SETTINGS, seed=0) -> [MapResult(.title, .coords, .faithfulness)]
    map_faithfulness(features, coords, labels, k=10) -> {"knn_full", "knn_map", "recall", ...}
    map_check_in(root, run_id, epoch, points, seed) -> MapCheck   (for the server's compute child)

The maps are made by `sslviz.embeddings.projection.project` (the same code, cache and fast UMAP as
the Explore view), so a map here is the map the class sees elsewhere in the app. The check is the
one a class can run on any map: does a point's neighbourhood survive the squeeze into two
dimensions? Written out here rather than taken whole from a library because each number is what
the page teaches; scikit-learn does the neighbour search and the trustworthiness score:

- kNN accuracy, leave-one-out, with the same k in the full embedding and in the map: each point
  gets the majority class of its k nearest other points (ties go to the nearer neighbours). A map
  that scores far below the full space has lost what a classifier could read.
- neighbour recall at k: the fraction of each point's k nearest neighbours in the full space that
  are still among its k nearest in the map (chance: k / (n - 1)). Both maps of a well-separated
  cluster can score high on kNN and low here: the class survives, the neighbourhoods do not.
- trustworthiness (sklearn.manifold.trustworthiness): 1 when the map's neighbours were neighbours
  in the full space too; it punishes false neighbours, recall punishes lost ones.
- size and gap agreement (Spearman correlations across classes): do bigger blobs in the map belong
  to classes that are more spread out in the full space, and are classes that look far apart in
  the map far apart in the full space? t-SNE and UMAP make no promise about either (the Distill
  article "How to Use t-SNE Effectively", Wattenberg, Viégas and Johnson, 2016); PCA roughly does.

The full space is measured with the metric the maps use (cosine by default: features L2-normalised,
then Euclidean, as `umap_fast.prepare_features` does before every projection).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sslviz.core.errors import ConfigError

from .projection import METHOD_NAMES, ProjectionParams, project

K = 10  # neighbours for the kNN vote, the recall and the trustworthiness

# Six maps, two rows of three: the linear view and t-SNE at a small and the usual perplexity, then
# UMAP from very local to fairly global neighbourhoods. t-SNE is most of the time: 500 steps instead
# of scikit-learn's 1,000 halve it (1.3-1.5 s of CPU each on 1,000 points here) and left kNN, recall
# and trustworthiness of its maps within 0.005 of the 1,000-step ones on clustered test data.
TSNE_STEPS = 500
DEFAULT_SETTINGS: tuple[ProjectionParams, ...] = (
    ProjectionParams(method="pca"),
    ProjectionParams(method="tsne", perplexity=5.0, tsne_iterations=TSNE_STEPS),
    ProjectionParams(method="tsne", perplexity=30.0, tsne_iterations=TSNE_STEPS),
    ProjectionParams(method="umap", n_neighbors=5, min_dist=0.1),
    ProjectionParams(method="umap", n_neighbors=15, min_dist=0.1),
    ProjectionParams(method="umap", n_neighbors=50, min_dist=0.1),
)
DEFAULT_POINTS = 1000


def setting_title(params: ProjectionParams) -> str:
    """'PCA', 't-SNE · perplexity 30', 'UMAP · n_neighbors 15, min_dist 0.1'."""
    name = METHOD_NAMES[params.method]
    if params.method == "tsne":
        return f"{name} · perplexity {params.perplexity:g}"
    if params.method == "umap":
        return f"{name} · n_neighbors {params.n_neighbors}, min_dist {params.min_dist:g}"
    return name


@dataclass
class MapResult:
    """One 2-D map of the embedding: coords[i] is the position of features[i]."""

    params: ProjectionParams
    title: str
    coords: np.ndarray  # n × 2 float32
    seconds: float  # to compute (0 when read from the cache)
    cached: bool
    faithfulness: dict = field(default_factory=dict)  # map_faithfulness(...)


# ---- the check --------------------------------------------------------------------------------------


def full_space(features: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """The features as the maps measure them: L2-normalised for cosine, as they are for euclidean."""
    x = np.asarray(features, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    elif metric != "euclidean":
        raise ConfigError(f"metric: unknown '{metric}'; choose cosine or euclidean")
    return x


def neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """n × k indices of each point's k nearest other points (itself left out), nearest first."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)


def knn_vote(nbrs: np.ndarray, labels: np.ndarray) -> float | None:
    """Leave-one-out kNN accuracy over the labelled points (label ≥ 0) from a neighbour table;
    ties go to the nearer neighbours. None with fewer than two labelled classes."""
    labels = np.asarray(labels, dtype=np.int64)
    known = labels >= 0
    if len(np.unique(labels[known])) < 2:
        return None
    k = nbrs.shape[1]
    votes = labels[nbrs]  # n × k
    weights = 1.0 - np.arange(k) / (2.0 * k * k)  # 1 vote each (less than 1/4 off in all): a nearer one breaks a tie
    n_classes = int(labels.max()) + 1
    scores = np.zeros((len(labels), n_classes))
    for j in range(k):
        ok = votes[:, j] >= 0
        scores[np.flatnonzero(ok), votes[ok, j]] += weights[j]
    pred = scores.argmax(1)
    return float((pred[known] == labels[known]).mean())


def neighbour_recall(full_nbrs: np.ndarray, map_nbrs: np.ndarray) -> float:
    """Mean fraction of each point's full-space neighbours that are among its map neighbours."""
    n, k = full_nbrs.shape
    hits = sum(len(np.intersect1d(full_nbrs[i], map_nbrs[i], assume_unique=True)) for i in range(n))
    return float(hits / (n * k))


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def class_geometry(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(spread of each class: mean distance of its points to its centre; distances between class
    centres, upper triangle) over classes with at least 2 points; None with fewer than 3 classes."""
    labels = np.asarray(labels)
    classes = [c for c in np.unique(labels[labels >= 0]) if (labels == c).sum() >= 2]
    if len(classes) < 3:
        return None
    centres = np.stack([x[labels == c].mean(0) for c in classes])
    spread = np.array([np.linalg.norm(x[labels == c] - centres[i], axis=1).mean() for i, c in enumerate(classes)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(len(classes), 1)]
    return spread, gaps


def map_faithfulness(features: np.ndarray, coords: np.ndarray, labels: np.ndarray, k: int = K,
                     metric: str = "cosine", full_nbrs: np.ndarray | None = None) -> dict:
    """How much of the full embedding a 2-D map keeps (see the module docstring).

    full_nbrs: the full space's neighbour table (`neighbours(full_space(features, metric), k)`) when
    it is already known (map_grid computes it once for all its maps).

    Returns {"k", "n", "knn_full", "knn_map" (None without two labelled classes), "recall",
    "recall_chance", "trustworthiness", "size_agreement", "gap_agreement" (None with fewer than
    three classes)}. Raises ConfigError when the shapes do not match or there are too few points.
    """
    from sklearn.manifold import trustworthiness

    features, coords = np.asarray(features), np.asarray(coords, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if features.ndim != 2 or coords.ndim != 2 or not len(features) == len(coords) == len(labels):
        raise ConfigError(f"map check: features {features.shape}, map {coords.shape} and labels {labels.shape} "
                          "must have one row per point")
    n = len(features)
    if n < 2 * k + 2:  # trustworthiness needs k < n / 2
        raise ConfigError(f"map check: {n} points are too few for {k} neighbours (at least {2 * k + 2})")
    x = full_space(features, metric)
    full_nbrs = full_nbrs if full_nbrs is not None else neighbours(x, k)
    map_nbrs = neighbours(coords, k)
    full_geo, map_geo = class_geometry(x, labels), class_geometry(coords, labels)
    return {
        "k": k, "n": n,
        "knn_full": knn_vote(full_nbrs, labels),
        "knn_map": knn_vote(map_nbrs, labels),
        "recall": neighbour_recall(full_nbrs, map_nbrs),
        "recall_chance": k / (n - 1),
        "trustworthiness": float(trustworthiness(x, coords, n_neighbors=k)),
        "size_agreement": _spearman(full_geo[0], map_geo[0]) if full_geo and map_geo else None,
        "gap_agreement": _spearman(full_geo[1], map_geo[1]) if full_geo and map_geo else None,
    }


# ---- the grid ---------------------------------------------------------------------------------------


def map_grid(features: np.ndarray, labels: np.ndarray, settings=DEFAULT_SETTINGS, seed: int = 0, *,
             k: int = K, metric: str = "cosine", caches: list | None = None) -> list[MapResult]:
    """Every setting's 2-D map of all of `features` (no subsampling: pass the points to show), each
    with its map_faithfulness. caches[i]: an .npz path for setting i (or None), as project() takes."""
    features = np.asarray(features)
    settings = list(settings)
    if not settings:
        raise ConfigError("map settings: give at least one (method, parameters)")
    caches = list(caches) if caches is not None else [None] * len(settings)
    if len(caches) != len(settings):
        raise ConfigError(f"map caches: {len(caches)} paths for {len(settings)} settings")
    full_nbrs = neighbours(full_space(features, metric), k) if len(features) > k else None
    out = []
    for params, cache in zip(settings, caches):
        params = replace(params, dims=2, metric=metric, seed=int(seed), max_points=max(len(features), 10))
        if params.method == "umap" and params.n_neighbors >= len(features):  # a small sample: as many as there are
            params = replace(params, n_neighbors=max(2, len(features) - 1))
        t0 = time.perf_counter()
        proj = project(features, params, cache=cache)
        seconds = 0.0 if proj.cached else round(time.perf_counter() - t0, 3)
        check = map_faithfulness(features, proj.coords, labels, k=k, metric=metric, full_nbrs=full_nbrs)
        out.append(MapResult(params, setting_title(params), proj.coords, seconds, proj.cached, check))
    return out


# ---- a run's embedding, for the compute child --------------------------------------------------------


@dataclass
class MapCheck:
    """The grid for one run's snapshot: maps[i].coords[j] is image index[j], of class labels[j]."""

    run_id: str
    epoch: int | None
    title: str  # the embedding's title
    total: int  # points in the snapshot (before the sample)
    index: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    maps: list[MapResult]
    seconds: float


def map_check_in(root: str, run_id: str, epoch: int | None = None, points: int = DEFAULT_POINTS, seed: int = 0,
                 settings=DEFAULT_SETTINGS) -> MapCheck:
    """The grid for a run's snapshot at `epoch` (default: its newest) in the store at `root`, on a seeded
    sample of `points` images; each map cached in the run's projections folder. Picklable arguments:
    made for sslviz.core.compute_pool. Raises the embedding's SslvizError (no snapshot, collapsed, ...)."""
    from sslviz.training.runs import RunStore

    from .embedding import run_embedding
    from .projection import cache_path, subsample

    t0 = time.perf_counter()
    if not isinstance(points, (int, np.integer)) or points < 2 * K + 2:
        raise ConfigError(f"map check points: a whole number of at least {2 * K + 2}, got {points!r}")
    store = RunStore(root)
    emb = run_embedding(store, run_id, epoch)
    rows = subsample(len(emb), int(points), seed)
    feats = np.ascontiguousarray(emb.features[rows])
    run_dir = Path(store.run_dir(run_id))
    params = [replace(p, dims=2, seed=int(seed), max_points=max(len(rows), 10)) for p in settings]
    caches = [cache_path(run_dir, "run", emb.epoch, p, feats, tag="map") for p in params]
    maps = map_grid(feats, emb.labels[rows], params, seed, caches=caches)
    return MapCheck(run_id, emb.epoch, emb.title, len(emb), emb.index[rows], emb.labels[rows],
                    list(emb.class_names), maps, round(time.perf_counter() - t0, 3))


# ---- what to say about it ----------------------------------------------------------------------------

# How to read each kind of map (the Distill article "How to Use t-SNE Effectively" for t-SNE; UMAP's
# own documentation on n_neighbors and min_dist). Shown beside the grid; plain text for a handout.
READING_GUIDE = {
    "PCA": (
        "A flat projection onto the two directions along which the embedding varies most. "
        "**Distances:** a projection can only shrink them, so points far apart in the map are far apart "
        "in the embedding; points close in the map may not be, since every dimension not shown is "
        "flattened on top of the others. **Cluster sizes:** a class's spread along these two directions, "
        "comparable between classes. **Settings:** none; the same picture every time. It keeps the big "
        "picture and loses neighbourhoods: expect low kNN and recall when the embedding has many dimensions."
    ),
    "t-SNE": (
        "Places points so that each one keeps its nearest neighbours near; the perplexity is roughly how "
        "many neighbours each point pays attention to. **Distances:** within a cluster, near means similar; "
        "distances between clusters might mean nothing. **Cluster sizes mean nothing:** t-SNE expands dense "
        "clusters and contracts sparse ones until they look alike. **Settings:** the perplexity matters: a "
        "small one can break one class into clumps that are not in the data, and random noise does not "
        "always look random (small clusters can appear in pure noise). Believe only what stays the same "
        "across perplexities."
    ),
    "UMAP": (
        "Builds a graph of each point's n_neighbors nearest neighbours and lays it out in 2-D; min_dist "
        "sets how tightly points may pack. **Distances:** local neighbourhoods are kept; gaps between "
        "clusters are not to scale (UMAP is said to keep more of the global layout than t-SNE: the "
        "'gaps agree' column tests it). **Cluster sizes:** mostly meaningless too; min_dist, not the data, "
        "decides how tight a cluster looks. **Settings:** a small n_neighbors shows local detail and "
        "splits groups; a large one shows more of the overall layout and merges them."
    ),
}
READING_RULE = (
    "No 2-D map can keep every neighbourhood of an embedding with dozens of dimensions. Read a map for "
    "which points are together, not for how far apart or how big its clusters are, and check it: if the "
    "kNN classifier does much better in the full embedding than in the map, the map has lost what the "
    "network learned; a cluster that appears at one setting and not at another is probably the map's, "
    "not the data's."
)


def read_out(maps: list[MapResult]) -> str:
    """One or two sentences of what the check found (for the page and a handout)."""
    checks = [m.faithfulness for m in maps if m.faithfulness]
    if not checks:
        return ""
    c0 = checks[0]
    recalls = [c["recall"] for c in checks]
    best = max(maps, key=lambda m: m.faithfulness.get("recall", 0.0))
    text = (f"Of each point's {c0['k']} nearest neighbours in the full embedding, the maps keep "
            f"{min(recalls):.0%} to {max(recalls):.0%} (chance: {c0['recall_chance']:.1%}; best: {best.title}).")
    knn_maps = [(m.faithfulness["knn_map"], m.title) for m in maps if m.faithfulness.get("knn_map") is not None]
    if c0.get("knn_full") is not None and knn_maps:
        low, low_title = min(knn_maps)
        high, high_title = max(knn_maps)
        text += (f" A {c0['k']}-NN classifier scores {c0['knn_full']:.2f} in the full embedding and from "
                 f"{low:.2f} ({low_title}) to {high:.2f} ({high_title}) in the maps.")
        if high >= c0["knn_full"] - 0.01 and max(recalls) < 0.6:  # e.g. SimCLR on MNIST: UMAP 0.97 against 0.97
            text += (" A map can keep the classes apart as well as the full embedding does and still lose many of "
                     "each point's nearest neighbours.")
    return text
