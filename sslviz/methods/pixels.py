"""Baseline: the raw pixels themselves as the representation."""

from __future__ import annotations

import torch

from .base import Method


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
        "background are close. With this project's kNN monitor it is a hard line to beat: in "
        "BENCHMARKS.md no self-supervised method beats it on MNIST (0.951) or digits (0.975) "
        "within 30 to 60 s with the globally pooled small-cnn, and only SimCLR, VICReg and "
        "DeepCluster beat it on shapes (0.370); SimCLR on the 2×2-pooled small-cnn-grid does "
        "on MNIST (0.970 in 90 s)."
    )
    trainable = False
    defaults = {}

    def step(self, images, labels, index):
        raise RuntimeError("pixels is not trained: it is only evaluated")

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()


METHOD = Pixels
