"""Helpers for the method tests: a method built on `shapes`' kind of images, and the checks a
trained method must pass (its collapse gauge; BYOL's prediction-target agreement; a GAN game still
being played). Each check returns its problems as lines, so a test can show it fails on a
hand-made collapsed BYOL or a dead GAN game.
"""

import math

import torch

from sslviz.evaluation.collapse_gauge import (
    EFFECTIVE_RANK_WARNING,
    SPREAD_WARNING,
    collapse_metrics,
    collapse_warnings,
)
from sslviz.methods import get_method
from sslviz.methods.models import SmallCNN, build_backbone
from sslviz.training.recipes import default_pipeline


def build_method(name, channels=3, backbone=None, **params):
    net = SmallCNN(channels) if backbone is None else build_backbone(backbone, channels)
    method = get_method(name)(net, num_classes=8, pipeline=default_pipeline("shapes"), **params)
    method.generator = torch.Generator().manual_seed(0)
    return method.to(memory_format=torch.channels_last)


def method_test_budgets() -> dict[str, tuple[int, int]]:
    """method -> (steps, images per step) of its training test on shapes, as its class declares it
    (`test_budget`): every trainable method in the registry, none listed here by name."""
    from sslviz.methods import method_classes

    return {n: cls.test_budget for n, cls in method_classes().items() if cls.trainable}


def gauge_problems(feats: torch.Tensor) -> list[str]:
    """Why an embedding of held-out images (N×D) fails the collapse gauge; [] when it passes.

    collapse_warnings' words, plus a reading that is not strictly above its line for another
    reason: NaN features (a diverged, dead network) read NaN, which collapse_warnings lets pass."""
    gauge = collapse_metrics(feats)
    problems = collapse_warnings(gauge)
    if not problems and not (gauge["spread"] > SPREAD_WARNING and gauge["effective_rank"] > EFFECTIVE_RANK_WARNING):
        problems.append(f"no healthy gauge reading: {gauge}")
    return problems


# BYOL's loss is 2 - 2 cos(prediction, target) per view: a constant network reaches cosine 1 too.
BYOL_COSINE_BAR = 0.5  # the last third's mean prediction-target cosine (first report ~0; test budget: 0.67)


def byol_problems(cosines: list[float], feats: torch.Tensor) -> list[str]:
    """Why a BYOL run does not show learning without collapse; [] when it does: the
    prediction-target cosine rises and ends high, AND the embedding is not collapsed (the cosine
    alone is passed by a collapsed network, which predicts its constant target perfectly)."""
    first, last = thirds(cosines)
    problems = []
    if not last > first:
        problems.append(f"cosine does not rise ({first:.3f} -> {last:.3f})")
    if not last > BYOL_COSINE_BAR:
        problems.append(f"cosine stays low ({last:.3f} <= {BYOL_COSINE_BAR})")
    return problems + gauge_problems(feats)


@torch.no_grad()
def gan_logits(method, real: torch.Tensor, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's logits on held-out real images (uint8) and on as many fresh fakes, played
    as in a training step (batch statistics; the fakes leave the running statistics alone)."""
    from sslviz.methods.gan import real_statistics_only

    method.train()
    method.generator = torch.Generator().manual_seed(seed)
    fake = method.sample(len(real), real.shape[-1])
    real_logits = method.discriminate(real.float().div(255))
    with real_statistics_only(method.backbone):
        fake_logits = method.discriminate(fake)
    return real_logits, fake_logits


# A GAN whose discriminator wins outright stops teaching it anything (its loss -> 0, the generator's
# growing). Healthy, on the test's budget (100 × 32, seed 0, small-cnn): held-out real-vs-fake
# accuracy 0.45, logit gap -0.4, last-third reported accuracy 0.75 and discriminator loss 1.06,
# generator loss 1.16 -> 1.02 (peak 2.0). (On small-cnn-max: 0.57, 0.9, 0.96 and 0.43, 2.5 -> 1.9,
# peak 4.8: its discriminator sat at ~100% for most of the run and recovered at the end.)
# A dead game (generator frozen, test_gan_check_fails_when_the_discriminator_wins_outright):
# 1.0, 7.0, 0.99 and 0.14, 1.0 -> 3.1.
GAN_HELD_OUT_ACCURACY_MAX = 0.95  # the trained discriminator on held-out real images vs fresh fakes
GAN_LOGIT_GAP_MAX = 4.0  # mean real logit - mean fake logit (a sure discriminator drifts apart)
GAN_LOGIT_MAX = 20.0  # every logit's size
GAN_STUCK_ACCURACY = 0.98  # the last third's mean reported accuracy: stuck at 100%
GAN_D_LOSS_MIN = 0.2  # the last third's mean discriminator loss: -> 0 (a sure, right discriminator)
GAN_G_LOSS_MAX = 10.0  # any generator loss (softplus(-fake logit): a saturated discriminator's fakes)
GAN_G_LOSS_GROWTH = 1.5  # the last third's mean generator loss over the first third's: exploding


def gan_readings(series, real_logits, fake_logits) -> dict:
    correct = torch.cat([real_logits > 0, fake_logits < 0]).float()
    return {"held_out_accuracy": correct.mean().item(),
            "logit_gap": (real_logits.mean() - fake_logits.mean()).item(),
            "logit_max": torch.cat([real_logits, fake_logits]).abs().max().item(),
            "accuracy_thirds": thirds(series["discriminator_accuracy"]),
            "d_loss_thirds": thirds(series["loss"]), "g_loss_thirds": thirds(series["generator_loss"]),
            "g_loss_max": max(series["generator_loss"])}


def gan_problems(series: dict, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> list[str]:
    """Why a GAN run is not a game still being played; [] when it is. series: the run's reported
    metrics by name ("loss" is the discriminator's); the logits: `gan_logits` of the trained model."""
    r = gan_readings(series, real_logits, fake_logits)
    problems = []
    if not all(math.isfinite(v) for v in series["loss"] + series["generator_loss"]):
        problems.append("a loss is not finite")
    if not torch.isfinite(torch.cat([real_logits, fake_logits])).all() or not r["logit_max"] < GAN_LOGIT_MAX:
        problems.append(f"logits unbounded (max |logit| {r['logit_max']:.1f})")
    if not r["held_out_accuracy"] < GAN_HELD_OUT_ACCURACY_MAX:
        problems.append(f"the discriminator wins outright on held-out images (accuracy {r['held_out_accuracy']:.3f})")
    if not r["logit_gap"] < GAN_LOGIT_GAP_MAX:
        problems.append(f"real and fake logits drift apart (gap {r['logit_gap']:.2f})")
    if not r["accuracy_thirds"][1] < GAN_STUCK_ACCURACY:
        problems.append(f"discriminator accuracy stuck at 100% ({r['accuracy_thirds'][1]:.3f})")
    if not r["d_loss_thirds"][1] > GAN_D_LOSS_MIN:
        problems.append(f"discriminator loss -> 0 ({r['d_loss_thirds'][1]:.3f})")
    first, last = r["g_loss_thirds"]
    if not (r["g_loss_max"] < GAN_G_LOSS_MAX and last < GAN_G_LOSS_GROWTH * first):
        problems.append(f"generator loss exploding ({first:.2f} -> {last:.2f}, max {r['g_loss_max']:.2f})")
    return problems


def thirds(values):
    k = max(1, len(values) // 3)
    return sum(values[:k]) / k, sum(values[-k:]) / k
