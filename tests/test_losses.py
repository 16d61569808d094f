import math

import pytest
import torch
import torch.nn.functional as F

from sslviz.methods.rotation import rotation_loss
from sslviz.methods.simclr import nt_xent_loss
from sslviz.methods.supervised import supervised_loss


def test_nt_xent_perfect_alignment_with_orthogonal_negatives_has_closed_form():
    n, t = 4, 0.5
    z = torch.eye(n)  # every image on its own axis: negatives have cosine 0
    loss = nt_xent_loss(z, z.clone(), temperature=t)
    # positive: exp(1/t); the other 2n-2 views: exp(0) = 1 each
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * n - 2))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_nt_xent_collapse_gives_log_of_2n_minus_1():
    n = 8
    z = torch.ones(n, 16)  # every view maps to one point: the positive is no more likely than any other
    assert nt_xent_loss(z, z.clone(), 0.5).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)


def test_nt_xent_prefers_aligned_views_to_random_ones():
    torch.manual_seed(0)
    z = torch.randn(32, 16)
    aligned = nt_xent_loss(z, z + 0.01 * torch.randn_like(z), 0.5)
    random = nt_xent_loss(z, torch.randn(32, 16), 0.5)
    assert aligned < random


def test_nt_xent_invariances():
    torch.manual_seed(1)
    z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
    base = nt_xent_loss(z1, z2, 0.2)
    perm = torch.randperm(16)
    assert nt_xent_loss(z1[perm], z2[perm], 0.2).item() == pytest.approx(base.item(), rel=1e-5)  # batch order
    assert nt_xent_loss(z2, z1, 0.2).item() == pytest.approx(base.item(), rel=1e-5)  # which view is first
    assert nt_xent_loss(3 * z1, 0.5 * z2, 0.2).item() == pytest.approx(base.item(), rel=1e-5)  # scale (cosine)


def test_nt_xent_gradient_flows_to_both_views():
    z1 = torch.randn(8, 4, requires_grad=True)
    z2 = torch.randn(8, 4, requires_grad=True)
    nt_xent_loss(z1, z2).backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


def test_rotation_and_supervised_losses_are_cross_entropy():
    logits = torch.tensor([[10.0, 0, 0, 0], [0, 0, 10.0, 0]])
    assert rotation_loss(logits, torch.tensor([0, 2])).item() < 1e-3
    assert rotation_loss(torch.zeros(2, 4), torch.tensor([0, 1])).item() == pytest.approx(math.log(4))
    assert supervised_loss(logits, torch.tensor([1, 1])).item() == pytest.approx(
        F.cross_entropy(logits, torch.tensor([1, 1])).item())
