"""Clusters in an embedding and how well they agree with the labels (scikit-learn).

    cluster(x, "kmeans" | "agglomerative" | "hdbscan", k=None) -> Clustering
    estimate_k(x)                                            -> (k, {k: silhouette})
    agreement(labels, clusters, x)                           -> {"nmi", "ari", "silhouette", ...}

Design choices:
- Where to cluster: k-means and agglomerative clustering work on the embedding itself
  (`prepare`: L2-normalised for the cosine metric and PCA-reduced to at most 50 dimensions,
  which keeps their cost low without changing the groups); HDBSCAN is density based and
  struggles in many dimensions, so the page runs it on the 2-D/3-D projection by default (the
  usual UMAP + HDBSCAN recipe). Either can run on either: the caller passes the array.
- The number of clusters is the user's, or estimated: k-means for k = 2..k_max on a subsample,
  keeping the k with the best silhouette. HDBSCAN finds its own number (and marks noise -1).
- Agglomerative (Ward) clustering needs memory quadratic in the number of points, so above
  AGGLOMERATIVE_MAX points it is fitted on a seeded subsample and the other points join the
  nearest cluster mean; `Clustering.note` says so.
- Scores: NMI and ARI against the labels (unlabelled points are left out; HDBSCAN's noise counts
  as one more cluster, as scikit-learn does), and the silhouette of the clusters (noise left
  out) on a subsample of at most 2,000 points. With fewer than two classes NMI/ARI are
  undefined: `agreement` returns None for them and a note instead of a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sslviz.core.errors import ConfigError

CLUSTER_METHODS = {
    "kmeans": "k-means: k round groups around centres; you choose k (or let the silhouette choose)",
    "agglomerative": "agglomerative (Ward): merges the closest groups until k are left",
    "hdbscan": "HDBSCAN: dense regions become clusters, sparse points are noise; finds the number itself",
}
AGGLOMERATIVE_MAX = 3000
SILHOUETTE_SAMPLE = 2000


@dataclass
class Clustering:
    labels: np.ndarray  # int64 per point; -1 = noise (HDBSCAN)
    method: str
    k: int  # clusters found (noise not counted)
    estimated: bool = False  # k chosen by the silhouette estimate
    note: str = ""


def prepare(features: np.ndarray, metric: str = "cosine", max_dims: int = 50, seed: int = 0) -> np.ndarray:
    """The space k-means and agglomerative clustering work in: normalised (cosine), the first
    `max_dims` principal components. Computed from the very array the PCA view prepares (same
    arguments, so `prepare_features` remembers it: the page does not run a second PCA)."""
    from .umap_fast import prepare_features

    x, _ = prepare_features(features, metric=metric, pca_variance=1.0, seed=seed)
    return np.ascontiguousarray(x[:, :max_dims])


def _check(x: np.ndarray, k: int | None) -> None:
    from .embedding import NonFiniteEmbedding, TooFewPoints

    if x.ndim != 2 or len(x) < 3:
        raise TooFewPoints(f"clustering needs at least 3 points; got {len(x)}")
    if not np.isfinite(x).all():
        raise NonFiniteEmbedding("clustering: the embedding contains NaN or infinite values")
    if k is not None and (not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 2):
        raise ConfigError(f"number of clusters: must be a whole number ≥ 2, got {k!r}")
    if k is not None and k >= len(x):
        raise TooFewPoints(f"{k} clusters need more than {k} points; there are {len(x)}")


def estimate_k(x: np.ndarray, k_max: int = 20, seed: int = 0, sample: int = 2000) -> tuple[int, dict[int, float]]:
    """The k in 2..k_max whose k-means clustering has the best silhouette (on a subsample)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    _check(x, None)
    rng = np.random.default_rng(seed)
    sub = x[np.sort(rng.choice(len(x), size=sample, replace=False))] if len(x) > sample else x
    scores: dict[int, float] = {}
    for k in range(2, min(k_max, len(sub) - 1) + 1):
        labels = KMeans(k, n_init=1, random_state=seed).fit_predict(sub)
        if len(np.unique(labels)) > 1:
            scores[k] = float(silhouette_score(sub, labels))
    if not scores:
        return 2, scores
    return max(scores, key=scores.get), scores


def cluster(x: np.ndarray, method: str = "kmeans", k: int | None = None, seed: int = 0,
            min_cluster_size: int | None = None) -> Clustering:
    """Cluster the rows of x. k=None estimates it (k-means, agglomerative); HDBSCAN ignores k."""
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans

    if method not in CLUSTER_METHODS:
        raise ConfigError(f"cluster method: unknown '{method}'; choose one of {', '.join(CLUSTER_METHODS)}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    _check(x, k if method != "hdbscan" else None)
    if method == "hdbscan":
        size = int(min_cluster_size or max(5, len(x) // 100))
        if size < 2:
            raise ConfigError(f"min cluster size: must be ≥ 2, got {size}")
        labels = HDBSCAN(min_cluster_size=min(size, len(x)), copy=True).fit_predict(x).astype(np.int64)
        found = int(len(np.unique(labels[labels >= 0])))
        noise = int((labels < 0).sum())
        note = f"{noise:,} points ({noise / len(x):.0%}) are noise (grey)" if noise else ""
        return Clustering(labels, method, found, False, note)
    estimated = k is None
    if estimated:
        k, _ = estimate_k(x, seed=seed)
    note = ""
    if method == "kmeans":
        labels = KMeans(k, n_init=3, random_state=seed).fit_predict(x)
    elif len(x) <= AGGLOMERATIVE_MAX:
        labels = AgglomerativeClustering(k, linkage="ward").fit_predict(x)
    else:
        rng = np.random.default_rng(seed)
        fit_rows = np.sort(rng.choice(len(x), size=AGGLOMERATIVE_MAX, replace=False))
        fit_labels = AgglomerativeClustering(k, linkage="ward").fit_predict(x[fit_rows])
        centres = np.stack([x[fit_rows][fit_labels == c].mean(0) for c in range(k)])
        d2 = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None, :]
        labels = d2.argmin(1)
        labels[fit_rows] = fit_labels
        note = (f"agglomerative clustering was fitted on a random {AGGLOMERATIVE_MAX:,} of {len(x):,} points; "
                "the others joined the nearest cluster centre")
    return Clustering(np.asarray(labels, dtype=np.int64), method, int(k), estimated, note)


def silhouette(x: np.ndarray, labels: np.ndarray, seed: int = 0, sample: int = SILHOUETTE_SAMPLE) -> float | None:
    """Mean silhouette of `labels` (noise and unlabelled points, i.e. label < 0, left out); None if undefined."""
    from sklearn.metrics import silhouette_score

    keep = labels >= 0
    x, labels = x[keep], labels[keep]
    n_groups = len(np.unique(labels))
    if n_groups < 2 or n_groups >= len(x):
        return None
    size = min(sample, len(x))
    return float(silhouette_score(x, labels, sample_size=size if size < len(x) else None, random_state=seed))


def agreement(true_labels: np.ndarray, clusters: np.ndarray, x: np.ndarray | None = None, seed: int = 0) -> dict:
    """NMI and ARI of `clusters` against `true_labels`, and the clusters' silhouette in x.

    Returns {"nmi", "ari", "silhouette", "clusters", "note"}; a value that is undefined is None
    and "note" says why (fewer than two classes, one cluster).
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from .embedding import SingleClass, require_classes

    true_labels = np.asarray(true_labels)
    clusters = np.asarray(clusters)
    if len(true_labels) != len(clusters):
        raise ConfigError(f"labels ({len(true_labels)}) and clusters ({len(clusters)}) differ in length")
    out = {"nmi": None, "ari": None, "silhouette": None,
           "clusters": int(len(np.unique(clusters[clusters >= 0]))), "note": ""}
    try:
        require_classes(true_labels)
        labelled = true_labels >= 0
        out["nmi"] = float(normalized_mutual_info_score(true_labels[labelled], clusters[labelled]))
        out["ari"] = float(adjusted_rand_score(true_labels[labelled], clusters[labelled]))
    except SingleClass as exc:
        out["note"] = str(exc)
    if x is not None:
        out["silhouette"] = silhouette(np.asarray(x), clusters, seed=seed)
        if out["silhouette"] is None and not out["note"]:
            out["note"] = "silhouette: needs at least two clusters"
    return out
