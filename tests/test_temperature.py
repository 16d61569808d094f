"""Temperature and negatives (sslviz/teaching/temperature.py): the softmax weights NT-Xent gives a
batch, on embeddings whose answers are known by construction, and one real batch of a run."""

import math

import numpy as np
import pytest
import torch

from sslviz.methods.simclr import nt_xent_loss
from sslviz.teaching import temperature as T


def _views(b=8, d=32, noise=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(b, d, generator=g)
    return z1, z1 + noise * torch.randn(b, d, generator=g)


def test_identical_views_give_the_positive_almost_all_the_weight_at_a_low_temperature():
    z1, z2 = _views()
    e = T.explain(z1, z2, 0.01)
    assert e.positive_weight.min() > 0.99
    assert e.mean_positive_weight > T.explain(z1, z2, 1.0).mean_positive_weight


def test_a_high_temperature_weighs_every_view_about_the_same():
    z1, z2 = _views(b=8, noise=0.5)
    w = T.explain(z1, z2, 1e3).weights
    off = w[~np.eye(16, dtype=bool)]
    assert np.allclose(off, 1 / 15, atol=1e-3)


def test_weights_are_each_anchors_softmax_without_itself():
    z1, z2 = _views(b=5, noise=0.3)
    w = T.softmax_weights(T.similarity(z1, z2), 0.2)
    assert torch.allclose(w.sum(1), torch.ones(10))
    assert torch.all(w.diagonal() == 0)
    with pytest.raises(ValueError, match="temperature"):
        T.softmax_weights(T.similarity(z1, z2), 0.0)


@pytest.mark.parametrize("t", [0.05, 0.2, 0.5, 1.0])
def test_the_loss_is_simclrs_and_the_mean_of_minus_log_positive_weight(t):
    z1, z2 = _views(b=6, noise=0.7, seed=3)
    e = T.explain(z1, z2, t)
    assert e.loss == pytest.approx(float(nt_xent_loss(z1, z2, t)), rel=1e-6)
    assert e.loss == pytest.approx(float(-np.log(e.positive_weight).mean()), rel=1e-5)
    assert e.chance_loss == pytest.approx(math.log(11))


def test_more_negatives_lower_the_positives_weight():
    z1, z2 = _views(b=32, noise=0.8, seed=1)
    small, large = T.explain(z1[:4], z2[:4], 0.2), T.explain(z1, z2, 0.2)
    # anchor 0 and its positive are the same pair in both batches; the big batch adds negatives only
    assert large.positive_weight[0] < small.positive_weight[0]
    assert large.loss > small.loss


def test_the_hardest_negatives_are_the_most_similar_other_images():
    z1, z2 = _views(b=6, noise=0.2, seed=2)
    z2[3] = z1[0] * 1.01  # image 3's second view looks like image 0: anchor 0's hardest negative
    e = T.explain(z1, z2, 0.1, k=3)
    assert e.hardest[0, 0] == 6 + 3
    for a in range(12):
        assert a not in e.hardest[a] and e.positive[a] not in e.hardest[a]
        sims = e.similarity[a, e.hardest[a]]
        assert np.all(np.diff(sims) <= 1e-6)  # most similar first
        others = np.delete(e.similarity[a], [a, e.positive[a]])
        assert sims[0] == pytest.approx(others.max())
    assert np.allclose(e.hardest_weight, np.take_along_axis(e.weights, e.hardest, 1))


def test_sweep_follows_the_temperature():
    z1, z2 = _views(b=8, noise=0.5)
    s = T.sweep(z1, z2, (0.05, 0.5, 5.0))
    assert s["temperature"] == [0.05, 0.5, 5.0]
    assert s["positive_weight"][0] > s["positive_weight"][1] > s["positive_weight"][2]


def test_a_real_batch_embedded_by_a_run(store):
    from conftest import tiny_config

    from sslviz.data import load_dataset
    from sslviz.training.train import build_method, save_checkpoint

    cfg = tiny_config(method="simclr", dataset="digits")
    run_id = store.create(cfg.to_dict(), status="completed")
    torch.manual_seed(0)
    method = build_method(cfg, load_dataset("digits", image_size=cfg.image_size), torch.device("cpu"))
    save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", method, None, cfg, {"epoch": 1})
    b = T.real_batch(store, run_id, batch=6)
    assert b.views.shape == (12, 16, 16, 3) and b.views.dtype == np.uint8
    assert b.z1.shape == b.z2.shape == (6, method.hp["proj_dim"])
    assert len(b.labels) == 6 and b.class_names
    e = T.explain(b.z1, b.z2, 0.5)
    assert e.loss == pytest.approx(float(nt_xent_loss(b.z1, b.z2, 0.5)), rel=1e-6)
    again = T.real_batch(store, run_id, batch=6)
    assert torch.allclose(again.z1, b.z1)  # the same images and views for the same seed
    with pytest.raises(ValueError, match="batch"):
        T.real_batch(store, run_id, batch=1)
