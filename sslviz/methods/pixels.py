"""Baseline: the raw pixels themselves as the representation."""

from __future__ import annotations

import torch

from .base import Method


class Pixels(Method):
    name = "pixels"
    family = "baseline"
    paper = "Raw pixels (no network): the floor every representation must beat"
    target = "nothing: the image is its own embedding"
    description = (
        "Each image is represented by its flattened pixels (C×H×W numbers), with no network at all. "
        "Two images are neighbours when they are close pixel by pixel, so the same shape shifted a "
        "few pixels or painted another colour is far away while two different shapes on the same "
        "background are close. Whatever a method learns should beat this floor by a wide margin."
    )
    trainable = False
    defaults = {}

    def step(self, images, labels, index):
        raise RuntimeError("pixels is not trained: it is only evaluated")

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()


METHOD = Pixels
