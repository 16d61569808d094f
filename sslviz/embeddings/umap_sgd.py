"""UMAP's fuzzy graph and layout optimisation, written out: umap-learn's algorithm, faster here.

    graph = fuzzy_graph(knn_indices, knn_distances)          # sparse n × n, symmetric
    start = spectral_start(graph)                              # or None: start from PCA
    coords = optimize_layout(graph, start, min_dist=0.1, n_epochs=200, seed=0)

Why by hand, not umap-learn (the speed-up, measured side by side: BENCHMARKS.md, "UMAP"):
- **The layout, on every core, reproducibly.** umap-learn's optimiser is seeded only when it runs
  on one core (its parallel mode gives another picture each time), and computes in float64. Here
  the points are split into CHUNKS chunks of about equal numbers of edges; the cores share the
  chunks out, and within an epoch a chunk moves only its own points, reading every other point
  where it stood when the epoch began. So the layout is the same on 1 or 16 cores, and each chunk
  has its own random numbers, drawn from (seed, epoch, chunk). The graph is symmetric, so every
  edge comes twice (i→j and j→i): moving only an edge's first end, by twice umap-learn's pull,
  gives both ends the pull they had. Arithmetic is float32, and an edge's negative samples are
  computed from one position and applied together. Measured against umap-learn's optimiser on the
  same graph and start: tests/test_umap_sgd.py.
- **The graph.** `import umap` costs seconds in every fresh process (scikit-learn, pynndescent,
  numba); the fuzzy graph is a few lines of numpy on the kNN lists we already have.
  tests/test_umap_sgd.py checks it against umap.umap_.fuzzy_simplicial_set.
umap-learn stays the reference: ProjectionParams(engine="umap-learn") runs umap-learn itself.

What a class can read here (McInnes, Healy & Melville 2018, "UMAP", section 3):
1. Each point i gets rho_i, the distance to its nearest neighbour, and sigma_i such that
   sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k): every point sees a neighbourhood of the same
   "size", however dense its region is.
2. Edge weights w_ij = exp(-(d_ij - rho_i) / sigma_i), made symmetric by the fuzzy union
   w + wᵀ - w∘wᵀ.
3. In the picture two points at distance d are similar by 1 / (1 + a d^(2b)); a and b are fitted
   so that the curve is flat out to min_dist and then falls off.
4. The points start at the graph's spectral embedding (the smoothest functions on the graph).
5. Stochastic gradient descent on the cross-entropy between the two: each edge is sampled in
   proportion to its weight and pulls its two ends together; for every pull, a few random points
   push the first end away (negative sampling). The step size falls linearly to zero.
"""

from __future__ import annotations

import functools

import numpy as np

from .umap_fast import configure_numba_cache

configure_numba_cache()  # before the decorators below: numba fixes a function's cache folder there

from numba import njit, prange  # noqa: E402

SMOOTH_K_TOLERANCE = 1e-5  # umap-learn's constants, so the graphs agree
MIN_K_DIST_SCALE = 1e-3


# ---- 1-2: the fuzzy graph --------------------------------------------------------------------


def smooth_knn(distances: np.ndarray, k: int, n_iter: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(sigmas, rhos) per point, by binary search (step 1 above), all points at once.

    distances: n × k, ascending per row, the point itself first (distance 0).
    """
    d = np.asarray(distances, dtype=np.float64)
    n = len(d)
    positive = np.where(d > 0.0, d, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0  # all neighbours at distance 0: duplicates
    target = np.log2(k)
    gap = d[:, 1:] - rho[:, None]
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    active = np.arange(n)
    for _ in range(n_iter):
        g, m = gap[active], mid[active]
        psum = np.where(g > 0.0, np.exp(-np.maximum(g, 0.0) / m[:, None]), 1.0).sum(axis=1)
        moving = np.abs(psum - target) >= SMOOTH_K_TOLERANCE
        active, psum, m = active[moving], psum[moving], m[moving]
        if not len(active):
            break
        over = psum > target
        hi[active] = np.where(over, m, hi[active])
        lo[active] = np.where(over, lo[active], m)
        h = hi[active]
        mid[active] = np.where(over | np.isfinite(h), (lo[active] + h) / 2.0, m * 2.0)
    floor = MIN_K_DIST_SCALE * np.where(rho > 0.0, d.mean(axis=1), d.mean())
    return np.maximum(mid, floor), rho


def fuzzy_graph(knn_indices: np.ndarray, knn_distances: np.ndarray):
    """The symmetric fuzzy neighbour graph (scipy COO, float32) from kNN lists (steps 1-2)."""
    import scipy.sparse

    idx = np.asarray(knn_indices, dtype=np.int64)
    d = np.asarray(knn_distances, dtype=np.float64)
    n, k = idx.shape
    sigma, rho = smooth_knn(d, k)
    gap = d - rho[:, None]
    w = np.where((gap <= 0.0) | (sigma[:, None] == 0.0), 1.0, np.exp(-np.maximum(gap, 0.0) / sigma[:, None]))
    rows = np.repeat(np.arange(n), k)
    w[idx == np.arange(n)[:, None]] = 0.0  # no edge from a point to itself
    p = scipy.sparse.coo_matrix((w.ravel().astype(np.float32), (rows, idx.ravel())), shape=(n, n)).tocsr()
    p.eliminate_zeros()
    pt = p.transpose().tocsr()
    graph = (p + pt - p.multiply(pt)).tocoo()
    graph.eliminate_zeros()
    return graph


# ---- 3: the curve in the picture -------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def ab_params(min_dist: float, spread: float = 1.0) -> tuple[float, float]:
    """a, b of 1 / (1 + a d^(2b)), least-squares fitted to the target curve (as umap-learn does)."""
    from scipy.optimize import curve_fit

    x = np.linspace(0.0, spread * 3.0, 300)
    y = np.where(x < min_dist, 1.0, np.exp(-(x - min_dist) / spread))
    (a, b), _ = curve_fit(lambda x, a, b: 1.0 / (1.0 + a * x ** (2.0 * b)), x, y)
    return float(a), float(b)


# ---- 4: the optimisation -----------------------------------------------------------------------


def epochs_per_sample(weights: np.ndarray) -> np.ndarray:
    """How many epochs pass between two samples of each edge: the heaviest edge, every epoch."""
    w = np.asarray(weights, dtype=np.float64)
    return w.max() / w


CHUNKS = 64  # the points are split into this many chunks for the cores, whatever their number


def optimize_layout(graph, init: np.ndarray, *, min_dist: float = 0.1, n_epochs: int = 200, seed: int = 0,
                    negative_sample_rate: float = 5.0, repulsion: float = 1.0) -> np.ndarray:
    """Optimise a layout (n × dims, float32) of the fuzzy graph from `init`; deterministic per seed,
    the same on any number of cores."""
    g = graph.tocoo(copy=True)
    g.sum_duplicates()
    g.data[g.data < g.data.max() / float(n_epochs)] = 0.0  # edges too weak to be sampled even once
    g.eliminate_zeros()
    csr = g.tocsr()
    csr.sort_indices()
    n = csr.shape[0]
    starts = csr.indptr.astype(np.int64)
    # chunks of consecutive points with about the same number of edges each
    bounds = np.searchsorted(starts, np.linspace(0, starts[-1], CHUNKS + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    bounds = np.maximum.accumulate(bounds)
    a, b = ab_params(float(min_dist))
    emb = np.array(init, dtype=np.float32, order="C", copy=True)
    _sgd(emb, bounds, starts, csr.indices.astype(np.int32), epochs_per_sample(csr.data), int(n_epochs),
         a, b, float(repulsion), float(negative_sample_rate), np.uint64(int(seed) % (1 << 64)))
    return emb


def spectral_start(graph, dims: int = 2) -> np.ndarray | None:
    """Where the points start: the graph's spectral embedding (umap-learn's default start), the
    eigenvectors of the normalised graph Laplacian with the smallest non-zero eigenvalues. Points
    joined by strong edges start close. None when the graph falls apart into several pieces or the
    eigen-solver does not converge (the caller starts from the principal components instead)."""
    import scipy.sparse
    import scipy.sparse.linalg
    from scipy.sparse.csgraph import connected_components

    w = graph.tocsr()
    n = w.shape[0]
    if n <= dims + 2 or connected_components(w, directed=False)[0] > 1:
        return None
    scale = scipy.sparse.diags(1.0 / np.sqrt(np.asarray(w.sum(axis=0)).ravel()))
    # The Laplacian's smallest eigenvalues are 1 minus the largest of the normalised adjacency matrix,
    # with the same eigenvectors; the solver finds the largest twice as fast (4.0 -> 1.9 s at 70,000 points)
    adjacency = scale @ w @ scale
    k = dims + 1
    try:
        values, vectors = scipy.sparse.linalg.eigsh(adjacency, k, which="LA", ncv=max(2 * k + 1, int(np.sqrt(n))),
                                                    tol=1e-4, v0=np.ones(n), maxiter=n * 5)
    except (scipy.sparse.linalg.ArpackError, ValueError):
        return None
    values = -values  # ascending order below = the Laplacian's
    out = vectors[:, np.argsort(values)[1:k]]
    signs = np.sign(out[np.abs(out).argmax(0), np.arange(dims)])  # deterministic signs
    return out * np.where(signs == 0, 1.0, signs)


@njit(cache=True, fastmath=True, nogil=True)
def _clip(v):
    return np.float32(4.0) if v > np.float32(4.0) else (np.float32(-4.0) if v < np.float32(-4.0) else v)


@njit(cache=True, fastmath=True, nogil=True)
def _mix(x):
    """splitmix64's finaliser: a well-mixed, non-zero xorshift state from any number."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return x if x != np.uint64(0) else np.uint64(1)


@njit(cache=True, fastmath=True, nogil=True, parallel=True)
def _sgd(emb, bounds, starts, tail, epochs_per_edge, n_epochs, a, b, gamma, negative_rate, seed):
    n, dim = emb.shape
    n32 = np.uint64(n)  # n < 2^32: the top 32 bits of the state times n, over 2^32, is uniform on [0, n)
    a, b = np.float32(a), np.float32(b)
    pull = np.float32(-4.0 * a * b)  # d/dd² of log(1 / (1 + a d^2b)), times -1, twice: only the head moves
    push = np.float32(2.0 * gamma * b)
    zero, one, tiny = np.float32(0.0), np.float32(1.0), np.float32(0.001)
    next_sample = epochs_per_edge.copy()
    epochs_per_negative = epochs_per_edge / negative_rate
    next_negative = epochs_per_negative.copy()
    before = emb.copy()  # where every point stood when the epoch began
    for epoch in range(n_epochs):
        alpha = np.float32(1.0 - max(epoch - 1, 0) / n_epochs)  # umap-learn's schedule: 1, 1, then down to 0
        before[:, :] = emb
        for chunk in prange(bounds.shape[0] - 1):
            state = _mix(seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64(epoch) * np.uint64(0xD1B54A32D192ED03)
                         + np.uint64(chunk) * np.uint64(0x8CB92BA72F3D8DD7))
            push_sum = np.zeros(dim, np.float32)
            for i in range(bounds[chunk], bounds[chunk + 1]):
                for e in range(starts[i], starts[i + 1]):
                    if next_sample[e] > epoch:
                        continue
                    j = tail[e]
                    d2 = zero
                    for c in range(dim):
                        t = emb[i, c] - before[j, c]
                        d2 += t * t
                    coeff = zero
                    if d2 > zero:
                        p = d2**b
                        coeff = pull * p / d2 / (a * p + one)
                    for c in range(dim):  # attraction towards where j stood
                        emb[i, c] += _clip(coeff * (emb[i, c] - before[j, c])) * alpha
                    next_sample[e] += epochs_per_edge[e]
                    n_negative = int((epoch - next_negative[e]) / epochs_per_negative[e])
                    for _ in range(n_negative):  # repulsion from random points, summed from one position
                        state ^= state << np.uint64(13)
                        state ^= state >> np.uint64(7)
                        state ^= state << np.uint64(17)
                        k = int(((state >> np.uint64(32)) * n32) >> np.uint64(32))  # in [0, n) without a division
                        if k == i:
                            continue
                        d2 = zero
                        for c in range(dim):
                            t = emb[i, c] - before[k, c]
                            d2 += t * t
                        if d2 > zero:
                            coeff = push / ((tiny + d2) * (a * d2**b + one))
                            for c in range(dim):
                                push_sum[c] += _clip(coeff * (emb[i, c] - before[k, c]))
                    for c in range(dim):
                        emb[i, c] += push_sum[c] * alpha
                        push_sum[c] = zero
                    next_negative[e] += n_negative * epochs_per_negative[e]
    return emb
