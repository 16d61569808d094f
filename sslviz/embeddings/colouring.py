"""What colour each shown point gets, and the numbers shown beside the plot. No Streamlit here.

    colour_points(ColourBy(colour_by="cluster", ...), emb, proj, factors) -> Colouring

colourings (COLOURINGS; ColourBy.colour_by):
  label     the true class; beside it: silhouette of the classes in the embedding, and how well
            k-means with k = number of classes recovers them (NMI, ARI)
  cluster   k-means / agglomerative / HDBSCAN clusters (sslviz.embeddings.clusters), k chosen or estimated,
            in the embedding or in the projection; beside it: NMI, ARI against the labels and
            the clusters' silhouette
  factor    a ground-truth factor of `shapes` (colour, size, x, y, rotation, background),
            continuous; discrete factors (the shape itself) become categories; for an imported
            embedding, its metadata columns (text columns are categories)
  few-shot  N labelled points per class classify the rest (sslviz.embeddings.neighbours.few_shot):
            labelled / right / wrong, and the accuracy

Everything is computed on the shown points only (the projection's rows), so the numbers match
the picture. Results are kept in a small in-process LRU keyed by a fingerprint of the data and
the choice, so every browser session looking at the same run shares them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import astuple, dataclass, field

import numpy as np

from sslviz.core.errors import ConfigError

COLOURINGS = {
    "label": "true class",
    "cluster": "clusters found without labels",
    "factor": "a ground-truth factor (shapes)",
    "few-shot": "a few-shot classifier: right / wrong",
}


@dataclass(frozen=True)
class ColourBy:
    colour_by: str = "label"  # one of COLOURINGS
    cluster_method: str = "kmeans"
    k: int | None = None  # None: estimated (k-means / agglomerative)
    space: str = "embedding"  # embedding | projection (where clusters are found)
    factor: str = ""
    per_class: int = 5  # few-shot: labelled points per class
    min_cluster_size: int | None = None  # HDBSCAN
    seed: int = 0


@dataclass
class Colouring:
    categories: np.ndarray | None  # str per shown point (categorical), or None
    values: np.ndarray | None  # float per shown point (continuous), or None
    order: list[str]
    legend: str
    metrics: dict = field(default_factory=dict)  # name -> float | None
    notes: list[str] = field(default_factory=list)
    raw: np.ndarray | None = None  # cluster ids / few-shot outcome, aligned with the shown points


_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def _memo(key, compute):
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = compute()
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > 48:
            _cache.popitem(last=False)
    return value


def _class_order(emb, labels: np.ndarray) -> list[str]:
    present = sorted(set(int(v) for v in labels))
    return [emb.class_name(v) for v in present]


def colour_points(spec: ColourBy, emb, proj, factors: dict | None = None) -> Colouring:
    """The colouring of the projection's points (see the module docstring)."""
    from .projection import fingerprint

    if spec.colour_by not in COLOURINGS:
        raise ConfigError(f"colour by: unknown '{spec.colour_by}'; choose one of {', '.join(COLOURINGS)}")
    factors = factors or {}
    data_key = (fingerprint(emb.features), fingerprint(emb.labels), fingerprint(proj.rows),
                fingerprint(proj.coords) if spec.colour_by == "cluster" and spec.space == "projection" else "",
                fingerprint(np.asarray(factors[spec.factor])) if spec.colour_by == "factor" and spec.factor in factors else "")
    return _memo((data_key, astuple(spec)), lambda: _compute(spec, emb, proj, factors))


def _space(emb, proj, spec: ColourBy) -> np.ndarray:
    from .clusters import prepare

    if spec.space == "projection":
        return np.asarray(proj.coords, dtype=np.float32)
    return prepare(emb.features[proj.rows], metric=proj.params.metric, seed=spec.seed)


def _compute(spec: ColourBy, emb, proj, factors: dict) -> Colouring:
    from . import clusters

    rows = proj.rows
    labels = emb.labels[rows]
    if spec.colour_by == "label":
        names = np.array([emb.class_name(int(v)) for v in labels], dtype=object)
        out = Colouring(names, None, _class_order(emb, labels), "class")
        n_classes = int(len(np.unique(labels[labels >= 0])))
        if n_classes < 2:
            out.notes.append("only one class among these points: NMI, ARI and the class silhouette need two")
            return out
        x = _space(emb, proj, ColourBy(seed=spec.seed))
        out.metrics["silhouette (classes)"] = clusters.silhouette(x, labels, seed=spec.seed)
        if n_classes < len(x):
            km = clusters.cluster(x, "kmeans", k=n_classes, seed=spec.seed)
            scores = clusters.agreement(labels, km.labels, None, seed=spec.seed)
            out.metrics[f"NMI (k-means, k={n_classes})"] = scores["nmi"]
            out.metrics[f"ARI (k-means, k={n_classes})"] = scores["ari"]
        return out
    if spec.colour_by == "cluster":
        x = _space(emb, proj, spec)
        found = clusters.cluster(x, spec.cluster_method, k=spec.k, seed=spec.seed,
                                 min_cluster_size=spec.min_cluster_size)
        names = np.array([("noise" if c < 0 else f"cluster {c}") for c in found.labels], dtype=object)
        order = [f"cluster {c}" for c in sorted(set(int(v) for v in found.labels) - {-1})]
        if (found.labels < 0).any():
            order.append("noise")
        scores = clusters.agreement(labels, found.labels, x, seed=spec.seed)
        out = Colouring(names, None, order, "cluster", raw=found.labels)
        out.metrics = {"clusters": float(found.k), "NMI": scores["nmi"], "ARI": scores["ari"],
                       "silhouette": scores["silhouette"]}
        if found.estimated:
            out.notes.append(f"k = {found.k} estimated: the k-means silhouette is best there (k = 2..20)")
        out.notes += [n for n in (found.note, scores["note"]) if n]
        return out
    if spec.colour_by == "factor":
        if spec.factor not in factors:
            known = ", ".join(factors) or "none (only the shapes dataset records factors)"
            raise ConfigError(f"factor: unknown '{spec.factor}'; this dataset's factors: {known}")
        values = np.asarray(factors[spec.factor])[rows]
        if values.dtype.kind in "US" or (values.dtype.kind in "iub" and len(np.unique(values)) <= 24):  # text: an
            # imported embedding's metadata column (sslviz/embeddings/imported.py)
            names = np.array([str(v) for v in values], dtype=object)
            return Colouring(names, None, [str(v) for v in sorted(set(values.tolist()))], spec.factor)
        return Colouring(None, values.astype(np.float64), [], spec.factor)
    from .neighbours import few_shot

    result = few_shot(emb.features[rows], labels, spec.per_class, seed=spec.seed)
    outcome = result.outcome()
    out = Colouring(outcome, None, [o for o in ("labelled", "right", "wrong", "unknown") if (outcome == o).any()],
                    f"{spec.per_class} labels per class", raw=outcome)
    out.metrics = {"few-shot accuracy": result.accuracy, "labelled points": float(result.labelled.sum())}
    out.notes.append(f"{spec.per_class} random labelled images per class (black) classify the rest by cosine kNN "
                     f"(k = {result.k}) on the embedding; green right, red wrong")
    return out
