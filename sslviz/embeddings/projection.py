"""Project embeddings to 2D / 3D: UMAP (umap-learn), PCA and t-SNE (scikit-learn), cached.

    project(features, ProjectionParams(...), cache=path) -> Projection(.coords, .rows, ...)

- UMAP goes through the fast path of `sslviz.embeddings.umap_fast` (exact kNN graph, PCA pre-reduction,
  PCA initialisation) and the graph and optimiser of `sslviz.embeddings.umap_sgd` (engine="umap-learn"
  hands the same graph and start to umap-learn instead); PCA is the first components of the
  same prepared features, so the PCA view shown while UMAP computes and UMAP's starting layout
  agree.
- The metric (cosine by default, the one the kNN monitor uses) applies to all methods: for
  cosine, the features are L2-normalised first, so PCA and t-SNE see what UMAP sees.
- Above `max_points` (default 100,000: whole datasets are drawn) a seeded random subsample is projected
  and `Projection.note` says so; t-SNE is capped at TSNE_MAX_POINTS the same way.
- Results are cached as .npz files in the run directory (`projections/`), named by the source,
  the epoch, the parameters that change the result and a fingerprint of the features; a cache
  file that does not match its parameters (or cannot be read) is recomputed, and a read-only
  run directory just means no cache.

Evolution over checkpoints (aligned sequences) lives in `sslviz.embeddings.alignment`; the background
thread and the warm-up in `sslviz.embeddings.projection_jobs`.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sslviz.core.errors import ConfigError

from .umap_fast import ENGINES  # who optimises a UMAP layout (umap_fast.umap_layout)

METHODS = {
    "umap": "UMAP (umap-learn): keeps local neighbourhoods, clusters stand out; the usual choice",
    "pca": "PCA: a linear view along the directions of largest variance; instant, honest about distances",
    "tsne": "t-SNE (scikit-learn): like UMAP, slower; cluster sizes and gaps carry no meaning",
}
METHOD_NAMES = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
METRICS = ("cosine", "euclidean")
DEFAULT_MAX_POINTS = 100_000  # the whole test set or more (full MNIST: 70,000) is drawn; the 2-D plot is WebGL
MAX_POINTS_INPUT = 250_000  # the page's sample-size input goes up to this
TSNE_MAX_POINTS = 20_000  # t-SNE (Barnes-Hut, scikit-learn) takes minutes above this: a seeded sample of it
PROJECTION_DIR = "projections"


@dataclass(frozen=True)
class ProjectionParams:
    """What to compute. The defaults are good for SSL embeddings of 1,000-10,000 images."""

    method: str = "umap"  # umap | pca | tsne
    dims: int = 2  # 2 or 3
    n_neighbors: int = 15  # UMAP: size of the neighbourhood each point looks at (local vs global)
    min_dist: float = 0.1  # UMAP: how tightly points may pack (0 = tight clumps, 0.99 = even spread)
    metric: str = "cosine"  # cosine | euclidean, on the raw embedding
    max_points: int = DEFAULT_MAX_POINTS  # above this a seeded random subsample is projected
    seed: int = 0
    n_epochs: int = 200  # UMAP optimisation epochs
    perplexity: float = 30.0  # t-SNE
    tsne_iterations: int = 1000  # t-SNE: optimisation steps (scikit-learn's max_iter; 250 of them exaggerated)
    pca_variance: float = 0.95  # PCA pre-reduction keeps this fraction of the variance (1.0: off)
    engine: str = "sslviz"  # UMAP: "sslviz" (sslviz.embeddings.umap_sgd, the fast default) or "umap-learn" (its own code)

    def validate(self) -> "ProjectionParams":
        def whole(value) -> bool:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        if self.method not in METHODS:
            raise ConfigError(f"projection method: unknown '{self.method}'; choose one of {', '.join(METHODS)}")
        if self.dims not in (2, 3):
            raise ConfigError(f"projection dims: must be 2 or 3, got {self.dims!r}")
        if self.metric not in METRICS:
            raise ConfigError(f"metric: unknown '{self.metric}'; choose one of {', '.join(METRICS)}")
        if not whole(self.n_neighbors) or not 2 <= self.n_neighbors <= 200:
            raise ConfigError(f"n_neighbors: must be a whole number from 2 to 200, got {self.n_neighbors!r}")
        if not 0.0 <= float(self.min_dist) <= 1.0:
            raise ConfigError(f"min_dist: must be between 0 and 1, got {self.min_dist!r}")
        if not whole(self.max_points) or self.max_points < 10:
            raise ConfigError(f"sample size: must be a whole number ≥ 10, got {self.max_points!r}")
        if not whole(self.n_epochs) or not 10 <= self.n_epochs <= 2000:
            raise ConfigError(f"n_epochs: must be a whole number from 10 to 2000, got {self.n_epochs!r}")
        if not 2.0 <= float(self.perplexity) <= 100.0:
            raise ConfigError(f"perplexity: must be between 2 and 100, got {self.perplexity!r}")
        if not whole(self.tsne_iterations) or not 250 <= self.tsne_iterations <= 5000:
            raise ConfigError(f"tsne_iterations: must be a whole number from 250 to 5000, got {self.tsne_iterations!r}")
        if self.engine not in ENGINES:
            raise ConfigError(f"UMAP engine: unknown '{self.engine}'; choose one of {', '.join(ENGINES)}")
        if not 0.5 <= float(self.pca_variance) <= 1.0:
            raise ConfigError(f"pca_variance: must be between 0.5 and 1, got {self.pca_variance!r}")
        return self

    def relevant(self) -> dict:
        """The fields that change the result of this method (the cache key uses only these)."""
        keep = {"method", "dims", "metric", "max_points", "seed"}
        if self.method == "umap":
            keep |= {"n_neighbors", "min_dist", "n_epochs", "pca_variance", "engine"}
        elif self.method == "tsne":
            keep |= {"perplexity", "pca_variance"}
        if self.method == "tsne" and self.tsne_iterations != 1000:  # only then: caches made before it keep their keys
            keep.add("tsne_iterations")
        out = {k: v for k, v in asdict(self).items() if k in keep}
        return {k: (float(v) if isinstance(v, float) else v) for k, v in out.items()}

    def key(self) -> str:
        return hashlib.blake2b(json.dumps(self.relevant(), sort_keys=True).encode(), digest_size=6).hexdigest()

    def label(self) -> str:
        extra = {
            "umap": f"n_neighbors {self.n_neighbors}, min_dist {self.min_dist:g}, {self.metric}",
            "pca": self.metric,
            "tsne": f"perplexity {self.perplexity:g}, {self.metric}",
        }[self.method]
        return f"{METHOD_NAMES[self.method]} {self.dims}D ({extra})"


@dataclass
class Projection:
    """coords[i] is the position of embedding row rows[i]."""

    coords: np.ndarray  # n × dims, float32
    rows: np.ndarray  # int64 positions in the projected embedding (a subsample above max_points)
    params: ProjectionParams
    total: int  # points in the embedding before subsampling
    seconds: float = 0.0
    cached: bool = False
    info: dict = field(default_factory=dict)  # prepared dims, variance kept, stage timings, ...

    @property
    def note(self) -> str:
        """A visible note when only a subsample is shown (empty otherwise)."""
        if len(self.rows) < self.total and self.params.method == "tsne" and len(self.rows) < self.params.max_points:
            return (f"Showing a random {len(self.rows):,} of {self.total:,} points: t-SNE is capped at "
                    f"{TSNE_MAX_POINTS:,} points (it takes minutes above); UMAP and PCA draw them all.")
        if len(self.rows) < self.total:
            return (f"Showing a random {len(self.rows):,} of {self.total:,} points (sample-size limit "
                    f"{self.params.max_points:,}); raise it under the projection settings to see all.")
        return ""


# ---- checks and subsampling --------------------------------------------------------------------


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a seeded random subsample (all of them when n ≤ max_points)."""
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False)).astype(np.int64)


def min_points(params: ProjectionParams) -> int:
    """The fewest points this projection can be made of."""
    if params.method == "umap":
        return params.n_neighbors + 1
    if params.method == "tsne":
        return 8
    return 3


def check_projectable(features: np.ndarray, params: ProjectionParams, rows: np.ndarray) -> None:
    """Raise NonFiniteEmbedding / TooFewPoints with a message that says what to change."""
    from .embedding import NonFiniteEmbedding, TooFewPoints

    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise NonFiniteEmbedding(
            f"{int(bad.sum()):,} of {len(features):,} embeddings contain NaN or infinite values: the run "
            "diverged or collapsed at this checkpoint; pick an earlier epoch"
        )
    need = min_points(params)
    if len(rows) < need:
        if params.method == "umap":
            raise TooFewPoints(f"UMAP with n_neighbors={params.n_neighbors} needs at least {need} points; this "
                               f"embedding has {len(rows)} (lower n_neighbors below {len(rows)}, or use PCA)")
        raise TooFewPoints(f"{METHOD_NAMES[params.method]} needs at least {need} points; this embedding has {len(rows)}")


# ---- the methods ----------------------------------------------------------------------------------


def tsne_layout(x: np.ndarray, params: ProjectionParams) -> np.ndarray:
    import inspect

    from sklearn.manifold import TSNE

    perplexity = min(float(params.perplexity), max(2.0, (len(x) - 1) / 3.0))
    steps = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"  # renamed in scikit-learn 1.5
    tsne = TSNE(n_components=params.dims, perplexity=perplexity, init="pca", random_state=params.seed,
                learning_rate="auto", method="barnes_hut", **{steps: int(params.tsne_iterations)})
    return tsne.fit_transform(np.ascontiguousarray(x[:, :50])).astype(np.float32)


def project(features: np.ndarray, params: ProjectionParams | None = None, *, cache: str | Path | None = None,
            init: np.ndarray | None = None) -> Projection:
    """Project an n × D embedding; read from / write to `cache` (an .npz path) when given.

    init: a starting layout for UMAP (n_rows × dims), used by aligned sequences.
    Raises ConfigError (bad parameters), NonFiniteEmbedding, TooFewPoints.
    """
    from . import umap_fast

    params = (params or ProjectionParams()).validate()
    features = np.asarray(features)
    if features.ndim != 2:
        raise ConfigError(f"features: expected an n × D array, got shape {features.shape}")
    total = len(features)
    if cache is not None:
        hit = load_cached(cache, params, total)
        if hit is not None:
            return hit
    limit = min(params.max_points, TSNE_MAX_POINTS) if params.method == "tsne" else params.max_points
    rows = subsample(total, limit, params.seed)
    check_projectable(features, params, rows)
    t0 = time.perf_counter()
    variance = 1.0 if params.method == "pca" else params.pca_variance
    x, info = umap_fast.prepare_features(features[rows], params.metric, variance, seed=params.seed)
    info["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    if params.method == "pca":
        coords = umap_fast.pca_coords(x, params.dims, info)
    elif params.method == "umap":
        coords = umap_fast.umap_layout(x, dims=params.dims, n_neighbors=params.n_neighbors, min_dist=params.min_dist,
                                       metric=params.metric, n_epochs=params.n_epochs, seed=params.seed, init=init,
                                       engine=params.engine,
                                       prepared_info=info, info=info)
    else:
        coords = tsne_layout(x, params)
    proj = Projection(coords=np.ascontiguousarray(coords, dtype=np.float32), rows=rows, params=params, total=total,
                      seconds=round(time.perf_counter() - t0, 3), info=info)
    if cache is not None:
        save_cached(cache, proj)
    return proj


# ---- cache ----------------------------------------------------------------------------------------


_fingerprints: dict[int, tuple] = {}  # id(array) -> (weak reference, shape, hash): arrays the server keeps


def fingerprint(features: np.ndarray) -> str:
    """A short content hash of an embedding (so a cache entry can never belong to other data).

    Remembered per array object while it lives (the server keeps loaded embeddings and reuses
    them on every rerun: hashing raw pixels, 24 MB, took 30 ms a page). Embeddings are never
    written in place, which is what makes this safe."""
    entry = _fingerprints.get(id(features))
    if entry is not None and entry[0]() is features and entry[1] == features.shape:
        return entry[2]
    a = np.ascontiguousarray(features)
    h = hashlib.blake2b(digest_size=6)
    h.update(str((a.shape, a.dtype.str)).encode())
    h.update(memoryview(a).cast("B"))
    digest = h.hexdigest()
    try:
        key = id(features)
        ref = weakref.ref(features, lambda _, key=key: _fingerprints.pop(key, None))
        _fingerprints[key] = (ref, features.shape, digest)
    except TypeError:  # not weak-referenceable (a plain view of a buffer): just not remembered
        pass
    return digest


def cache_path(run_dir: str | Path, source: str, epoch: int | None, params: ProjectionParams,
               features: np.ndarray | None = None, tag: str = "") -> Path:
    """run_dir/projections/<source>-e<epoch>-<params key>[-<features fingerprint>][-<tag>].npz"""
    ep = "base" if epoch is None else f"e{int(epoch):04d}"
    fp = f"-{fingerprint(features)}" if features is not None else ""
    tail = f"-{tag}" if tag else ""
    return Path(run_dir) / PROJECTION_DIR / f"{source}-{ep}-{params.key()}{fp}{tail}.npz"


def load_cached(path: str | Path | None, params: ProjectionParams, total: int) -> Projection | None:
    """The cached projection at `path` if it was made with these parameters of `total` points."""
    if path is None:
        return None
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("params") != params.relevant() or int(meta.get("total", -1)) != total:
                return None
            coords, rows = z["coords"].astype(np.float32), z["rows"].astype(np.int64)
    except Exception:  # missing, truncated or foreign: recompute
        return None
    if coords.shape != (len(rows), params.dims) or (len(rows) and (rows.min() < 0 or rows.max() >= total)):
        return None
    return Projection(coords=coords, rows=rows, params=params, total=total, seconds=float(meta.get("seconds", 0.0)),
                      cached=True, info=meta.get("info", {}))


def save_cached(path: str | Path, proj: Projection) -> bool:
    """Write atomically; a read-only run directory just means no cache (returns False)."""
    from sslviz.core.files import atomic_write_bytes

    path = Path(path)
    meta = {"params": proj.params.relevant(), "total": proj.total, "seconds": proj.seconds, "info": proj.info}
    buf = io.BytesIO()
    np.savez(buf, coords=proj.coords.astype(np.float32), rows=proj.rows.astype(np.int64),
             meta=np.array(json.dumps(meta, default=float)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
        return True
    except OSError:
        return False
