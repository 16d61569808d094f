"""sslviz.embeddings.knn_cells: the neighbour search of whole datasets, held to the exact search."""

import numpy as np

from sslviz.embeddings import knn_cells, umap_fast


def clustered(n, d=24, clusters=40, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 3
    return (centres[rng.integers(clusters, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def overlap(a, b):
    return float(np.mean([len(np.intersect1d(p, q)) for p, q in zip(a[:, 1:], b[:, 1:])]) / (a.shape[1] - 1))


def test_cells_find_the_exact_neighbours_almost_always():
    x = clustered(12_000)
    exact_idx, exact_dist = umap_fast.exact_knn(x, 15)
    idx, dist = knn_cells.cell_knn(x, 15)
    assert idx.shape == (12_000, 15) and dist.shape == (12_000, 15) and idx.dtype == np.int64
    assert (idx[:, 0] == np.arange(12_000)).all() and (dist[:, 0] == 0).all()  # each point first
    assert overlap(idx, exact_idx) > 0.99
    assert (np.diff(dist, axis=1) >= -1e-5).all()  # ascending
    # a neighbour's distance is its true distance, and no list beats the exact one
    rows = np.arange(0, 12_000, 997)
    true = np.linalg.norm(x[rows, None] - x[idx[rows]], axis=2)
    np.testing.assert_allclose(dist[rows, 1:], true[:, 1:], atol=1e-3)
    assert (dist[:, -1] >= exact_dist[:, -1] - 1e-4).all()


def test_fewer_probes_miss_more_and_one_cell_is_exact():
    x = clustered(3_000, d=16, clusters=10, seed=1)
    exact_idx, _ = umap_fast.exact_knn(x, 10)
    few = overlap(knn_cells.cell_knn(x, 10, probes=1)[0], exact_idx)
    many = overlap(knn_cells.cell_knn(x, 10, probes=16)[0], exact_idx)
    assert few < many
    one_cell, _ = knn_cells.cell_knn(x, 10, cells=1)
    assert overlap(one_cell, exact_idx) == 1.0


def test_deterministic_and_small_inputs():
    x = clustered(2_500, d=8, clusters=5, seed=2)
    a, _ = knn_cells.cell_knn(x, 12, seed=3)
    b, _ = knn_cells.cell_knn(x, 12, seed=3)
    np.testing.assert_array_equal(a, b)
    tiny = clustered(7, d=3, clusters=2)
    idx, dist = knn_cells.cell_knn(tiny, 5, cells=3, probes=1)  # a cell may hold fewer than 5 points
    assert idx.shape == (7, 5) and (idx[:, 0] == np.arange(7)).all() and np.isfinite(dist).all()


def test_knn_is_exact_up_to_the_limit_and_by_cells_above(monkeypatch):
    x = clustered(1_000, d=8)
    np.testing.assert_array_equal(knn_cells.knn(x, 10)[0], umap_fast.exact_knn(x, 10)[0])
    monkeypatch.setattr(knn_cells, "EXACT_LIMIT", 999)
    np.testing.assert_array_equal(knn_cells.knn(x, 10)[0], knn_cells.cell_knn(x, 10)[0])
