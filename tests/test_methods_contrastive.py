"""MoCo, CPC, BYOL, SimSiam, Barlow Twins, VICReg and DINO: their losses on inputs whose answer is
known, and their invariances and stop-gradients. That each one learns on `shapes` without collapsing
(kNN gain and collapse gauge; BYOL's cosine with the gauge, which a collapsed BYOL is shown to fail)
is the per-method training test in test_methods_learn.py, with every other method's."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslviz.methods._momentum import cosine_momentum, ema_update, momentum_copy
from sslviz.methods.barlow_twins import barlow_twins_loss, cross_correlation
from sslviz.methods.byol import byol_loss
from sslviz.methods.cpc import cpc_loss
from sslviz.methods.dino import dino_loss
from sslviz.methods.moco import infonce_loss
from sslviz.methods.simsiam import simsiam_loss
from sslviz.methods.vicreg import vicreg_loss

METHODS = {"moco": "contrastive", "cpc": "contrastive", "byol": "non-contrastive", "simsiam": "non-contrastive",
           "barlow-twins": "non-contrastive", "vicreg": "non-contrastive", "dino": "non-contrastive"}


def whitened(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """N×D with every column of zero mean, unit (biased) variance, and columns uncorrelated."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(x - x.mean(0))  # orthonormal columns, each orthogonal to the ones vector
    return (q * math.sqrt(n)).float()


# --- momentum helpers ---------------------------------------------------------------------------


def test_momentum_copy_is_frozen_and_ema_moves_it_towards_the_online_net():
    online = torch.nn.Linear(3, 2)
    target = momentum_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert torch.equal(target.weight, online.weight)
    with torch.no_grad():
        online.weight.add_(1.0)
    before = target.weight.clone()
    ema_update(target, online, 0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight)
    ema_update(target, online, 1.0)  # momentum 1: frozen
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight)


def test_cosine_momentum_runs_from_base_to_one():
    assert cosine_momentum(0.99, 0.0) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 0.5) == pytest.approx(0.995)
    assert cosine_momentum(0.99, 1.0) == pytest.approx(1.0)
    values = [cosine_momentum(0.99, p / 10) for p in range(11)]
    assert values == sorted(values)


# --- MoCo: InfoNCE with a queue ---------------------------------------------------------------


def test_infonce_perfect_key_and_orthogonal_queue_has_closed_form():
    t, d, n, k = 0.2, 16, 4, 8
    eye = torch.eye(d)
    q = eye[:n]
    queue = eye[n : n + k]  # every queued key orthogonal to every query: cosine 0
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + k))
    assert infonce_loss(q, q.clone(), queue, t).item() == pytest.approx(expected, rel=1e-5)


def test_infonce_collapse_gives_log_of_queue_plus_one():
    z = torch.ones(6, 8)
    assert infonce_loss(z, z.clone(), torch.ones(31, 8), 0.2).item() == pytest.approx(math.log(32), rel=1e-5)


def test_infonce_invariances_and_stop_gradient():
    torch.manual_seed(0)
    q, k, queue = torch.randn(16, 8), torch.randn(16, 8), torch.randn(64, 8)
    base = infonce_loss(q, k, queue, 0.2).item()
    perm = torch.randperm(16)
    assert infonce_loss(q[perm], k[perm], queue, 0.2).item() == pytest.approx(base, rel=1e-5)
    assert infonce_loss(q, k, queue[torch.randperm(64)], 0.2).item() == pytest.approx(base, rel=1e-5)
    assert infonce_loss(2 * q, 5 * k, 0.1 * queue, 0.2).item() == pytest.approx(base, rel=1e-5)
    aligned = infonce_loss(q, q + 0.01 * torch.randn_like(q), queue, 0.2).item()
    assert aligned < base
    q.requires_grad_(True)
    k.requires_grad_(True)
    infonce_loss(q, k, queue, 0.2).backward()
    assert q.grad.abs().sum() > 0 and k.grad is None  # the key encoder learns only through the EMA


# --- CPC -------------------------------------------------------------------------------------


def test_cpc_loss_perfect_prediction_with_orthogonal_candidates_has_closed_form():
    c = torch.eye(10)[None]  # one group of 10 candidate feature vectors, mutually orthogonal
    targets = torch.tensor([[3, 7, 0]])
    preds = 2.0 * c[:, targets[0]]  # score 2 for the true future, 0 for the other 9
    expected = -math.log(math.exp(2) / (math.exp(2) + 9))
    assert cpc_loss(preds, c, targets).item() == pytest.approx(expected, rel=1e-5)
    assert cpc_loss(torch.zeros(1, 3, 10), c, targets).item() == pytest.approx(math.log(10), rel=1e-5)  # chance


def test_cpc_loss_collapse_gives_log_of_the_candidates():
    same = torch.ones(4, 16, 8)  # every patch of every image has the same code: nothing to pick out
    assert cpc_loss(same[:, :6], same, torch.randint(16, (4, 6))).item() == pytest.approx(math.log(16), rel=1e-5)


def test_cpc_loss_is_invariant_to_the_order_of_candidates():
    torch.manual_seed(0)
    preds, cands, targets = torch.randn(2, 12, 8), torch.randn(2, 30, 8), torch.randint(30, (2, 12))
    perm = torch.randperm(30)
    inverse = perm.argsort()
    base = cpc_loss(preds, cands, targets).item()
    assert cpc_loss(preds, cands[:, perm], inverse[targets]).item() == pytest.approx(base, rel=1e-5)
    swapped = cpc_loss(preds.flip(0), cands.flip(0), targets.flip(0)).item()  # the order of the groups
    assert swapped == pytest.approx(base, rel=1e-5)


def test_cpc_groups_keep_other_images_out_of_the_negatives():
    """Grouped by image, a candidate of another image cannot compete, however similar it is."""
    torch.manual_seed(0)
    preds, cands = torch.randn(2, 5, 8), torch.randn(2, 16, 8)
    targets = torch.randint(16, (2, 5))
    lookalike = cands.clone()
    lookalike[1] = 10 * preds[0, :1]  # image 1's patches now match image 0's predictions very well
    assert cpc_loss(preds[:1], lookalike[:1], targets[:1]).item() == cpc_loss(preds[:1], cands[:1], targets[:1]).item()
    grouped = cpc_loss(preds, lookalike, targets).item()
    offset = torch.tensor([[0] * 5 + [16] * 5])  # the candidates' rows once both images are one group
    pooled = cpc_loss(preds.reshape(1, 10, 8), lookalike.reshape(1, 32, 8), targets.reshape(1, 10) + offset).item()
    assert pooled > grouped + 1  # in one group (the papers' batch negatives) the lookalikes win


def test_cpc_step_scores_every_patch_against_its_own_image_only():
    from sslviz.methods import get_method
    from sslviz.methods.models import SmallCNN
    from sslviz.training.recipes import default_pipeline

    for negatives, chance in (("image", 1 / 16), ("batch", 1 / (8 * 16))):
        method = get_method("cpc")(SmallCNN(3), num_classes=8, pipeline=default_pipeline("shapes"), negatives=negatives)
        method.generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in method.predictors.parameters():
                p.zero_()  # every score 0: the loss is log(number of candidates)
        x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        loss, _ = method.step(x, torch.zeros(8, dtype=torch.long), torch.arange(8))
        assert loss.item() == pytest.approx(-math.log(chance), rel=1e-5)


# --- BYOL ------------------------------------------------------------------------------------


def test_byol_loss_known_values():
    torch.manual_seed(0)
    p = torch.randn(8, 16)
    assert byol_loss(p, p.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert byol_loss(p, -p).item() == pytest.approx(4.0, rel=1e-6)
    orth = torch.eye(16)
    assert byol_loss(orth[:8], orth[8:]).item() == pytest.approx(2.0, rel=1e-6)
    assert byol_loss(3 * p, 0.5 * p).item() == pytest.approx(0.0, abs=1e-6)  # scale does not matter
    z = torch.randn(8, 16)
    perm = torch.randperm(8)
    assert byol_loss(p[perm], z[perm]).item() == pytest.approx(byol_loss(p, z).item(), rel=1e-6)


def test_byol_target_gets_no_gradient():
    p = torch.randn(8, 4, requires_grad=True)
    z = torch.randn(8, 4, requires_grad=True)
    byol_loss(p, z).backward()
    assert p.grad.abs().sum() > 0 and z.grad is None


# --- SimSiam ---------------------------------------------------------------------------------


def test_simsiam_loss_known_values_and_stop_gradient():
    torch.manual_seed(0)
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    assert simsiam_loss(z2, z1, z1, z2).item() == pytest.approx(-1.0, abs=1e-6)  # p1 == z2, p2 == z1
    assert simsiam_loss(-z2, -z1, z1, z2).item() == pytest.approx(1.0, abs=1e-6)
    c = torch.ones(8, 16)  # collapse: every output the same vector also reaches the minimum
    assert simsiam_loss(c, c, c, c).item() == pytest.approx(-1.0, abs=1e-6)
    p1, p2 = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16, requires_grad=True)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    simsiam_loss(p1, p2, z1, z2).backward()
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0
    assert z1.grad is None and z2.grad is None


# --- Barlow Twins ----------------------------------------------------------------------------


def test_barlow_twins_is_zero_for_identical_whitened_embeddings():
    z = whitened(64, 16)
    assert torch.allclose(cross_correlation(z, z), torch.eye(16), atol=1e-4)
    assert barlow_twins_loss(z, z.clone(), 5e-3).item() == pytest.approx(0.0, abs=1e-3)


def test_barlow_twins_penalises_disagreement_and_redundancy():
    z = whitened(64, 16)
    assert barlow_twins_loss(z, -z, 5e-3).item() == pytest.approx(4 * 16, rel=1e-3)  # C = -I
    redundant = z[:, :1].repeat(1, 16)  # every dimension says the same thing: C is all ones
    assert barlow_twins_loss(redundant, redundant, 1.0).item() == pytest.approx(16 * 15, rel=1e-3)
    torch.manual_seed(0)
    other = torch.randn(64, 16)
    assert barlow_twins_loss(z, other, 5e-3) > 10  # unrelated views: the diagonal is far from 1


def test_barlow_twins_invariances():
    torch.manual_seed(0)
    z1, z2 = torch.randn(32, 8), torch.randn(32, 8)
    base = barlow_twins_loss(z1, z2, 5e-3).item()
    perm = torch.randperm(32)
    assert barlow_twins_loss(z1[perm], z2[perm], 5e-3).item() == pytest.approx(base, rel=1e-4)
    scale = torch.rand(8) + 0.5
    assert barlow_twins_loss(z1 * scale + 3.0, z2 * 2.0, 5e-3).item() == pytest.approx(base, rel=1e-3)


# --- VICReg ----------------------------------------------------------------------------------


def test_vicreg_terms_on_known_inputs():
    z = whitened(64, 16) * 2.0  # std 2 in every dimension, uncorrelated
    loss, terms = vicreg_loss(z, z.clone())
    assert terms["invariance"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["variance"].item() == pytest.approx(0.0, abs=1e-6)  # hinge: std above 1 costs nothing
    assert terms["covariance"].item() == pytest.approx(0.0, abs=1e-6)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    collapsed = torch.ones(64, 16)
    loss, terms = vicreg_loss(collapsed, collapsed.clone())
    assert terms["variance"].item() == pytest.approx(1.0, abs=0.02)  # the full hinge: std 0
    assert loss.item() == pytest.approx(25.0, abs=0.5)
    redundant = z[:, :1].repeat(1, 16)  # every dimension the same: covariances of 4 everywhere
    _, terms = vicreg_loss(redundant, redundant)
    n = 64
    assert terms["covariance"].item() == pytest.approx(2 * 15 * 16 * (4 * n / (n - 1)) ** 2 / 16, rel=1e-3)


def test_vicreg_invariance_and_coefficients():
    torch.manual_seed(0)
    z1, z2 = torch.randn(32, 8), torch.randn(32, 8)
    loss, t = vicreg_loss(z1, z2, 25, 25, 1)
    assert t["invariance"].item() == pytest.approx(F.mse_loss(z1, z2).item())
    assert loss.item() == pytest.approx(25 * t["invariance"].item() + 25 * t["variance"].item() + t["covariance"].item(), rel=1e-5)
    perm = torch.randperm(32)
    assert vicreg_loss(z1[perm], z2[perm])[0].item() == pytest.approx(loss.item(), rel=1e-5)
    shifted = vicreg_loss(z1 + 1.0, z2 + 1.0)[0].item()  # a common shift changes nothing
    assert shifted == pytest.approx(loss.item(), rel=1e-5)


# --- DINO ------------------------------------------------------------------------------------


def test_dino_uniform_outputs_give_log_k():
    k = 64
    zeros = torch.zeros(2, 8, k)
    assert dino_loss(zeros, zeros, torch.zeros(k)).item() == pytest.approx(math.log(k), rel=1e-5)
    # a uniform teacher against any student: cross-entropy >= entropy log K, equal for a uniform student
    torch.manual_seed(0)
    assert dino_loss(torch.randn(2, 8, k), zeros, torch.zeros(k)).item() > math.log(k)


def test_dino_sharp_teacher_and_matching_student_give_near_zero():
    k, n = 16, 8
    onehot = F.one_hot(torch.arange(n) % k, k).float() * 10.0
    both = torch.stack([onehot, onehot])
    assert dino_loss(both, both, torch.zeros(k), 0.1, 0.04).item() < 1e-3
    wrong = torch.stack([onehot.roll(1, dims=1)] * 2)
    assert dino_loss(wrong, both, torch.zeros(k), 0.1, 0.04).item() > 50


def test_dino_centering_removes_a_constant_and_only_cross_view_pairs_count():
    torch.manual_seed(0)
    k = 32
    s, t = torch.randn(2, 8, k), torch.randn(2, 8, k)
    c = torch.randn(k)
    base = dino_loss(s, t, torch.zeros(k)).item()
    assert dino_loss(s, t + c, c).item() == pytest.approx(base, rel=1e-5)  # centering undoes a shift
    # swapping the student's views changes the pairing (teacher 0 <-> student 1)
    manual = 0.5 * sum(
        -(F.softmax(t[a] / 0.04, -1) * F.log_softmax(s[b] / 0.1, -1)).sum(-1).mean() for a, b in ((0, 1), (1, 0)))
    assert base == pytest.approx(manual.item(), rel=1e-5)
    perm = torch.randperm(8)
    assert dino_loss(s[:, perm], t[:, perm], torch.zeros(k)).item() == pytest.approx(base, rel=1e-5)


def test_dino_teacher_gets_no_gradient():
    s = torch.randn(2, 4, 8, requires_grad=True)
    t = torch.randn(2, 4, 8, requires_grad=True)
    dino_loss(s, t, torch.zeros(8)).backward()
    assert s.grad.abs().sum() > 0 and t.grad is None
