"""Baseline: the backbone with its random initial weights, never trained."""

from __future__ import annotations

from .base import Method


class RandomInit(Method):
    name = "random-init"
    family = "baseline"
    paper = "The untrained network (e.g. Saxe et al., 2011. On Random Weights and Unsupervised Feature Learning)"
    target = "nothing: no training"
    description = (
        "The same backbone, evaluated with the random weights it starts from. Random convolutions "
        "followed by ReLU and pooling already compute useful local features (edges, blobs, colour "
        "patches), so this baseline is often surprisingly strong: kNN on an untrained small CNN "
        "beats raw pixels by a wide margin. A self-supervised method has learnt something only where "
        "it beats this line."
    )
    trainable = False
    defaults = {}

    def step(self, images, labels, index):
        raise RuntimeError("random-init is not trained: it is only evaluated")


METHOD = RandomInit
