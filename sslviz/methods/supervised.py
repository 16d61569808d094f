"""Supervised baseline: the same backbone trained with the labels (all, or a few per class)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .base import Method, MethodCard


def supervised_loss(logits, labels):
    """Plain cross-entropy on the true labels: the upper line every self-supervised method is held to."""
    return F.cross_entropy(logits, labels)


class Supervised(Method):
    name = "supervised"
    title = "Supervised"  # how people write it
    family = "baseline"
    paper = "Cross-entropy with labels (the reference a self-supervised method is compared with)"
    target = "the class label"
    description = (
        "The same backbone and augmentations, trained to predict the true label. With all labels it "
        "is the ceiling to compare with; with a few labels per class (labels_per_class) it is the "
        "baseline that self-supervised pre-training has to beat. It keeps what separates the "
        "classes and throws away everything else, including factors a later task might need."
    )
    card = MethodCard(
        title="Supervised baseline",
        predicts="From an augmented image, predict its true label.",
        formula=r"\mathcal{L} = -\log p_\theta(y \mid x)",
        invariance="Everything that does not separate the classes, including factors a later task might need.",
        collapse="It cannot collapse with labels; with few labels it overfits, which is the gap SSL tries to close.",
        loss_function="supervised_loss",
    )
    test_budget = (60, 64)
    ships = ("shapes", "mnist-10k")
    default_lr = 2e-3
    needs_labels = True
    defaults = {}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.classifier = nn.Linear(backbone.out_dim, self.num_classes)

    def step(self, images, labels, index):
        logits = self.classifier(self.backbone(self.views(images)))
        loss = supervised_loss(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean().item()
        return loss, {"loss": loss.item(), "train_accuracy": acc}


METHOD = Supervised
