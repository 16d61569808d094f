"""Project embeddings to 2D / 3D: UMAP (umap-learn), PCA and t-SNE, fast and cached.

umap-learn's defaults are slow on a laptop: its first call in a process compiles with numba for
many seconds, and its approximate nearest-neighbour search (pynndescent) dominates each fit. The
fast path here keeps umap-learn's algorithm and changes only how its inputs are made:

1. **Prepare** (`prepare_features`): L2-normalise for the cosine metric (the metric the kNN
   monitor uses), then PCA down to the components that keep `pca_variance` of the variance
   (95 %, at most 100 dimensions) when that is fewer than the input has. Distances between
   normalised vectors are preserved up to the dropped variance, so the neighbour graph -- and
   the picture -- stays the same (`bench_umap` measures the neighbour recall).
2. **Exact kNN graph** (`exact_knn`): one chunked torch matrix product and top-k, handed to
   umap-learn as `precomputed_knn`; exact, and faster than pynndescent at these sizes.
3. **Initialise** from the PCA of the prepared data (or a given layout, for aligned sequences)
   instead of the spectral embedding, and optimise for `n_epochs` = 200 epochs (umap-learn uses
   200 above 10,000 points, 500 below).
4. **Compile once**: numba's on-disk cache (NUMBA_CACHE_DIR, under the run store's cache) is
   switched on for umap-learn's and pynndescent's jitted functions, and `warm_up()` fits a tiny
   UMAP so that the first real projection finds everything compiled. The app calls
   `warm_up_in_background()` once per server process.

Results are cached as .npz files in the run directory (`projections/`), keyed by the source,
the epoch, the parameters and a fingerprint of the features. Above `max_points` a seeded random
subsample is projected, and `Projection.note` says so.

Evolution over checkpoints (`project_sequence`): the last snapshot is projected first; each
earlier one is initialised from the (aligned) layout of the one after it and then rotated onto
it with orthogonal Procrustes, so points move smoothly between frames instead of jumping.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import ConfigError

METHODS = {
    "umap": "UMAP (umap-learn): keeps local neighbourhoods, clusters stand out; the usual choice",
    "pca": "PCA: a linear view along the directions of largest variance; instant, honest about distances",
    "tsne": "t-SNE (scikit-learn): like UMAP, slower; cluster sizes and gaps carry no meaning",
}
METRICS = ("cosine", "euclidean")
DEFAULT_MAX_POINTS = 10_000
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
    pca_variance: float = 0.95  # PCA pre-reduction keeps this fraction of the variance (1.0: off)

    def validate(self) -> "ProjectionParams":
        if self.method not in METHODS:
            raise ConfigError(f"projection method: unknown '{self.method}'; choose one of {', '.join(METHODS)}")
        if self.dims not in (2, 3):
            raise ConfigError(f"projection dims: must be 2 or 3, got {self.dims!r}")
        if self.metric not in METRICS:
            raise ConfigError(f"metric: unknown '{self.metric}'; choose one of {', '.join(METRICS)}")
        if not isinstance(self.n_neighbors, int) or self.n_neighbors < 2 or self.n_neighbors > 200:
            raise ConfigError(f"n_neighbors: must be a whole number from 2 to 200, got {self.n_neighbors!r}")
        if not 0.0 <= float(self.min_dist) <= 1.0:
            raise ConfigError(f"min_dist: must be between 0 and 1, got {self.min_dist!r}")
        if not isinstance(self.max_points, int) or self.max_points < 10:
            raise ConfigError(f"sample size: must be a whole number ≥ 10, got {self.max_points!r}")
        if not isinstance(self.n_epochs, int) or not 10 <= self.n_epochs <= 2000:
            raise ConfigError(f"n_epochs: must be a whole number from 10 to 2000, got {self.n_epochs!r}")
        if not 2.0 <= float(self.perplexity) <= 100.0:
            raise ConfigError(f"perplexity: must be between 2 and 100, got {self.perplexity!r}")
        if not 0.5 <= float(self.pca_variance) <= 1.0:
            raise ConfigError(f"pca_variance: must be between 0.5 and 1, got {self.pca_variance!r}")
        return self

    def relevant(self) -> dict:
        """The fields that change the result of this method (the cache key uses only these)."""
        keep = {"method", "dims", "metric", "max_points", "seed", "pca_variance"}
        if self.method == "umap":
            keep |= {"n_neighbors", "min_dist", "n_epochs"}
        elif self.method == "tsne":
            keep |= {"perplexity"}
        return {k: v for k, v in asdict(self).items() if k in keep}

    def key(self) -> str:
        return hashlib.blake2b(json.dumps(self.relevant(), sort_keys=True).encode(), digest_size=6).hexdigest()

    def label(self) -> str:
        name = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}[self.method]
        extra = {
            "umap": f"n_neighbors {self.n_neighbors}, min_dist {self.min_dist:g}, {self.metric}",
            "pca": self.metric,
            "tsne": f"perplexity {self.perplexity:g}, {self.metric}",
        }[self.method]
        return f"{name} {self.dims}D ({extra})"


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
        if len(self.rows) < self.total:
            return (f"Showing a random {len(self.rows):,} of {self.total:,} points (sample-size limit "
                    f"{self.params.max_points:,}); raise it under the projection settings to see all.")
        return ""


# ---- numba: on-disk cache and warm-up ---------------------------------------------------------

_umap_lock = threading.Lock()


def configure_numba_cache(runs_dir: str | os.PathLike | None = None) -> str:
    """Point numba's on-disk cache at <run store>/cache/numba unless NUMBA_CACHE_DIR is set."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        try:
            from .paths import cache_dir

            path = cache_dir(runs_dir) / "numba"
            path.mkdir(parents=True, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = str(path)
        except OSError:
            pass  # a read-only store: numba compiles in memory, slower but correct
    if "numba" in sys.modules:  # numba read its config at import: make it see the folder
        try:
            from numba.core import config

            config.reload_config()
        except Exception:  # pragma: no cover - depends on numba internals
            pass
    return os.environ.get("NUMBA_CACHE_DIR", "")


def _caching_njit(original):
    """numba.njit with cache=True by default (falling back to no cache where numba can't)."""

    def njit(*args, **kwargs):
        if "cache" in kwargs:
            return original(*args, **kwargs)
        if args and callable(args[0]):  # njit(fn, ...) or a bare @njit
            try:
                return original(*args, cache=True, **kwargs)
            except Exception:
                return original(*args, **kwargs)
        decorator = original(*args, cache=True, **kwargs)  # njit("sig", ...) / njit(**options)

        def apply(fn):
            try:
                return decorator(fn)
            except Exception:
                return original(*args, **kwargs)(fn)

        return apply

    return njit


def import_umap():
    """Import umap-learn with numba's on-disk cache on for its (and pynndescent's) functions.

    umap-learn and pynndescent compile many functions without `cache=True`, so a fresh process
    recompiles them every time. Importing them while `numba.njit` defaults to cache=True makes
    the second server start load the machine code from NUMBA_CACHE_DIR instead.
    """
    if "umap" in sys.modules:
        return sys.modules["umap"]
    configure_numba_cache()
    import numba

    original = numba.njit
    numba.njit = _caching_njit(original)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    finally:
        numba.njit = original
    return umap


_warm = {"done": False, "seconds": None, "error": None}


def warm_up() -> float:
    """Compile (or load from the disk cache) everything a projection needs: a tiny UMAP fit."""
    if _warm["done"]:
        return 0.0
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    project(x, ProjectionParams(n_epochs=20, max_points=300))
    project(x, ProjectionParams(n_epochs=20, max_points=300, dims=3))
    _warm.update(done=True, seconds=time.perf_counter() - t0)
    return _warm["seconds"]


def warm_state() -> dict:
    return dict(_warm)


# ---- preparation, kNN, layouts ----------------------------------------------------------------


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a seeded random subsample (all of them when n ≤ max_points)."""
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False)).astype(np.int64)


def check_finite(features: np.ndarray) -> None:
    from .embeddings import NonFiniteEmbedding

    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise NonFiniteEmbedding(
            f"{int(bad.sum()):,} of {len(features):,} embeddings contain NaN or infinite values: the run "
            "diverged or collapsed at this checkpoint; pick an earlier epoch"
        )


def prepare_features(features: np.ndarray, metric: str = "cosine", pca_variance: float = 0.95,
                     max_dims: int = 100, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Normalise (cosine) and PCA-reduce where it keeps `pca_variance` of the variance.

    Returns (float32 n × d array, info). Euclidean distances on the result approximate cosine
    (metric="cosine") or Euclidean distances on the input.
    """
    import torch

    x = torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32))
    info = {"input_dims": int(x.shape[1])}
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    n, d = x.shape
    if pca_variance >= 1.0 or d <= 3 or n < 4:
        info.update(dims=int(d), variance_kept=1.0)
        return x.numpy(), info
    mean = x.mean(0, keepdim=True)
    xc = x - mean
    total = float((xc * xc).sum()) / max(n - 1, 1)
    if total <= 0:
        info.update(dims=int(d), variance_kept=1.0)
        return x.numpy(), info
    g = torch.Generator().manual_seed(seed)
    fit = xc[torch.randperm(n, generator=g)[:5000]] if n > 5000 else xc
    if d <= 512:
        cov = fit.T @ fit / max(fit.shape[0] - 1, 1)
        evals, evecs = torch.linalg.eigh(cov.double())
        evals, evecs = evals.flip(0).clamp_min(0).float(), evecs.flip(1).float()
    else:  # wide inputs (raw pixels): randomised SVD on a subsample
        torch.manual_seed(seed)
        q = min(max_dims + 10, d, fit.shape[0])
        _, s, v = torch.pca_lowrank(fit, q=q, center=False, niter=3)
        evals, evecs = s**2 / max(fit.shape[0] - 1, 1), v
    ratio = torch.cumsum(evals, 0) / total
    k = int(torch.searchsorted(ratio, torch.tensor(pca_variance)).item()) + 1
    k = max(3, min(k, max_dims, evecs.shape[1]))
    if k >= d:
        info.update(dims=int(d), variance_kept=1.0)
        return x.numpy(), info
    basis = evecs[:, :k]
    signs = torch.sign(basis[basis.abs().argmax(0), torch.arange(k)])  # deterministic signs
    out = (xc @ (basis * signs)).contiguous()
    info.update(dims=k, variance_kept=round(float(ratio[k - 1].clamp(max=1.0)), 4))
    return out.numpy(), info


def exact_knn(x: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (Euclidean, the point itself first): (indices int64, distances float32)."""
    import torch

    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    n = t.shape[0]
    k = min(k, n)
    sq = (t * t).sum(1)
    idx_out = np.empty((n, k), dtype=np.int64)
    dist_out = np.empty((n, k), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, n, chunk):
            q = t[s : s + chunk]
            d2 = sq[s : s + chunk, None] + sq[None, :] - 2.0 * (q @ t.T)
            rows = torch.arange(q.shape[0])
            d2[rows, rows + s] = -1.0  # the point itself comes first, even among duplicates
            vals, idx = torch.topk(d2, k, dim=1, largest=False)
            idx_out[s : s + chunk] = idx.numpy()
            dist_out[s : s + chunk] = vals.clamp_min(0).sqrt().numpy()
    dist_out[:, 0] = 0.0
    return idx_out, dist_out


def _pca_coords(x: np.ndarray, dims: int) -> np.ndarray:
    """First `dims` principal components of x (deterministic signs), float32."""
    xc = x - x.mean(0, keepdims=True)
    if xc.shape[1] < dims:
        xc = np.pad(xc, ((0, 0), (0, dims - xc.shape[1])))
    _, _, vt = np.linalg.svd(xc[:: max(1, len(xc) // 5000)].astype(np.float64), full_matrices=False)
    basis = vt[:dims].T
    basis *= np.sign(basis[np.abs(basis).argmax(0), np.arange(dims)])
    return (xc @ basis).astype(np.float32)


def _scaled_init(coords: np.ndarray, seed: int) -> np.ndarray:
    """umap-learn's noisy_scale_coords: largest |coordinate| 10, a little noise to break ties."""
    coords = np.asarray(coords, dtype=np.float64)
    coords = coords - coords.mean(0)
    scale = np.abs(coords).max()
    coords = coords * (10.0 / scale) if scale > 0 else coords
    rng = np.random.default_rng(seed)
    return (coords + rng.normal(scale=1e-4, size=coords.shape)).astype(np.float32)


def umap_layout(x: np.ndarray, params: ProjectionParams, init: np.ndarray | None = None,
                info: dict | None = None) -> np.ndarray:
    """UMAP of prepared features x (Euclidean ≈ the chosen metric) with an exact kNN graph."""
    info = info if info is not None else {}
    umap = import_umap()
    t0 = time.perf_counter()
    k = params.n_neighbors
    idx, dist = exact_knn(x, k)
    if params.metric == "cosine":  # Euclidean on unit vectors -> cosine distance 1 - cos = d² / 2
        dist = dist * dist / 2.0
    info["knn_seconds"] = round(time.perf_counter() - t0, 3)
    start = _scaled_init(init if init is not None else _pca_coords(x, params.dims), params.seed)
    t1 = time.perf_counter()
    with _umap_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(
            n_neighbors=k, n_components=params.dims, min_dist=params.min_dist,
            metric="cosine" if params.metric == "cosine" else "euclidean",
            precomputed_knn=(idx.astype(np.int32), dist.astype(np.float32)),
            n_epochs=params.n_epochs, init=start, random_state=params.seed,
            low_memory=True, verbose=False,
        )
        coords = reducer.fit_transform(x)
    info["umap_seconds"] = round(time.perf_counter() - t1, 3)
    return np.asarray(coords, dtype=np.float32)


def tsne_layout(x: np.ndarray, params: ProjectionParams) -> np.ndarray:
    from sklearn.manifold import TSNE

    n = len(x)
    perplexity = min(float(params.perplexity), max(2.0, (n - 1) / 3.0))
    tsne = TSNE(n_components=params.dims, perplexity=perplexity, init="pca", random_state=params.seed,
                method="barnes_hut" if params.dims <= 3 else "exact", learning_rate="auto")
    return tsne.fit_transform(x).astype(np.float32)


def min_points(params: ProjectionParams) -> int:
    """The fewest points this projection can be made of."""
    if params.method == "umap":
        return params.n_neighbors + 1
    if params.method == "tsne":
        return 8
    return 3


def project(features: np.ndarray, params: ProjectionParams | None = None, *, cache: str | Path | None = None,
            init: np.ndarray | None = None) -> Projection:
    """Project an n × D embedding; read from / write to `cache` (an .npz path) when given."""
    from .embeddings import TooFewPoints

    params = (params or ProjectionParams()).validate()
    features = np.asarray(features)
    if features.ndim != 2:
        raise ConfigError(f"features: expected an n × D array, got shape {features.shape}")
    total = len(features)
    if cache is not None:
        hit = load_cached(cache, params, total)
        if hit is not None:
            return hit
    check_finite(features)
    need = min_points(params)
    rows = subsample(total, params.max_points, params.seed)
    if len(rows) < need:
        what = f"UMAP with n_neighbors={params.n_neighbors}" if params.method == "umap" else params.label().split(" (")[0]
        hint = " (lower n_neighbors, or use PCA)" if params.method == "umap" else ""
        raise TooFewPoints(f"{what} needs at least {need} points; this embedding has {len(rows)}{hint}")
    t0 = time.perf_counter()
    x, info = prepare_features(features[rows], params.metric, params.pca_variance, seed=params.seed)
    info["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    if params.method == "pca":
        coords = _pca_coords(x, params.dims)
    elif params.method == "umap":
        coords = umap_layout(x, params, init=init, info=info)
    else:
        coords = tsne_layout(x, params)
    proj = Projection(coords=coords, rows=rows, params=params, total=total,
                      seconds=round(time.perf_counter() - t0, 3), info=info)
    if cache is not None:
        save_cached(cache, proj)
    return proj


# ---- alignment and sequences ------------------------------------------------------------------


def procrustes_align(coords: np.ndarray, reference: np.ndarray, scale: bool = True) -> np.ndarray:
    """Rotate / reflect (and scale) coords onto reference (same rows): orthogonal Procrustes."""
    from scipy.linalg import orthogonal_procrustes

    a = np.asarray(coords, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    if not np.any(a0) or not np.any(b0):
        return (a0 + mb).astype(np.float32)
    r, s = orthogonal_procrustes(a0, b0)
    factor = s / (a0 * a0).sum() if scale else 1.0
    return (a0 @ r * factor + mb).astype(np.float32)


def align_to(proj: Projection, reference: Projection) -> Projection:
    """`proj` rotated onto `reference` over the rows both share (cheap; for a consistent orientation)."""
    common, ia, ib = np.intersect1d(proj.rows, reference.rows, return_indices=True)
    if len(common) < proj.params.dims + 1 or proj.coords.shape[1] != reference.coords.shape[1]:
        return proj
    from scipy.linalg import orthogonal_procrustes

    a, b = proj.coords[ia].astype(np.float64), reference.coords[ib].astype(np.float64)
    ma, mb = a.mean(0), b.mean(0)
    r, s = orthogonal_procrustes(a - ma, b - mb)
    factor = s / max(((a - ma) ** 2).sum(), 1e-12)
    coords = ((proj.coords - ma) @ r * factor + mb).astype(np.float32)
    return replace(proj, coords=coords, info={**proj.info, "aligned_to": reference.params.key()})


def project_sequence(features_list: list[np.ndarray], params: ProjectionParams, caches: list | None = None,
                     progress=None) -> list[Projection]:
    """Aligned projections of several snapshots of the same images (oldest first).

    The last one is projected on its own (and is the same as `project` gives, so the Explore view
    and the last frame agree); each earlier one starts from the aligned layout of the one after it
    (UMAP) and is Procrustes-aligned to it. `progress(done, total)` is called after each frame.
    """
    n = len(features_list)
    if n == 0:
        return []
    caches = caches or [None] * n
    out: list[Projection | None] = [None] * n
    last = project(features_list[-1], params, cache=caches[-1])
    out[-1] = last
    if progress:
        progress(1, n)
    for i in range(n - 2, -1, -1):
        nxt = out[i + 1]
        seq_cache = None if caches[i] is None else Path(str(caches[i]).replace(".npz", f"-seq{nxt.params.key()}.npz"))
        hit = load_cached(seq_cache, params, len(features_list[i])) if seq_cache else None
        if hit is not None:
            out[i] = hit
        else:
            init = nxt.coords if params.method == "umap" and len(features_list[i]) == nxt.total else None
            proj = project(features_list[i], params, init=init)
            if proj.coords.shape == nxt.coords.shape and np.array_equal(proj.rows, nxt.rows):
                proj = replace(proj, coords=procrustes_align(proj.coords, nxt.coords))
            out[i] = proj
            if seq_cache:
                save_cached(seq_cache, proj)
        if progress:
            progress(n - i, n)
    return out  # type: ignore[return-value]


# ---- cache --------------------------------------------------------------------------------------


def fingerprint(features: np.ndarray) -> str:
    """A short content hash of an embedding (so a cache entry can never belong to other data)."""
    a = np.ascontiguousarray(features)
    h = hashlib.blake2b(digest_size=6)
    h.update(str((a.shape, a.dtype.str)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def cache_path(run_dir: str | Path, source: str, epoch: int | None, params: ProjectionParams,
               features: np.ndarray | None = None) -> Path:
    """run_dir/projections/<source>-e<epoch>-<params key>[-<features fingerprint>].npz"""
    ep = "base" if epoch is None else f"e{int(epoch):04d}"
    fp = f"-{fingerprint(features)}" if features is not None else ""
    return Path(run_dir) / PROJECTION_DIR / f"{source}-{ep}-{params.key()}{fp}.npz"


def load_cached(path: str | Path | None, params: ProjectionParams, total: int) -> Projection | None:
    if path is None:
        return None
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("params") != params.relevant() or int(meta.get("total", -1)) != total:
                return None
            return Projection(coords=z["coords"].astype(np.float32), rows=z["rows"].astype(np.int64), params=params,
                              total=total, seconds=float(meta.get("seconds", 0.0)), cached=True,
                              info=meta.get("info", {}))
    except (OSError, KeyError, ValueError, EOFError):
        return None
    except Exception:  # a truncated or foreign file: recompute
        return None


def save_cached(path: str | Path, proj: Projection) -> bool:
    """Write atomically; a read-only run directory just means no cache (returns False)."""
    from .runs import atomic_write_bytes

    path = Path(path)
    meta = {"params": proj.params.relevant(), "total": proj.total, "seconds": proj.seconds, "info": proj.info}
    buf = io.BytesIO()
    np.savez(buf, coords=proj.coords.astype(np.float32), rows=proj.rows.astype(np.int64), meta=np.array(json.dumps(meta)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
        return True
    except OSError:
        return False


# ---- background -----------------------------------------------------------------------------------


class Background:
    """One background thread for projections in this process (the Streamlit server's).

    Jobs are de-duplicated by key, so that many browser tabs asking for the same projection share
    one computation. numba's compiled loops hand the GIL back between UMAP epochs, so the server
    stays responsive while a projection runs. The warm-up is the first job.
    """

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sslviz-projection")
        self._jobs: dict[str, Future] = {}
        self._progress: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, fn, *args, **kwargs) -> Future:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not (job.done() and job.exception() is not None):
                return job
            if len(self._jobs) > 64:  # forget finished jobs (their results live in the cache)
                for k in [k for k, f in self._jobs.items() if f.done()][:32]:
                    self._jobs.pop(k, None)
                    self._progress.pop(k, None)
            job = self._pool.submit(fn, *args, **kwargs)
            self._jobs[key] = job
            return job

    def get(self, key: str) -> Future | None:
        return self._jobs.get(key)

    def set_progress(self, key: str, done: int, total: int) -> None:
        self._progress[key] = (done, total)

    def progress(self, key: str) -> tuple[int, int] | None:
        return self._progress.get(key)


_background: Background | None = None
_background_lock = threading.Lock()


def background() -> Background:
    global _background
    with _background_lock:
        if _background is None:
            _background = Background()
        return _background


def warm_up_in_background() -> Future:
    """Start the warm-up once per process (the first job of the background thread)."""

    def run():
        try:
            return warm_up()
        except Exception as exc:  # never fatal: the first projection just compiles itself
            _warm["error"] = f"{type(exc).__name__}: {exc}"
            return None

    return background().submit("warm-up", run)
