"""sslviz.embeddings.umap_sgd against umap-learn, its reference: the same graph, a layout as good, faster code.

umap-learn is imported here on purpose (it is the reference implementation); the app's default
path does not import it.
"""

import numpy as np
import pytest

from sslviz.embeddings import umap_fast, umap_sgd


def blobs(n_per=60, k=4, d=12, seed=0, spread=0.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + spread * rng.normal(size=(len(labels), d))).astype(np.float32), labels


def knn_graph(x, k=10):
    idx, dist = umap_fast.exact_knn(x, k)
    return idx, dist


@pytest.fixture(scope="module")
def umap():
    return umap_fast.import_umap()


def test_smooth_knn_solves_the_neighbourhood_equation():
    x, _ = blobs()
    _, dist = knn_graph(x, 10)
    sigma, rho = umap_sgd.smooth_knn(dist, 10)
    np.testing.assert_allclose(rho, dist[:, 1])  # no duplicates: rho is the nearest neighbour's distance
    gap = np.maximum(dist[:, 1:] - rho[:, None], 0)
    np.testing.assert_allclose(np.exp(-gap / sigma[:, None]).sum(1), np.log2(10), atol=1e-4)


def test_fuzzy_graph_equals_umap_learns(umap):
    from umap.umap_ import fuzzy_simplicial_set

    x, _ = blobs()
    x[5] = x[4]  # a duplicate point: distance 0 to a neighbour that is not itself
    idx, dist = knn_graph(x, 10)
    ours = umap_sgd.fuzzy_graph(idx, dist).tocsr()
    ref, _, _ = fuzzy_simplicial_set(x, 10, np.random.RandomState(0), "euclidean",
                                     knn_indices=idx.astype(np.int32), knn_dists=dist.astype(np.float32))
    ref = ref.tocsr()
    assert ours.nnz == ref.nnz
    assert abs(ours - ref).max() < 1e-5
    assert abs(ours - ours.T).max() == 0  # symmetric
    assert ours.diagonal().max() == 0  # no self edges


@pytest.mark.parametrize("min_dist", [0.0, 0.1, 0.5])
def test_ab_params_equal_umap_learns(umap, min_dist):
    from umap.umap_ import find_ab_params

    np.testing.assert_allclose(umap_sgd.ab_params(min_dist), find_ab_params(1.0, min_dist), rtol=1e-6)


def pca_start(x, dims=2):
    prepared, info = umap_fast.prepare_features(x, "euclidean", 1.0)
    return umap_fast.scaled_init(umap_fast.pca_coords(prepared, dims, info), 0)


def test_layout_is_deterministic_per_seed_and_keeps_clusters():
    x, labels = blobs()
    idx, dist = knn_graph(x, 10)
    graph = umap_sgd.fuzzy_graph(idx, dist)
    start = pca_start(x)
    a = umap_sgd.optimize_layout(graph, start, n_epochs=100, seed=1)
    b = umap_sgd.optimize_layout(graph, start, n_epochs=100, seed=1)
    c = umap_sgd.optimize_layout(graph, start, n_epochs=100, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (len(x), 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(start, pca_start(x))  # the start is not modified
    lab_idx, _ = umap_fast.exact_knn(a, 6)
    assert (labels[lab_idx[:, 1:]] == labels[:, None]).mean() > 0.95
    three = umap_sgd.optimize_layout(graph, np.pad(start, ((0, 0), (0, 1))), n_epochs=50, seed=0)
    assert three.shape == (len(x), 3) and np.isfinite(three).all()


def recall_at(features, coords, k=10):
    high, _ = umap_fast.exact_knn(features, k + 1)
    low, _ = umap_fast.exact_knn(np.ascontiguousarray(coords, dtype=np.float32), k + 1)
    return float(np.mean([len(np.intersect1d(h, l)) / k for h, l in zip(high[:, 1:], low[:, 1:])]))


def test_layout_is_as_good_as_umap_learns_on_the_same_graph(umap):
    """Real digits, 1,797 images: neighbour recall and 2-D kNN label accuracy of the two optimisers."""
    from sslviz.data import load_dataset

    data = load_dataset("digits", image_size=8)
    import torch

    images = torch.cat([data.train.images, data.test.images])
    labels = torch.cat([data.train.labels, data.test.labels]).numpy()
    x, info = umap_fast.prepare_features(images.flatten(1).numpy(), "euclidean", 0.95)
    scores = {}
    for engine in umap_fast.ENGINES:
        coords = umap_fast.umap_layout(x, metric="euclidean", engine=engine, seed=0, prepared_info=info)
        idx, _ = umap_fast.exact_knn(coords, 11)
        votes = labels[idx[:, 1:]]
        accuracy = float((np.array([np.bincount(v).argmax() for v in votes]) == labels).mean())
        scores[engine] = (recall_at(x, coords), accuracy)
    (our_recall, our_acc), (ref_recall, ref_acc) = scores["sslviz"], scores["umap-learn"]
    assert our_acc > 0.85 and ref_acc > 0.85, scores  # both find the digits
    assert our_recall >= ref_recall - 0.03 and our_acc >= ref_acc - 0.03, scores


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        umap_fast.umap_layout(np.zeros((20, 3), np.float32), engine="tsne")


def test_at_the_apps_settings_graph_and_layout_hold_against_umap_learn(umap):
    """The app's real path (ProjectionParams' defaults: cosine, 15 neighbours, PCA to 95% of the
    variance, 200 epochs) on 10,000 MNIST images with 300 exact duplicates: the fuzzy graph equals
    umap-learn's on the same kNN lists, and the layout's neighbour recall and 2-D kNN accuracy are
    within 0.03 of umap-learn's optimiser on the same graph and start."""
    import torch
    from umap.umap_ import fuzzy_simplicial_set

    from sslviz.data import load_dataset
    from sslviz.embeddings.projection import ProjectionParams

    p = ProjectionParams()
    assert (p.method, p.metric, p.n_neighbors, p.n_epochs) == ("umap", "cosine", 15, 200)
    data = load_dataset("mnist-10k", image_size=28)
    feats = torch.cat([data.train.images, data.test.images]).flatten(1).float().numpy() / 255
    labels = torch.cat([data.train.labels, data.test.labels]).numpy()
    assert len(feats) == 10_000
    feats[-300:], labels[-300:] = feats[:300], labels[:300]  # duplicates, as a folder with repeated images has
    x, info = umap_fast.prepare_features(feats, p.metric, p.pca_variance, seed=p.seed)

    idx, dist = umap_fast.exact_knn(x, p.n_neighbors)
    dist = dist * dist / 2.0  # chord -> cosine distance, as umap_layout does
    ours = umap_sgd.fuzzy_graph(idx, dist).tocsr()
    ref, _, _ = fuzzy_simplicial_set(x, p.n_neighbors, np.random.RandomState(0), "cosine",
                                     knn_indices=idx.astype(np.int32), knn_dists=dist.astype(np.float32))
    ref = ref.tocsr()
    assert ours.nnz == ref.nnz and abs(ours - ref).max() < 1e-5

    scores = {}
    for engine in umap_fast.ENGINES:
        coords = umap_fast.umap_layout(x, dims=p.dims, n_neighbors=p.n_neighbors, min_dist=p.min_dist, metric=p.metric,
                                       n_epochs=p.n_epochs, seed=p.seed, engine=engine, prepared_info=info)
        near, _ = umap_fast.exact_knn(np.ascontiguousarray(coords, dtype=np.float32), 16)
        votes = labels[near[:, 1:]]
        accuracy = float((np.array([np.bincount(v).argmax() for v in votes]) == labels).mean())
        scores[engine] = (recall_at(x, coords, k=15), accuracy)
    (our_recall, our_acc), (ref_recall, ref_acc) = scores["sslviz"], scores["umap-learn"]
    print(scores)
    assert our_acc > 0.8 and ref_acc > 0.8, scores  # both separate the digits
    assert our_recall >= ref_recall - 0.03 and our_acc >= ref_acc - 0.03, scores


def test_layout_is_the_same_on_one_core_and_on_two():
    """The optimiser splits the points into fixed chunks, not into one chunk per core, and each chunk
    reads the other points where they stood when the epoch began: the picture does not depend on the
    machine's cores (or on which core finishes first)."""
    import numba

    x, _ = blobs(n_per=80)
    graph = umap_sgd.fuzzy_graph(*knn_graph(x, 10))
    start = pca_start(x)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = umap_sgd.optimize_layout(graph, start, n_epochs=60, seed=3)
    finally:
        numba.set_num_threads(before)
    assert numba.config.NUMBA_NUM_THREADS >= 2, "this machine has one core: the comparison says nothing"
    numba.set_num_threads(2)
    try:
        two = umap_sgd.optimize_layout(graph, start, n_epochs=60, seed=3)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_spectral_start_orders_a_chain_and_gives_up_on_pieces():
    """The spectral start puts strongly joined points close: on a chain of points the first coordinate
    runs along the chain (the Fiedler vector); a graph in two pieces gets None (the caller starts from PCA)."""
    t = np.linspace(0, 1, 300, dtype=np.float32)
    chain = np.stack([t, 0.05 * np.sin(20 * t)], 1)
    start = umap_sgd.spectral_start(umap_sgd.fuzzy_graph(*knn_graph(chain, 8)))
    assert start.shape == (300, 2) and np.isfinite(start).all()
    assert abs(np.corrcoef(start[:, 0], t)[0, 1]) > 0.95
    two = np.concatenate([chain, chain + 10])
    assert umap_sgd.spectral_start(umap_sgd.fuzzy_graph(*knn_graph(two, 8))) is None
    info = {}
    coords = umap_fast.umap_layout(two, metric="euclidean", n_epochs=20, info=info)
    assert info["start"] == "pca" and coords.shape == (600, 2)
    umap_fast.umap_layout(chain, metric="euclidean", n_epochs=20, info=info)
    assert info["start"] == "spectral"
