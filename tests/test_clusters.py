"""Clustering, agreement scores on constructed data with known answers, few-shot colouring, neighbours."""

import numpy as np
import pytest

from sslviz.core.errors import ConfigError
from sslviz.embeddings import clusters as C
from sslviz.embeddings.colouring import ColourBy, colour_points
from sslviz.embeddings.embedding import Embedding, SingleClass
from sslviz.embeddings.neighbours import embedding_neighbours, few_shot, pixel_neighbours
from sslviz.embeddings.projection import ProjectionParams, project


def blobs(k=3, n_per=30, d=6, seed=0, spread=0.2):
    rng = np.random.default_rng(seed)
    centres = np.eye(max(k, d))[:k, :d] * 10
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + spread * rng.normal(size=(len(labels), d))).astype(np.float32), labels


def test_separated_blobs_are_recovered_exactly_by_every_method():
    x, labels = blobs()
    for method in ("kmeans", "agglomerative"):
        found = C.cluster(x, method, k=3)
        scores = C.agreement(labels, found.labels, x)
        assert found.k == 3 and scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)
        assert scores["silhouette"] > 0.8
    h = C.cluster(x, "hdbscan", min_cluster_size=10)
    assert h.k == 3 and C.agreement(labels, h.labels)["ari"] == pytest.approx(1.0)


def test_estimated_k_is_the_number_of_blobs():
    x, labels = blobs(k=4, d=8)
    k, scores = C.estimate_k(x)
    assert k == 4 and max(scores, key=scores.get) == 4
    found = C.cluster(x, "kmeans")
    assert found.estimated and found.k == 4


def test_agreement_known_values():
    # ARI of [0,0,1,1] vs [0,0,1,2] is (1 - 1/3) / (3/2 - 1/3) = 4/7 (Hubert & Arabie's formula by hand)
    s = C.agreement(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]))
    assert s["ari"] == pytest.approx(4 / 7)
    # renaming clusters changes nothing
    s = C.agreement(np.array([0, 0, 1, 1, 2, 2]), np.array([5, 5, 3, 3, 9, 9]))
    assert s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    # independent random clusterings agree by chance only
    rng = np.random.default_rng(0)
    s = C.agreement(rng.integers(0, 5, 3000), rng.integers(0, 5, 3000))
    assert abs(s["ari"]) < 0.02 and s["nmi"] < 0.02


def test_single_class_and_noise_are_explained_not_crashed():
    x, _ = blobs()
    s = C.agreement(np.zeros(len(x), dtype=int), C.cluster(x, "kmeans", k=3).labels, x)
    assert s["nmi"] is None and s["ari"] is None and "one class" in s["note"] and s["silhouette"] > 0.8
    # far-away points become HDBSCAN noise and are left out of the silhouette
    outliers = np.full((3, x.shape[1]), 100.0, dtype=np.float32) + np.arange(3)[:, None] * 40
    h = C.cluster(np.vstack([x, outliers]), "hdbscan", min_cluster_size=10)
    assert (h.labels[-3:] == -1).all() and "noise" in h.note
    with pytest.raises(ConfigError, match="number of clusters"):
        C.cluster(x, "kmeans", k=1)
    with pytest.raises(ConfigError, match="cluster method"):
        C.cluster(x, "dbscan2")


def test_agglomerative_on_many_points_fits_a_subsample(monkeypatch):
    monkeypatch.setattr(C, "AGGLOMERATIVE_MAX", 40)
    x, labels = blobs(n_per=40)
    found = C.cluster(x, "agglomerative", k=3)
    assert "fitted on a random 40" in found.note
    assert C.agreement(labels, found.labels)["ari"] == pytest.approx(1.0)


def test_few_shot_draws_n_per_class_and_scores_the_rest():
    x, labels = blobs(n_per=20)
    result = few_shot(x, labels, per_class=2, seed=1)
    assert result.labelled.sum() == 6
    for c in range(3):
        assert result.labelled[labels == c].sum() == 2
    assert result.accuracy == pytest.approx(1.0)
    assert set(result.outcome()) == {"labelled", "right"}
    # swap two points' labels: the classifier (trained elsewhere) calls them wrong
    noisy = labels.copy()
    unlabelled = np.flatnonzero(~result.labelled)
    a, b = unlabelled[0], unlabelled[-1]
    noisy[a], noisy[b] = labels[b], labels[a]
    again = next(r for r in (few_shot(x, noisy, per_class=2, seed=s) for s in range(50))
                 if not r.labelled[[a, b]].any())  # a draw that does not label the two swapped points
    assert not again.correct[a] and not again.correct[b]
    assert again.correct[~again.labelled].sum() == len(x) - 6 - 2
    with pytest.raises(SingleClass):
        few_shot(x, np.zeros(len(x), dtype=int), 2)


def test_neighbours_in_embedding_and_pixels():
    feats = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    rows, sims = embedding_neighbours(feats, 0, 2)
    assert list(rows) == [1, 2] and sims[0] > sims[1]
    images = np.zeros((4, 1, 2, 2), dtype=np.uint8)
    images[1] += 10
    images[2] += 200
    images[3] += 250
    rows, dist = pixel_neighbours(images, 3, 3)
    assert list(rows) == [2, 1, 0] and np.all(np.diff(dist) > 0)


def _embedding(x, labels):
    n = len(x)
    return Embedding(x, labels.astype(np.int64), np.arange(n) * 2, "run", "r", 1, {"dataset": "shapes"},
                     ["circle", "square", "triangle"])


def test_colour_points_for_every_kind():
    x, labels = blobs(n_per=25)
    emb = _embedding(x, labels)
    proj = project(x, ProjectionParams(method="pca", max_points=60))
    shown = labels[proj.rows]
    by_label = colour_points(ColourBy("label"), emb, proj)
    assert list(by_label.categories) == [emb.class_names[v] for v in shown]
    assert by_label.metrics["NMI (k-means, k=3)"] == pytest.approx(1.0)
    clustered = colour_points(ColourBy("cluster", "kmeans", 3), emb, proj)
    assert clustered.metrics["ARI"] == pytest.approx(1.0) and len(clustered.order) == 3
    est = colour_points(ColourBy("cluster", "kmeans", None, "projection"), emb, proj)
    assert any("estimated" in n for n in est.notes)
    factors = {"size": np.linspace(0, 1, len(x)), "shape": labels}
    f = colour_points(ColourBy("factor", factor="size"), emb, proj, factors)
    np.testing.assert_allclose(f.values, factors["size"][proj.rows])
    d = colour_points(ColourBy("factor", factor="shape"), emb, proj, factors)
    assert d.order == ["0", "1", "2"]
    with pytest.raises(ConfigError, match="factor"):
        colour_points(ColourBy("factor", factor="hue"), emb, proj, factors)
    shots = colour_points(ColourBy("few-shot", per_class=1), emb, proj)
    assert shots.metrics["labelled points"] == 3 and shots.metrics["few-shot accuracy"] == pytest.approx(1.0)
    single = colour_points(ColourBy("label"), _embedding(x, np.zeros(len(x), dtype=int)), proj)
    assert single.metrics == {} and "one class" in single.notes[0]
