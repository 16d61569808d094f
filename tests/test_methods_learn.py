"""Every method learns in a short run, and the baselines take the trainer's non-trainable path.

A few optimisation steps reduce the loss; a short training run on `shapes` beats the untrained
network's kNN accuracy and leaves a healthy collapse gauge (for every method, the contrastive and
non-contrastive ones of test_methods_contrastive.py too). The checks of the exceptions are helpers
that a collapsed BYOL and a dead GAN game are shown to fail.
"""

import math

import pytest
import torch
from method_support import (
    build_method,
    byol_problems,
    gan_logits,
    gan_problems,
    gan_readings,
    gauge_problems,
    method_test_budgets,
    thirds,
)

from sslviz.evaluation.collapse_gauge import collapse_metrics, collapse_warnings
from sslviz.evaluation.protocols import extract_features
from sslviz.methods import get_method
from sslviz.training.config import RunConfig

BASELINES = ["random-init", "pixels", "pca"]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def shapes():
    from sslviz.data import load_dataset

    return load_dataset("shapes", image_size=32, seed=0)


def test_gan_generator_has_its_own_optimiser():
    method = build_method("gan")
    trainer_params = {id(p) for p in method.optimizer_parameters()}
    assert not trainer_params & {id(p) for p in method.generator_net.parameters()}
    assert trainer_params == {id(p) for p in [*method.backbone.parameters(), *method.real_fake.parameters()]}
    before = [p.detach().clone() for p in method.generator_net.parameters()]
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    method.step(x, torch.zeros(16, dtype=torch.long), torch.arange(16))
    assert any(not torch.equal(b, p) for b, p in zip(before, method.generator_net.parameters()))


def _short_run(name, tmp_path, report=None, steps=50, batch=64, **over):
    """A fixed, machine-independent budget: `steps` steps of `batch` images, in epochs of at most
    100 steps (DeepCluster re-clusters at each). labels_per_class only shrinks the training set (only supervised reads the
    labels); the kNN monitor scores 2,000 test images against 2,000 training images, the same for
    the untrained network (sampling noise about ±0.01)."""
    from sslviz.training import train

    epochs = -(-steps // 100)
    # the budgets below were chosen on the strided small-cnn, whose untrained kNN on shapes is 0.22; the
    # recipe's max-pool backbone starts at 0.37 and is measured by `bench methods` (BENCHMARKS.md)
    config = dict(method=name, dataset="shapes", epochs=epochs, batch_size=batch, labels_per_class=steps * batch // 8 // epochs,
                  device="cpu", eval_train_max=2000, eval_test_max=2000, seed=0, backbone="small-cnn",
                  final_scores=False)  # read by the monitor; the papers' figures: tests/test_paper_protocol.py
    config.update(over)
    return train.run(RunConfig.from_dict(config), tmp_path, report)


# How long each method trains on shapes in the test below: (steps, images per step), with its
# default hyper-parameters. Measured kNN accuracy, untrained -> trained, for seeds 0 and 1 (the
# test uses 0), on this budget (CPU, 1 thread; numbers move by about ±0.01 with the thread count):
#   simclr 19.7 -> 28.8 / 20.2 -> 29.4        vicreg 19.7 -> 30.0 / 20.2 -> 26.2
#   cpc 19.7 -> 28.1 / 20.2 -> 26.3           barlow-twins 19.7 -> 27.6 / 20.2 -> 25.3
#   moco 19.7 -> 25.5 / 20.2 -> 24.1          simsiam 19.7 -> 25.4 / 20.2 -> 23.3
#   dino 19.7 -> 24.1 / 20.2 -> 23.3          jigsaw 19.7 -> 27.3 / 20.2 -> 25.5
#   relative-position 19.7 -> 27.2 / 20.2 -> 23.8
#   deep-infomax 19.7 -> 30.7 / 20.2 -> 25.4
#   colorization (gray input) 23.7 -> 28.8 / 23.8 -> 27.4
#   inpainting 19.7 -> 26.4 / 20.2 -> 22.9    denoising-ae 19.7 -> 25.1 / 20.2 -> 24.0
#   deepcluster (edge input) 25.2 -> 33.1 / 26.7 -> 32.5
#   supervised 19.7 -> 32.0 / 20.2 -> 28.5
# Fast learners get fewer steps; the pretext, reconstruction and clustering methods learn more from
# many small steps than from fewer large ones (at the same cost, 300 × 32 beat 150 × 64 on both
# seeds for jigsaw, colorization, inpainting, denoising-ae, deepcluster).
# Each method's class declares its budget (`test_budget`, read off the registry: a new method's file
# brings its own). DINO's (300, 64): scored with its teacher (the paper's choice), which lags the student
# early: 150 × 64 gave teacher 20.6 / 19.2 against student 22.8 / 23.8; 300 × 64: teacher 23.3 / 21.3.
# The KNOWN_EXCEPTIONS below get a short run, for the weaker check.
BUDGETS = method_test_budgets()

# Methods trained here at their own defaults rather than the recipe's for drawn images: the budget
# above was measured with them. The recipe's harder corruption for the denoising autoencoder (noise
# 0.5, half the pixels dropped) pays off at 120 s on the max-pool backbone (kNN 0.262 vs 0.243,
# BENCHMARKS.md) but not in 300 × 32 on this one: 19.7 -> 16.9 (seed 0).
CLASS_DEFAULTS = ("denoising-ae",)


# Methods that do not beat the untrained network on shapes reliably within a test-sized budget,
# and why (measured as above). They must still train without wrecking the features, and learn
# their own task: that is what the test checks for them.
KNOWN_EXCEPTIONS = {
    "rotation": "shapes are drawn at uniformly random angles, so a rotated image is exactly as likely as "
                "the original: 'which way is up' has no answer and rotation accuracy stays at chance "
                "(150 × 64: 19.7 -> 17.4; on digits it learns: test_rotation_learns_where_images_have_an_up)",
    "byol": "its target network moves slowly (momentum 0.99 -> 1): 150 × 64: 19.7 -> 19.6 / 20.2 -> 21.5, "
            "300 × 64: 19.7 -> 23.4 / 20.2 -> 22.0; lower momentum or SimSiam-style heads helped by 1-2 points at most",
    "swav": "prototypes and codes start random and a 64-image batch gives Sinkhorn-Knopp little to share out: "
            "150 × 64: 19.7 -> 22.7 / 20.2 -> 19.8, 300 × 64: 19.7 -> 25.3 / 20.2 -> 22.3 "
            "(32 prototypes, a queue for the codes, more Sinkhorn iterations: no better)",
    "gan": "a game: the gain swings with the seed (300 × 32: 19.7 -> 24.5 / 20.2 -> 23.5; 200 × 32: "
           "19.7 -> 22.4 / 20.2 -> 26.3; 150 × 64: 19.7 -> 25.6 / 20.2 -> 22.0)",
}

# What shows each exception learning its own task: (metric, mean of the last third must exceed this).
EXCEPTION_LEARNS = {
    "rotation": None,  # nothing to learn on shapes: checked to stay at chance instead
    "byol": ("cosine", "rises"),
    "swav": ("loss", "falls"),
    "gan": ("discriminator_accuracy", 0.5),
}


def _series(report):
    """The reported metrics by name (training steps' and evaluations'), in order."""
    series = {}
    for _, _, _, key, value in report.rows:
        series.setdefault(key, []).append(value)
    return series


def test_every_trainable_method_has_a_budget():
    from sslviz.methods import list_methods

    trainable = {m["name"] for m in list_methods()} - set(BASELINES)
    assert trainable == set(BUDGETS) and set(KNOWN_EXCEPTIONS) == set(EXCEPTION_LEARNS) <= trainable


# What shows a method learning when its loss need not fall: (metric, "rises"). MoCo's loss rises
# in a short run: its queue of random keys fills with real ones, ever harder as the key encoder learns.
LEARNING_SIGNAL = {"moco": ("positive_cosine", "rises")}


@pytest.mark.parametrize("name", list(BUDGETS))
def test_short_training_reduces_the_loss_and_beats_the_untrained_network(name, tmp_path, request):
    from sslviz.training.train import Reporter

    steps, batch = BUDGETS[name]
    report = Reporter(interval=0)  # every step's loss: the thirds below do not depend on the machine's speed
    over = {"method_params": dict(get_method(name).defaults)} if name in CLASS_DEFAULTS else {}
    summary = _short_run(name, tmp_path, report, steps=steps, batch=batch, **over)
    assert summary["steps"] == steps
    series = _series(report)
    assert all(math.isfinite(v) for v in series["loss"])
    gain = summary["knn_accuracy"] - summary["knn_random_init"]
    feats = _held_out_embedding(tmp_path, summary)
    gauge = collapse_metrics(feats)
    print(f"{name}: kNN {summary['knn_random_init']:.3f} untrained -> {summary['knn_accuracy']:.3f} "
          f"after {steps} steps of {batch}; gauge spread {gauge['spread']:.3f}, "
          f"effective rank {gauge['effective_rank']:.1f}")
    # the trained model's embedding of held-out images is not collapsed (every method, exceptions too),
    # read off the last snapshot and as the trainer's summary records it
    assert gauge["spread"] == pytest.approx(summary["spread"], rel=0.01)
    assert gauge["effective_rank"] == pytest.approx(summary["effective_rank"], rel=0.01)
    assert collapse_warnings(summary) == [], (name, summary)
    if name != "byol":  # BYOL's is part of its stronger check below
        assert gauge_problems(feats) == [], (name, gauge)
    if name in KNOWN_EXCEPTIONS:
        assert gain > -0.05, summary  # it trains without wrecking the features ...
        if name == "rotation":  # ... and the reason holds: there is nothing to learn
            assert abs(thirds(series["rotation_accuracy"])[1] - 0.25) < 0.06, series["rotation_accuracy"]
            return
        _assert_learns(series, *EXCEPTION_LEARNS[name])  # ... and it learns its own task ...
        if name == "byol":  # ... without the cosine being a collapse's
            assert byol_problems(series["cosine"], feats) == [], (series["cosine"], gauge)
        elif name == "gan":  # ... in a game that is still being played
            method = _trained_method(tmp_path, request.getfixturevalue("shapes"))
            logits = gan_logits(method, request.getfixturevalue("shapes").test.images[:256])
            assert gan_problems(series, *logits) == [], gan_readings(series, *logits)
        return
    _assert_learns(series, *LEARNING_SIGNAL.get(name, ("loss", "falls")))
    assert gain > 0.015, summary


# --- the checks, as helpers that a collapsed or dead model can be shown to fail -----------------


def _held_out_embedding(run_dir, summary) -> torch.Tensor:
    """The trained network's features of the monitor's held-out test images (its last snapshot)."""
    import numpy as np

    with np.load(run_dir / f"embeddings_{summary['epochs']:04d}.npz") as snap:
        return torch.from_numpy(snap["features"].astype(np.float32))


def _trained_method(run_dir, data):
    """The run's trained method, rebuilt from its checkpoint exactly as the trainer built it."""
    from sslviz.training import train

    ckpt = train.load_checkpoint(run_dir / "checkpoint.pt")
    config = RunConfig.from_dict(ckpt["config"])
    assert (config.dataset, config.image_size, config.seed) == ("shapes", 32, 0)  # the `shapes` fixture
    method = train.build_method(config, data, torch.device("cpu"))
    method.load_state_dict(ckpt["model"])
    return method


def test_gauge_check_fails_on_collapsed_and_dead_embeddings():
    g = _gen()
    assert gauge_problems(torch.randn(500, 64, generator=g)) == []
    point = torch.randn(1, 64, generator=g) + 1e-4 * torch.randn(500, 64, generator=g)
    assert gauge_problems(point)[0].startswith("collapsed to a point")
    plane = torch.randn(500, 2, generator=g) @ torch.randn(2, 64, generator=g)
    assert gauge_problems(plane)[0].startswith("dimensional collapse")
    dead = torch.full((500, 64), float("nan"))
    assert collapse_warnings(collapse_metrics(dead)) == []  # the warnings alone say nothing of NaN ...
    assert gauge_problems(dead) != []  # ... the check fails it


def test_byol_check_fails_on_a_collapsed_byol(shapes):
    """A hand-collapsed BYOL: the last convolution of both backbones zeroed, every image maps to the
    same point (and stays there: ReLU passes no gradient at 0). The heads learn to predict the
    constant target, so the cosine rises to ~1 and passes; only the gauge sees the collapse."""
    method = build_method("byol")
    for net in (method.backbone, method.target_backbone):
        with torch.no_grad():
            net.features[-1][0].weight.zero_()
    optimizer = torch.optim.AdamW(method.optimizer_parameters(), lr=method.default_lr)
    cosines, steps = [], 12
    for i in range(steps):
        idx = torch.arange(i * 32, (i + 1) * 32)
        loss, values = method.step(shapes.train.images[idx], shapes.train.labels[idx], idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        method.after_step(i / steps)
        cosines.append(values["cosine"])
    method.eval()
    feats = extract_features(method.embed, shapes.test.images[:500])
    assert thirds(cosines)[1] > 0.9, cosines  # the cosine alone looks better than a healthy run's
    problems = byol_problems(cosines, feats)
    assert problems and all(p.startswith(("collapsed to a point", "dimensional collapse")) for p in problems), problems


def test_gan_check_fails_when_the_discriminator_wins_outright(shapes):
    """A dead game: the generator frozen (its lr 0), so the discriminator soon tells every fake from
    the real images, its loss heads for 0 and the generator's grows."""
    torch.manual_seed(0)
    method = build_method("gan", g_lr=0.0)
    optimizer = torch.optim.AdamW(method.optimizer_parameters(), lr=5e-3)
    g, series = _gen(), {}
    for _ in range(40):
        idx = torch.randint(len(shapes.train), (16,), generator=g)
        loss, values = method.step(shapes.train.images[idx], shapes.train.labels[idx], idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for key, value in values.items():
            series.setdefault(key, []).append(value)
    logits = gan_logits(method, shapes.test.images[:256])
    problems = gan_problems(series, *logits)
    print(gan_readings(series, *logits), problems)
    for words in ("wins outright", "drift apart", "stuck at 100%", "loss -> 0", "generator loss exploding"):
        assert any(words in p for p in problems), (words, problems)


def _assert_learns(series, metric, bar):
    """Mean of the first third of the reported values vs the last third (rises / falls), or the
    mean over the run above a number."""
    first, last = thirds(series[metric])
    if bar == "rises":
        assert last > first, series[metric]
    elif bar == "falls":
        assert last < first, series[metric]
    else:
        assert sum(series[metric]) / len(series[metric]) > bar, series[metric]


def test_rotation_learns_where_images_have_an_up(tmp_path):
    """RotNet's exception on shapes is the data, not the method: on digits it learns its task."""
    from conftest import tiny_config

    from sslviz.training import train

    report = train.Reporter()
    train.run(tiny_config(method="rotation", epochs=2, seed=0), tmp_path, report)
    accuracy = _series(report)["rotation_accuracy"]
    assert thirds(accuracy)[1] > 0.5, accuracy  # chance is 0.25


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_go_through_the_non_trainable_path(name, tmp_path, shapes):
    from sslviz.training import train

    summary = _short_run(name, tmp_path)
    assert summary["stopped_by"] == "nothing to train" and summary["steps"] == 0
    assert 0.0 < summary["knn_accuracy"] <= 1.0
    ckpt = train.load_checkpoint(tmp_path / "checkpoint.pt")
    # a checkpoint restores into a freshly built (unprepared) method, on the backbone the recipe chose
    fresh = build_method(name, backbone=ckpt["config"]["backbone"])
    fresh.load_state_dict(ckpt["model"])
    x = shapes.test.images[:10].float() / 255
    dims = {"random-init": 256, "pixels": 3 * 32 * 32, "pca": 64}
    assert fresh.embed(x).shape == (10, dims[name])


def test_pca_embedding_is_the_projection_on_the_top_components(shapes):
    method = build_method("pca", components=16)
    images = shapes.train.images[:500]
    method.prepare(images)
    flat = images.flatten(1).float() / 255
    z = method.embed(flat.reshape(images.shape))
    assert z.shape == (500, 16)
    assert torch.allclose(z.mean(0), torch.zeros(16), atol=1e-3)  # centred on the training mean
    assert torch.all(z.var(0)[:-1] >= z.var(0)[1:] - 1e-4)  # components by decreasing variance
