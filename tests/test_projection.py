"""Projections: shapes, determinism, the fast path's pieces, cache hits, alignment, bad input, jobs."""

import numpy as np
import pytest

from sslviz.core.errors import ConfigError
from sslviz.embeddings import projection as P
from sslviz.embeddings import umap_fast
from sslviz.embeddings.alignment import align_to, procrustes_align, project_sequence
from sslviz.embeddings.embedding import NonFiniteEmbedding, TooFewPoints

TINY_UMAP = dict(method="umap", n_neighbors=8, n_epochs=30)


def blobs(n_per=40, k=3, d=16, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + spread * rng.normal(size=(len(labels), d))).astype(np.float32), labels


def knn_label_accuracy(coords, labels, k=5):
    idx, _ = umap_fast.exact_knn(coords, k + 1)
    votes = labels[idx[:, 1:]]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float((pred == labels).mean())


def test_umap_2d_and_3d_keep_clusters_and_are_deterministic_with_a_seed():
    x, labels = blobs()
    a = P.project(x, P.ProjectionParams(**TINY_UMAP, seed=3))
    b = P.project(x, P.ProjectionParams(**TINY_UMAP, seed=3))
    assert a.coords.shape == (len(x), 2) and a.coords.dtype == np.float32
    np.testing.assert_array_equal(a.rows, np.arange(len(x)))
    np.testing.assert_array_equal(a.coords, b.coords)
    assert knn_label_accuracy(a.coords, labels) > 0.95
    c = P.project(x, P.ProjectionParams(**TINY_UMAP, dims=3))
    assert c.coords.shape == (len(x), 3) and np.isfinite(c.coords).all()
    assert {"knn_seconds", "umap_seconds", "prepare_seconds"} <= set(a.info)


def test_pca_and_tsne_shapes_and_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    x, labels = blobs(n_per=20)
    pca = P.project(x, P.ProjectionParams(method="pca", metric="euclidean"))
    ref = PCA(2).fit_transform(x)
    for j in range(2):
        assert abs(np.corrcoef(pca.coords[:, j], ref[:, j])[0, 1]) > 0.999
    p3 = P.project(x, P.ProjectionParams(method="pca", dims=3))
    assert p3.coords.shape == (len(x), 3)
    tsne = P.project(x, P.ProjectionParams(method="tsne", perplexity=5.0))
    assert tsne.coords.shape == (len(x), 2) and knn_label_accuracy(tsne.coords, labels) > 0.9


def test_subsample_above_max_points_is_seeded_and_says_so():
    x, _ = blobs(n_per=50)
    a = P.project(x, P.ProjectionParams(method="pca", max_points=40, seed=1))
    b = P.project(x, P.ProjectionParams(method="pca", max_points=40, seed=1))
    assert len(a.rows) == 40 and a.total == 150 and np.array_equal(a.rows, b.rows)
    assert np.all(np.diff(a.rows) > 0)
    assert "40 of 150" in a.note
    assert P.project(x, P.ProjectionParams(method="pca")).note == ""


def test_prepare_features_keeps_cosine_neighbours_and_pca_basis():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(400, 8)) @ rng.normal(size=(8, 64)) + 0.05 * rng.normal(size=(400, 64))).astype(np.float32)
    prepared, info = umap_fast.prepare_features(x, "cosine", 0.95)
    assert info["pca_basis"] and info["dims"] < 64 and info["variance_kept"] >= 0.95
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = np.argsort(-(unit @ unit.T), axis=1)[:, 1:11]
    approx, _ = umap_fast.exact_knn(prepared, 11)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(exact, approx[:, 1:])])
    assert recall > 0.9
    var = prepared.var(0)
    assert np.all(np.diff(var) <= 1e-6)  # columns are principal components, largest first


@pytest.mark.parametrize("block", [4096, 23, 5])  # one block; blocks that cut chunks; blocks smaller than k
def test_exact_knn_matches_brute_force(block):
    from sklearn.neighbors import NearestNeighbors

    x, _ = blobs(n_per=30, d=5, seed=2)
    idx, dist = umap_fast.exact_knn(x, 6, chunk=17, block=block)
    ref_d, ref_i = NearestNeighbors(n_neighbors=6).fit(x).kneighbors(x)
    assert np.array_equal(idx[:, 0], np.arange(len(x)))
    np.testing.assert_allclose(dist, ref_d, atol=1e-3)
    assert np.mean(idx == ref_i) > 0.98  # ties may swap


def test_cache_hit_and_params_in_the_key(tmp_path):
    x, _ = blobs(n_per=20)
    params = P.ProjectionParams(**TINY_UMAP)
    path = P.cache_path(tmp_path, "run", 3, params, x)
    assert path.parent.name == "projections" and "e0003" in path.name
    first = P.project(x, params, cache=path)
    assert path.exists() and not first.cached
    again = P.project(x, params, cache=path)
    assert again.cached and np.array_equal(again.coords, first.coords) and np.array_equal(again.rows, first.rows)
    other = P.ProjectionParams(**{**TINY_UMAP, "min_dist": 0.5})
    assert P.cache_path(tmp_path, "run", 3, other, x) != path
    assert P.cache_path(tmp_path, "run", 3, params, x + 1) != path  # other data, other file
    assert P.load_cached(path, other, len(x)) is None  # a file made with other params is not used
    # umap-learn's optimiser gives another layout, so another file
    assert P.ProjectionParams(**TINY_UMAP, engine="umap-learn").key() != params.key()
    ref = P.project(x, P.ProjectionParams(**TINY_UMAP, engine="umap-learn"))
    assert ref.coords.shape == first.coords.shape and np.isfinite(ref.coords).all()
    assert not np.array_equal(ref.coords, first.coords)
    # PCA's key ignores UMAP-only parameters
    assert P.ProjectionParams(method="pca", n_neighbors=5).key() == P.ProjectionParams(method="pca").key()
    path.write_bytes(b"not an npz")
    redo = P.project(x, params, cache=path)
    assert not redo.cached and np.array_equal(redo.coords, first.coords)


def test_bad_input_gives_one_line_errors():
    x, _ = blobs(n_per=4)
    with pytest.raises(TooFewPoints, match="n_neighbors=15"):
        P.project(x, P.ProjectionParams(method="umap"))
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(NonFiniteEmbedding, match="1 of 12"):
        P.project(bad, P.ProjectionParams(method="pca"))
    for field, value in (("method", "mds"), ("dims", 4), ("n_neighbors", 1), ("min_dist", 2.0), ("metric", "l7"),
                         ("engine", "openTSNE")):
        with pytest.raises(ConfigError, match=field.split("_")[0] if field != "dims" else "dims"):
            P.ProjectionParams(**{field: value}).validate()


def test_procrustes_recovers_a_rotated_scaled_copy():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 2)).astype(np.float32)
    theta = 1.1
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = (ref @ rot.T * 3.0 + [5, -2]).astype(np.float32)
    np.testing.assert_allclose(procrustes_align(moved, ref), ref, atol=1e-4)
    # align_to matches points by identity, not by position in the arrays
    a = P.Projection(coords=moved[::-1].copy(), rows=np.arange(50), params=P.ProjectionParams(method="pca"), total=50)
    b = P.Projection(coords=ref, rows=np.arange(50), params=P.ProjectionParams(method="pca"), total=50)
    ids_a = np.arange(50)[::-1]  # row i of a is image 49 - i
    aligned = align_to(a, b, ref_rows=np.arange(50), own_rows=ids_a)
    np.testing.assert_allclose(aligned.coords[::-1], ref, atol=1e-4)


def test_sequence_frames_share_rows_and_move_smoothly(tmp_path):
    x, labels = blobs(n_per=30, spread=0.2)
    rng = np.random.default_rng(1)
    frames = [x + 2.0 * rng.normal(size=x.shape).astype(np.float32), x + 0.5 * rng.normal(size=x.shape).astype(np.float32), x]
    params = P.ProjectionParams(method="pca")
    caches = [P.cache_path(tmp_path, "run", e, params, f) for e, f in enumerate(frames)]
    seen = []
    seq = project_sequence(frames, params, caches, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3) and len(seq) == 3
    assert all(np.array_equal(p.rows, seq[-1].rows) for p in seq)
    # the last frame is the stand-alone projection (what Explore shows)
    np.testing.assert_array_equal(seq[-1].coords, P.project(frames[-1], params).coords)
    # aligned neighbours are closer than unaligned ones
    raw = P.project(frames[1], params).coords
    assert np.abs(seq[1].coords - seq[2].coords).mean() <= np.abs(raw - seq[2].coords).mean() + 1e-6
    again = project_sequence(frames, params, caches)
    assert all(p.cached for p in again)
    for a, b in zip(seq, again):
        np.testing.assert_allclose(a.coords, b.coords)


def test_jobs_share_a_key_and_keep_failures():
    from sslviz.embeddings.projection_jobs import jobs, wait, warm_up_in_background

    calls = []

    def work(v):
        calls.append(v)
        return v * 2

    j = jobs()
    a = j.submit("test-key-1", work, 4)
    b = j.submit("test-key-1", work, 5)
    assert a is b and wait(a, 30) and a.result() == 8 and calls == [4]

    def fail():
        raise TooFewPoints("too few")

    f = j.submit("test-key-2", fail)
    assert wait(f, 30) and isinstance(f.exception(), TooFewPoints)
    assert j.submit("test-key-2", fail) is f  # not retried on every poll
    assert j.submit("test-key-2", work, 1, retry=True) is not f
    assert warm_up_in_background() is warm_up_in_background()


def test_a_quick_job_goes_before_queued_ones():
    import threading

    from sslviz.embeddings.projection_jobs import Jobs, wait

    j = Jobs()  # a queue of its own, so other tests' jobs do not interleave
    gate, order = threading.Event(), []
    blocker = j.submit("block", gate.wait, 30)  # keeps the thread busy while the rest queue up
    slow = [j.submit(f"umap-{i}", order.append, f"umap-{i}") for i in range(3)]
    quick = j.submit("pca", order.append, "pca", priority=0)
    gate.set()
    assert all(wait(f, 30) for f in [blocker, *slow, quick])
    assert order == ["pca", "umap-0", "umap-1", "umap-2"]  # equal priorities keep their order


def test_fingerprints_are_remembered_per_array_and_forgotten_with_it():
    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    fp = P.fingerprint(x)
    assert P.fingerprint(x) == fp == P.fingerprint(x.copy())  # the same content, the same hash
    assert id(x) in P._fingerprints
    assert P.fingerprint(x[:10]) != fp  # a view is another array
    key = id(x)
    del x
    assert key not in P._fingerprints


def test_prepared_features_are_remembered_by_content_and_never_shared():
    from sslviz.embeddings import umap_fast

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40)).astype(np.float32)
    first, info = umap_fast.prepare_features(x)
    first[:] = 0  # a caller scribbling on its result ...
    again, info2 = umap_fast.prepare_features(x.copy())  # ... same content, another array object
    assert info2 == info and not np.allclose(again, 0)  # ... does not reach the next caller
    assert np.allclose(again, umap_fast._prepare(x, "cosine", 0.95, 100, 0)[0])  # the cached one is right
    other, _ = umap_fast.prepare_features(x[::-1].copy())  # other content: computed afresh, not the cached one
    assert np.allclose(other, umap_fast._prepare(x[::-1].copy(), "cosine", 0.95, 100, 0)[0])
    assert not np.allclose(other, again)
