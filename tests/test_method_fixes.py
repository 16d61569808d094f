"""Methods brought closer to their papers: one test per fix (each failed before its fix).

1. DeepCluster: the classifier re-initialised every epoch gets fresh optimiser state.
2. DINO: evaluation embeds with the teacher.
3. SwAV: the prototypes are frozen for the first part of training.
4. GAN: the generator's own Adam is checkpointed and restored on resume.
5. CPC: each patch is encoded on its own, so a patch's code cannot tell where the patch sits.
6. Batch-norm statistics re-estimated on clean images for methods trained on altered inputs.
7. Colorization: class rebalancing of rare colours (Zhang et al., Eq. 3-4).
8. Denoising and inpainting paint from the pooled representation (the papers' bottleneck), not the map.
9. GAN: one-sided label smoothing of the real images' target (Salimans et al., 2016), when asked.
"""

import math

import pytest
import torch
from conftest import tiny_config

from sslviz.methods import get_method
from sslviz.methods.models import SmallCNN
from sslviz.training.config import RunConfig
from sslviz.training.recipes import default_pipeline


def _build(name, channels=3, dataset="shapes", **params):
    torch.manual_seed(0)
    method = get_method(name)(SmallCNN(channels), num_classes=8, pipeline=default_pipeline(dataset), **params)
    method.generator = torch.Generator().manual_seed(0)
    return method.to(memory_format=torch.channels_last)


def _images(n=32, channels=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)


def _train_steps(method, x, steps, progress=None, optimizer=None):
    optimizer = optimizer or torch.optim.AdamW(method.optimizer_parameters(), lr=1e-2)
    y, idx = torch.zeros(len(x), dtype=torch.long), torch.arange(len(x))
    for _ in range(steps):
        loss, _ = method.step(x, y, idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.after_step(0.5 if progress is None else progress)
    return optimizer


# --- 1. DeepCluster ---------------------------------------------------------------------------


def test_deepcluster_classifier_gets_fresh_optimiser_state_each_epoch(one_torch_thread):
    from sslviz.training.train import start_epoch

    method = _build("deepcluster", clusters=8, pca_dim=8)
    x = _images(48, size=16)
    start_epoch(method, None, 0, x)  # no optimiser (a baseline): nothing to drop
    optimizer = _train_steps(method, x, 2)
    head = list(method.classifier.parameters())
    assert all(p in optimizer.state for p in head)
    start_epoch(method, optimizer, 1, x)
    assert not any(p in optimizer.state for p in head)  # re-initialised head: Adam's moments start over
    assert all(p in optimizer.state for p in method.backbone.parameters())  # the backbone keeps its own
    _train_steps(method, x, 1, optimizer=optimizer)
    assert all(int(optimizer.state[p]["step"]) == 1 for p in head)


# --- 2. DINO ----------------------------------------------------------------------------------


def test_dino_evaluates_the_teacher(one_torch_thread):
    method = _build("dino", out_dim=32, hidden=32, bottleneck=16)
    _train_steps(method, _images(16, size=16), 3)
    method.eval()
    x = _images(8, size=16, seed=1).float().div(255).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        teacher, student = method.teacher_backbone(x), method.backbone(x)
    assert torch.equal(method.embed(x), teacher)
    assert not torch.allclose(teacher, student)


# --- 3. SwAV ----------------------------------------------------------------------------------


def test_swav_prototypes_are_frozen_at_first(one_torch_thread):
    method = _build("swav", prototypes=16, proj_hidden=32, proj_dim=16)
    assert method.hp["freeze_prototypes"] > 0  # on by default, as in the paper
    x = _images(16, size=16)
    optimizer = _train_steps(method, x, 1, progress=0.0)  # the first step puts them on the unit sphere
    frozen = method.prototypes.weight.detach().clone()
    backbone = [p.detach().clone() for p in method.backbone.parameters()]
    _train_steps(method, x, 3, progress=method.hp["freeze_prototypes"] / 2, optimizer=optimizer)
    assert torch.allclose(method.prototypes.weight, frozen, atol=1e-6)
    assert any(not torch.equal(b, p) for b, p in zip(backbone, method.backbone.parameters()))  # the rest learns
    _train_steps(method, x, 3, progress=0.5, optimizer=optimizer)
    assert not torch.allclose(method.prototypes.weight, frozen, atol=1e-3)


# --- 4. GAN -----------------------------------------------------------------------------------


def test_gan_generator_optimiser_state_round_trips(tmp_path, one_torch_thread):
    from sslviz.training.train import load_checkpoint, save_checkpoint

    method = _build("gan", channels=1, dataset="digits", g_width=16)
    _train_steps(method, _images(16, channels=1, size=16), 2)
    save_checkpoint(tmp_path / "c.pt", method, None, RunConfig(method="gan", dataset="digits"), {"epoch": 1})
    fresh = _build("gan", channels=1, dataset="digits", g_width=16)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    fresh.load_state_dict(ckpt["model"])
    fresh.load_extra_state(ckpt["method_extra"])
    want, got = method.g_optimizer.state_dict(), fresh.g_optimizer.state_dict()
    assert want["param_groups"] == got["param_groups"] and want["state"].keys() == got["state"].keys()
    for k, s in want["state"].items():
        assert int(s["step"]) == 2 and int(got["state"][k]["step"]) == 2
        assert torch.equal(s["exp_avg"], got["state"][k]["exp_avg"])
        assert torch.equal(s["exp_avg_sq"], got["state"][k]["exp_avg_sq"])


def test_gan_resume_continues_the_generator_optimiser(tmp_path, one_torch_thread):
    from sslviz.training import train

    over = dict(method="gan", batch_size=64, eval_train_max=200, eval_test_max=100, method_params={"g_width": 16})
    first = train.run(tiny_config(epochs=1, **over), tmp_path)
    second = train.run(tiny_config(epochs=2, **over), tmp_path, resume=True)
    assert second["epochs"] == 2 and second["steps"] == 2 * first["steps"]
    state = train.load_checkpoint(tmp_path / "checkpoint.pt")["method_extra"]["g_optimizer"]["state"]
    assert state and all(int(s["step"]) == second["steps"] for s in state.values())  # not restarted at resume


# --- 5. CPC -----------------------------------------------------------------------------------


def test_cpc_patches_are_encoded_independently(one_torch_thread):
    method = _build("cpc").eval()
    x = _images(2, size=32).float().div(255)
    with torch.no_grad():
        codes = method.grid_codes(x)
        touched = x.clone()
        touched[:, :, :3, :3] = 1 - touched[:, :, :3, :3]  # pixels that only the top-left patch holds
        changed = (method.grid_codes(touched) - codes).abs().amax(-1)
        flat = method.grid_codes(torch.full((1, 3, 32, 32), 0.8))  # the same content everywhere
    assert codes.shape[1:3] == (4, 4)
    assert (changed[:, 0, 0] > 1e-4).all()
    changed[:, 0, 0] = 0
    assert changed.max() < 1e-5  # no other patch's code moved
    # no border or padding effect tells where a patch is: equal patches have equal codes
    assert torch.allclose(flat, flat[:, :1, :1].expand_as(flat), atol=1e-5)


# --- 6. batch-norm re-estimation ----------------------------------------------------------------


def _first_bn_input(backbone, x):
    return backbone.features[1][0](backbone.features[0](x))  # standardise, then the first conv


@pytest.mark.parametrize("name", ["denoising-ae", "inpainting", "jigsaw", "relative-position"])
def test_methods_trained_on_altered_inputs_ask_for_bn_re_estimation(name):
    assert get_method(name).recalibrate_bn is True
    assert get_method("simclr").recalibrate_bn is False


def test_recalibrated_bn_statistics_are_the_clean_images(one_torch_thread):
    from sslviz.evaluation.protocols import recalibrate_bn

    method = _build("denoising-ae", sigma=0.5, drop=0.5)
    torch.manual_seed(0)
    x = _images(256, size=16)
    clean = x.float().div(255).contiguous(memory_format=torch.channels_last)
    bn = method.backbone.features[1][1]
    for m in method.backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running statistics = everything seen in training (noisy inputs)
    _train_steps(method, x, 3)
    altered_mean = bn.running_mean.clone()
    method.eval()
    recalibrate_bn(method.embed, method.backbone, x, batch_size=64)
    assert not method.training and not bn.training and bn.momentum is None  # modes and momentum restored
    with torch.no_grad():
        h = _first_bn_input(method.backbone, clean)
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-4)
    assert torch.allclose(bn.running_var, h.var((0, 2, 3)), rtol=0.02)  # batch variances, averaged
    assert (bn.running_mean - altered_mean).abs().max() > 0.05


def test_trainer_re_estimates_bn_before_scoring(tmp_path, monkeypatch, one_torch_thread):
    from sslviz.training import train

    calls = []
    real = train.recalibrate_bn
    monkeypatch.setattr(train, "recalibrate_bn", lambda *a, **k: calls.append(1) or real(*a, **k))
    over = dict(batch_size=64, eval_train_max=200, eval_test_max=100, epochs=2, backbone="small-cnn")
    train.run(tiny_config(method="denoising-ae", **over), tmp_path / "dae")
    assert len(calls) == 2  # after each epoch; the untrained network keeps its initial statistics
    train.run(tiny_config(method="simclr", **over), tmp_path / "simclr")
    assert len(calls) == 2


# --- 7. colorization --------------------------------------------------------------------------


def test_colorization_rebalances_rare_colours(one_torch_thread):
    from sslviz.methods.colorization import chroma_bins, colorization_loss

    method = _build("colorization", bins=4)
    x = torch.zeros(20, 3, 16, 16, dtype=torch.uint8)
    x[:, 0] = 200  # mostly red ...
    x[0] = torch.tensor([0, 0, 200], dtype=torch.uint8)[:, None, None]  # ... one blue image
    x[:, :, :4, :4] = 128  # and a grey corner in each (320 grey pixels, 240 blue, 4,320 red)
    method.prepare(x)
    w = method.class_weights
    from sslviz.augment.pretext import colorization_task

    classes = chroma_bins(colorization_task(x.float().div(255))[1], 4)
    red, blue, grey = classes[2, 8, 8], classes[0, 8, 8], classes[0, 0, 0]
    assert w[blue] > w[grey] > w[red]  # the rarer the colour, the larger its weight
    p = torch.bincount(classes.flatten(), minlength=16).float()
    p /= p.sum()
    assert 0.5 < (p * w).sum() < 1.5  # about 1 on average (exactly 1 under the smoothed distribution)
    lam, q = method.hp["rebalance"], int((p > 0).sum())
    assert w[blue] / w[red] < q / lam  # bounded by the mixing with uniform
    # the loss weights each pixel by its class's weight
    logits = torch.randn(3, 16, 4, 4)
    chroma = colorization_task(torch.rand(3, 3, 4, 4))[1]
    t = chroma_bins(chroma, 4)
    want = (w[t] * torch.nn.functional.cross_entropy(logits, t, reduction="none")).mean()
    assert colorization_loss(logits, chroma, 4, w).item() == pytest.approx(want.item(), rel=1e-5)
    assert colorization_loss(logits, chroma, 4).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, t).item(), rel=1e-5)
    assert math.isfinite(method.step(x, torch.zeros(20, dtype=torch.long), torch.arange(20))[0].item())


def test_colorization_weights_survive_a_checkpoint():
    method = _build("colorization", bins=4)
    x = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    x[:, 0] = 200
    method.prepare(x)
    assert not torch.equal(method.class_weights, torch.ones(16))
    fresh = _build("colorization", bins=4)
    fresh.load_state_dict(method.state_dict())
    fresh.load_extra_state(method.extra_state())  # what train.run does on resume
    assert torch.equal(fresh.class_weights, method.class_weights)


# --- 8. reconstruction from the pooled representation ---------------------------------------------


@pytest.mark.parametrize("name", ["denoising-ae", "inpainting"])
def test_reconstruction_methods_paint_from_the_pooled_vector_by_default(name):
    """With the papers' bottleneck the picture must pass through the vector we score: moving the
    feature map's cells around (which leaves its global average unchanged) changes nothing; the
    decoder that reads the map sees the change."""
    x = _images(8).float().div(255).contiguous(memory_format=torch.channels_last)
    outputs = {}
    for code in ("vector", "map"):
        method = _build(name, **({} if code == get_method(name).defaults["code"] else {"code": code})).eval()
        assert method.hp["code"] == code
        with torch.no_grad():
            plain = method.reconstruct(x)
            hook = method.backbone.features.register_forward_hook(lambda m, i, out: out.flip(-1).flip(-2))
            moved = method.reconstruct(x)
            hook.remove()
        outputs[code] = (plain - moved).abs().max().item()
    assert get_method(name).defaults["code"] == "vector"
    assert outputs["vector"] < 1e-6 and outputs["map"] > 1e-4  # untrained decoders: small outputs, 5e-4 here


# --- 9. GAN label smoothing ---------------------------------------------------------------------


def test_gan_one_sided_label_smoothing_targets_real_images_only():
    from sslviz.methods.gan import discriminator_loss

    real, fake = torch.tensor([0.3, 2.0]), torch.tensor([-1.0, 0.5])
    plain = discriminator_loss(real, fake)
    assert plain.item() == pytest.approx((torch.nn.functional.softplus(-real).mean()
                                          + torch.nn.functional.softplus(fake).mean()).item(), abs=1e-6)
    smooth = discriminator_loss(real, fake, real_label=0.9)
    p = torch.sigmoid(real)
    expected = -(0.9 * p.log() + 0.1 * (1 - p).log()).mean() + torch.nn.functional.softplus(fake).mean()
    assert smooth.item() == pytest.approx(expected.item(), abs=1e-6)
    # a very confident real logit now costs more than a moderately confident one
    assert discriminator_loss(torch.tensor([8.0]), fake, 0.9) > discriminator_loss(torch.tensor([2.2]), fake, 0.9)
