"""NNCLR (sslviz/methods/nnclr.py): its loss on inputs whose answer is known, its support set, and
a short training on `shapes` that learns without collapsing.

The loss: with the support set holding exact copies of the projections, each projection's nearest
neighbour is itself and NNCLR's loss is SimCLR's NT-Xent on (projections, predictions); with other
vectors in the support set, the positive is the nearest of them. Gradients reach the predictions
only. The support set: the shared queue (sslviz/methods/_queue.py), never its random start.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from method_support import build_method, gauge_problems, thirds

from sslviz.methods import get_method
from sslviz.methods._queue import enqueue, register_queue
from sslviz.methods.nnclr import nearest_neighbours, nnclr_loss
from sslviz.methods.simclr import nt_xent_loss
from sslviz.training.config import RunConfig


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_with_exact_copies_in_the_support_set_the_loss_is_simclrs():
    z1, z2, p1, p2 = (_randn(16, 8, seed=s) for s in range(4))
    others = _randn(40, 8, seed=9)  # far from nothing in particular: each z is still its own nearest
    support = torch.cat([others[:20], z1 * 3.0, others[20:], z2 * 0.5])  # copies, at any length
    expected = 0.5 * (nt_xent_loss(z1, p2, 0.1) + nt_xent_loss(z2, p1, 0.1))
    assert nnclr_loss(z1, z2, p1, p2, support, 0.1) == pytest.approx(expected.item(), rel=1e-5)


def test_the_positive_is_the_nearest_support_entry_not_the_other_view():
    support = F.normalize(_randn(6, 4, seed=1), dim=1)
    z = support[[4, 1, 1]] + 0.01 * _randn(3, 4, seed=2)  # near entries 4, 1, 1
    assert torch.allclose(nearest_neighbours(z, support), support[[4, 1, 1]])
    # the loss then pairs each view's neighbour (not the view itself) with the other view's prediction
    z1, z2 = support[[0, 2, 5]] + 0.3 * _randn(3, 4, seed=3), support[[3, 3, 1]] + 0.3 * _randn(3, 4, seed=4)
    p1, p2 = _randn(3, 4, seed=5), _randn(3, 4, seed=6)
    assert torch.allclose(nearest_neighbours(z1, support), support[[0, 2, 5]])
    assert torch.allclose(nearest_neighbours(z2, support), support[[3, 3, 1]])
    expected = 0.5 * (nt_xent_loss(support[[0, 2, 5]], p2, 0.1) + nt_xent_loss(support[[3, 3, 1]], p1, 0.1))
    assert nnclr_loss(z1, z2, p1, p2, support, 0.1) == pytest.approx(expected.item(), rel=1e-5)
    assert abs(nnclr_loss(z1, z2, p1, p2, support, 0.1) - nt_xent_loss(z1, p2, 0.1)) > 0.01  # not SimCLR's here


def test_gradients_reach_the_predictions_only():
    z1, z2, p1, p2 = (_randn(8, 5, seed=s).requires_grad_() for s in range(4))
    support = _randn(30, 5, seed=7).requires_grad_()
    nnclr_loss(z1, z2, p1, p2, support).backward()
    assert z1.grad is None and z2.grad is None and support.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_the_queue_is_first_in_first_out_and_the_random_start_is_never_a_neighbour():
    holder = torch.nn.Module()
    register_queue(holder, 5, 2)
    first = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    enqueue(holder.queue, holder.queue_ptr, first)
    enqueue(holder.queue, holder.queue_ptr, -first)  # 3 + 3 rows into 5: the last one wraps to row 0
    expected = F.normalize(torch.cat([-first[2:], first[1:], -first[:2]]), dim=1)
    assert int(holder.queue_ptr) == 1 and torch.allclose(holder.queue, expected)
    method = build_method("nnclr", queue_size=64)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    z = _randn(16, 128)
    assert torch.equal(method.support(z), z)  # nothing written yet: the batch is its own support set
    _, values = method.step(x, torch.zeros(16, dtype=torch.long), torch.arange(16))
    assert values["neighbour_cosine"] == pytest.approx(1.0, abs=1e-5)  # first step: SimCLR's positives
    assert int(method.queue_filled) == 16 and len(method.support(z)) == 16
    for _ in range(5):
        method.step(x, torch.zeros(16, dtype=torch.long), torch.arange(16))
    assert int(method.queue_filled) == 64 and len(method.support(z)) == 64


def test_short_training_on_shapes_learns_without_collapsing(tmp_path):
    """The per-method budget (`test_budget`, the style of tests/test_methods_learn.py: the strided
    small-cnn on shapes, the monitor's kNN on 2,000 held-out images), without the papers' final scores."""
    from sslviz.training import train

    steps, batch = get_method("nnclr").test_budget
    epochs = -(-steps // 100)
    config = RunConfig(method="nnclr", dataset="shapes", epochs=epochs, batch_size=batch,
                       labels_per_class=steps * batch // 8 // epochs, device="cpu", eval_train_max=2000,
                       eval_test_max=2000, seed=0, backbone="small-cnn", final_scores=False)
    report = train.Reporter(interval=0)
    summary = train.run(config, tmp_path, report)
    losses = [v for _, _, _, key, v in report.rows if key == "loss"]
    assert summary["steps"] == steps and all(math.isfinite(v) for v in losses)
    gain = summary["knn_accuracy"] - summary["knn_random_init"]
    print(f"nnclr: kNN {summary['knn_random_init']:.3f} -> {summary['knn_accuracy']:.3f}, "
          f"spread {summary['spread']:.3f}, effective rank {summary['effective_rank']:.1f}, "
          f"loss thirds {thirds(losses)}")
    first, last = thirds(losses)
    assert last < first, (first, last)  # the check tests/test_methods_learn.py makes of every method
    assert gain > 0.015, summary
    import numpy as np

    with np.load(tmp_path / f"embeddings_{summary['epochs']:04d}.npz") as snap:
        assert gauge_problems(torch.from_numpy(snap["features"].astype(np.float32))) == []
