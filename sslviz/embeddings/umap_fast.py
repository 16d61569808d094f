"""The fast path to a UMAP layout: umap-learn's algorithm, with its slow inputs made fast.

umap-learn spends most of a default call on three things that do not change the picture:

1. **Compiling.** Its numba functions (and pynndescent's) are jitted without `cache=True`, so
   every fresh process recompiles them. The default path does not use them: the graph and the
   optimiser are `sslviz.embeddings.umap_sgd`, whose numba functions are cached on disk
   (NUMBA_CACHE_DIR, by default `<run store>/cache/numba`), so the next server start loads them.
   umap-learn itself (engine="umap-learn", the reference) is imported as it is: nothing of numba
   is patched in the process.
2. **The neighbour search.** pynndescent's approximate search (and its compilation) is replaced
   by an exact kNN graph (`exact_knn`: one chunked torch matrix product and top-k) up to 20,000
   points, and above that by a search among the points of nearby cells (`knn_cells`): at 70,000
   real-image features it keeps 89 % of the exact neighbours in a fifth of the time (umap-learn's
   NN-descent is approximate too).
3. **The dimension.** `prepare_features` L2-normalises for the cosine metric and projects onto
   the principal components that keep `pca_variance` (95 %, at most 100 dimensions).
   Distances move by at most the dropped variance, so the neighbour graph hardly changes
   (bench/bench_umap.py measures neighbour recall against umap-learn's defaults).

The layout starts, as umap-learn's does, from the graph's spectral embedding (from the first
principal components, which `prepare_features` already computed, where the graph has several
pieces), and is optimised for a fixed number of epochs (default 200, what umap-learn itself uses
above 10,000 points) by `sslviz.embeddings.umap_sgd` on every core, reproducibly:
umap-learn's graph and optimiser written out, faster, and without umap-learn's import (the
speed-up, measured side by side: BENCHMARKS.md, "UMAP"; engine="umap-learn" runs umap-learn's own
optimiser on the same graph, and tests/test_umap_sgd.py holds the two level at the app's settings).
Distances are cosine distances (1 - cos = d² / 2 between unit vectors), exactly what umap-learn
computes with metric="cosine".
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import warnings
from collections import OrderedDict

import numpy as np

_lock = threading.Lock()  # one UMAP layout at a time per process (umap-learn's numba threads are shared)
ENGINES = ("sslviz", "umap-learn")  # who optimises a UMAP layout: sslviz.embeddings.umap_sgd, or umap-learn itself


# ---- numba: on-disk cache ------------------------------------------------------------------------


def configure_numba_cache(runs_dir: str | os.PathLike | None = None) -> str:
    """Point numba's on-disk cache at <run store>/cache/numba unless NUMBA_CACHE_DIR is set."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        try:
            from sslviz.core.paths import cache_dir

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


_import_lock = threading.Lock()


def import_umap():
    """umap-learn as it is (the reference engine; the default path never imports it)."""
    if "umap" in sys.modules:
        return sys.modules["umap"]
    with _import_lock:
        if "umap" in sys.modules:
            return sys.modules["umap"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
        return umap


# ---- preparation and the kNN graph -------------------------------------------------------------


_prepared: "OrderedDict[tuple, tuple[np.ndarray, dict]]" = OrderedDict()
_prepared_lock = threading.Lock()
PREPARED_CACHE = 8  # the last few inputs: every tab of a class, every projection and clustering of them


def prepare_features(features: np.ndarray, metric: str = "cosine", pca_variance: float = 0.95,
                     max_dims: int = 100, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Normalise (cosine) and rotate onto principal axes, keeping `pca_variance` of the variance.

    Returns (float32 n × d array, info). The columns are principal components in decreasing
    order of variance (info["pca_basis"] is True), so `x[:, :2]` is the 2-D PCA. Euclidean
    distances on the result approximate cosine (metric="cosine": chord distances between unit
    vectors) or Euclidean distances on the input.

    The result is remembered for the last PREPARED_CACHE inputs (keyed by their content): a UMAP
    with other n_neighbors, a t-SNE, the clusters and the PCA of one embedding all start from
    the same prepared array, and raw pixels take a randomised SVD of thousands of dimensions.
    """
    a = np.ascontiguousarray(features, dtype=np.float32)
    key = (hashlib.blake2b(a.tobytes(), digest_size=12).hexdigest(), a.shape, metric, float(pca_variance),
           int(max_dims), int(seed))
    with _prepared_lock:
        hit = _prepared.get(key)
        if hit is not None:
            _prepared.move_to_end(key)
    if hit is None:
        hit = _prepare(a, metric, pca_variance, max_dims, seed)
        with _prepared_lock:
            _prepared[key] = hit
            while len(_prepared) > PREPARED_CACHE:
                _prepared.popitem(last=False)
    return hit[0].copy(), dict(hit[1])


def _prepare(features: np.ndarray, metric: str, pca_variance: float, max_dims: int, seed: int) -> tuple[np.ndarray, dict]:
    import torch

    x = torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32))
    info: dict = {"input_dims": int(x.shape[1])}
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    n, d = x.shape
    xc = x - x.mean(0, keepdim=True)
    total = float((xc * xc).sum()) / max(n - 1, 1)
    if d == 0 or n < 2 or total <= 0:
        info.update(dims=int(d), variance_kept=1.0, pca_basis=False)
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
    if pca_variance >= 1.0:
        k = min(d, evecs.shape[1])
    else:
        k = int(torch.searchsorted(ratio, torch.tensor(float(pca_variance))).item()) + 1
        k = max(min(3, evecs.shape[1]), min(k, max_dims, evecs.shape[1]))
    basis = evecs[:, :k]
    signs = torch.sign(basis[basis.abs().argmax(0), torch.arange(k)])  # deterministic signs
    signs[signs == 0] = 1
    out = (xc @ (basis * signs)).contiguous()
    kept = 1.0 if k >= d else round(float(ratio[k - 1].clamp(max=1.0)), 4)
    info.update(dims=int(k), variance_kept=kept, pca_basis=True)
    return out.numpy(), info


def pca_coords(x: np.ndarray, dims: int, info: dict | None = None) -> np.ndarray:
    """The first `dims` principal components of prepared features (free when already rotated)."""
    if info is None or not info.get("pca_basis"):
        x, _ = prepare_features(x, metric="euclidean", pca_variance=1.0)
    out = np.asarray(x[:, :dims], dtype=np.float32)
    if out.shape[1] < dims:  # fewer input dimensions than asked for
        out = np.pad(out, ((0, 0), (0, dims - out.shape[1])))
    return np.ascontiguousarray(out)


def exact_knn(x: np.ndarray, k: int, chunk: int = 512, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by Euclidean distance, each point first in its own list.

    `chunk` query rows at a time against `block` points at a time: each block's k best, then the k
    best of those. A chunk × block matrix of distances stays in the processor's cache, where one
    row of distances to every point would go to memory and back (1.5x faster at 20,000 points).
    Returns (indices int64 n × k, distances float32 n × k).
    """
    import torch

    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    n = t.shape[0]
    k = min(k, n)
    sq = (t * t).sum(1)
    tt = t.T.contiguous()
    idx_out = np.empty((n, k), dtype=np.int64)
    dist_out = np.empty((n, k), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, n, chunk):
            q = t[s : s + chunk]
            rows = torch.arange(q.shape[0])
            best_d, best_i = [], []
            for c in range(0, n, block):
                # |q - t|² = |q|² + |t|² - 2 q·t; |q|² is the same along a row, so rank without it
                d2 = torch.addmm(sq[None, c : c + block], q, tt[:, c : c + block], alpha=-2.0)
                own = (rows + s >= c) & (rows + s < c + d2.shape[1])
                d2[rows[own], rows[own] + s - c] = -float("inf")  # the point itself first, even among duplicates
                vals, idx = torch.topk(d2, min(k, d2.shape[1]), dim=1, largest=False)
                best_d.append(vals)
                best_i.append(idx + c)
            vals, pick = torch.topk(torch.cat(best_d, 1), k, dim=1, largest=False)
            idx_out[s : s + chunk] = torch.gather(torch.cat(best_i, 1), 1, pick).numpy()
            dist_out[s : s + chunk] = (vals + sq[s : s + chunk, None]).clamp_min(0).sqrt().numpy()
    dist_out[:, 0] = 0.0
    return idx_out, dist_out


def scaled_init(coords: np.ndarray, seed: int) -> np.ndarray:
    """umap-learn's own scaling of an initial layout: largest |coordinate| 10, tiny noise for ties."""
    coords = np.asarray(coords, dtype=np.float64)
    coords = coords - coords.mean(0)
    scale = np.abs(coords).max()
    coords = coords * (10.0 / scale) if scale > 0 else coords
    rng = np.random.default_rng(seed)
    return (coords + rng.normal(scale=1e-4, size=coords.shape)).astype(np.float32)


# ---- the layout ----------------------------------------------------------------------------------


def umap_layout(x: np.ndarray, *, dims: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                metric: str = "cosine", n_epochs: int = 200, seed: int = 0, init: np.ndarray | None = None,
                engine: str = "sslviz", prepared_info: dict | None = None, info: dict | None = None) -> np.ndarray:
    """UMAP of prepared features x (from `prepare_features`); seeded, reproducible.

    The kNN graph is exact up to knn_cells.EXACT_LIMIT points and searched by cells above
    (`knn_cells.knn`). init: a starting layout (n × dims), e.g. the aligned layout of the next
    checkpoint; by default the graph's spectral embedding (`umap_sgd.spectral_start`), or the first
    principal components where the graph has several pieces. engine "sslviz": the graph and
    optimiser of `sslviz.embeddings.umap_sgd` (the same algorithm, faster: BENCHMARKS.md, "UMAP"; no
    umap-learn import); "umap-learn": umap-learn's own, handed the same kNN graph and starting layout.
    Stage timings go into `info` (knn_seconds, umap_seconds) and where the points started (start).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: unknown {engine!r}; choose one of {', '.join(ENGINES)}")
    from . import knn_cells, umap_sgd

    info = info if info is not None else {}
    t0 = time.perf_counter()
    idx, dist = knn_cells.knn(x, n_neighbors)
    if metric == "cosine":  # chord distance between unit vectors -> cosine distance 1 - cos = d² / 2
        dist = dist * dist / 2.0
    info["knn_seconds"] = round(time.perf_counter() - t0, 3)
    t1 = time.perf_counter()
    graph = umap_sgd.fuzzy_graph(idx, dist)
    if init is not None:
        coords, info["start"] = init, "given"
    else:
        coords = umap_sgd.spectral_start(graph, dims)
        info["start"] = "spectral" if coords is not None else "pca"
        if coords is None:
            coords = pca_coords(x, dims, prepared_info)
    start = scaled_init(coords, seed)
    if engine == "sslviz":
        with _lock:
            coords = umap_sgd.optimize_layout(graph, start, min_dist=min_dist, n_epochs=n_epochs, seed=seed)
    else:
        umap = import_umap()
        with _lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reducer = umap.UMAP(
                n_neighbors=n_neighbors, n_components=dims, min_dist=min_dist,
                metric="cosine" if metric == "cosine" else "euclidean",
                precomputed_knn=(idx.astype(np.int32), dist.astype(np.float32)),
                n_epochs=n_epochs, init=start, random_state=seed, low_memory=True, verbose=False,
            )
            coords = reducer.fit_transform(x)
    info["umap_seconds"] = round(time.perf_counter() - t1, 3)
    return np.asarray(coords, dtype=np.float32)
