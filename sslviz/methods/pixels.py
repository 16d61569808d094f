"""Baseline: the raw pixels themselves as the representation."""

from __future__ import annotations

import torch

from .base import Method, MethodCard


class Pixels(Method):
    name = "pixels"
    title = "Raw pixels"  # how people write it
    family = "baseline"
    paper = "Raw pixels (no network): the baseline every representation is compared with"
    target = "nothing: the image is its own embedding"
    description = (
        "Each image is represented by its flattened pixels (C×H×W numbers), with no network at all. "
        "Two images are neighbours when they are close pixel by pixel, so the same shape shifted a "
        "few pixels or painted another colour is far away while two different shapes on the same "
        "background are close. With this project's kNN monitor it is a hard line to beat on digits: "
        "in BENCHMARKS.md no self-supervised method beats it on MNIST (0.951) or digits (0.975) "
        "within 30 to 60 s with the globally pooled small-cnn. The shipped runs (BENCHMARKS.md's zoo "
        "table, the monitor's kNN) do better with their recipes: on shapes most of the "
        "self-supervised entries beat it by more than 2 points (raw pixels 0.370; VICReg 0.813 in 240 s, "
        "SimCLR 0.875 in 300 s against 0.298 on its smaller bank); on MNIST at 28 px about a third of them "
        "do and about half are level with it (raw pixels 0.949; VICReg 0.974, the best)."
    )
    card = MethodCard(
        title="Raw pixels",
        predicts="Nothing is predicted: the flattened pixels are the embedding.",
        formula=r"f(x) = \mathrm{vec}(x) \in \mathbb{R}^{C \cdot H \cdot W}",
        invariance="None: a one-pixel shift or a new colour moves the image far away.",
        collapse="Nothing to collapse. The line every representation is compared with, and a hard one for the kNN "
        "monitor: no self-supervised method beats it on MNIST (0.951) within 60 s with global pooling; with "
        "the 2×2 grid pooling, MNIST's own 28 px and 240 s, seven in the benchmark do (VICReg 0.974, the best; "
        "raw pixels 0.949 at 28 px).",
        loss_function="",
    )
    trainable = False
    defaults = {}

    def step(self, images, labels, index):
        raise RuntimeError("pixels is not trained: it is only evaluated")

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()


METHOD = Pixels
