"""RotNet: predict by how many quarter turns an image was rotated."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslviz.augment.pretext import rotation_task

from .base import Method, MethodCard, PretextTask


def rotation_loss(logits: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the 4 rotations.

    Gidaris, Singh, Komodakis (2018), "Unsupervised Representation Learning by Predicting Image
    Rotations", Eq. 1-2: loss = -1/4 sum_{y in 0..3} log F^y(g(X, y)), the mean negative log
    probability of the true rotation y of the image X rotated by g(., y).
    """
    return F.cross_entropy(logits, quarter_turns)


class Rotation(Method):
    name = "rotation"
    title = "RotNet"  # how people write it
    family = "pretext"
    paper = "Gidaris et al., 2018. Unsupervised Representation Learning by Predicting Image Rotations (RotNet)"
    target = "the rotation applied to the image (0, 90, 180 or 270 degrees)"
    description = (
        "Every image is shown at 0, 90, 180 and 270 degrees and the network must say which. To know "
        "which way is up it has to recognise the object and its parts, so the features keep the "
        "object's identity and its orientation (they are not rotation invariant). It cannot "
        "collapse to a constant, but it can cheat on low-level cues (a border, a lighting "
        "gradient), and it fails on objects with no natural 'up' such as circles."
    )
    card = MethodCard(
        title="RotNet: which way is up?",
        predicts="From an image turned by 0°, 90°, 180° or 270°, predict the turn (4 classes).",
        formula=r"\mathcal{L} = -\frac{1}{4}\sum_{y=0}^{3} \log p_\theta\big(y \mid \mathrm{rot}(x, 90^\circ y)\big)",
        invariance="None to rotation: the features must keep the object's orientation (and so its identity).",
        collapse="It cannot collapse to a constant (that scores 25%), but it can cheat on cues like borders, and it "
        "has nothing to learn when images have no 'up' (the shapes here are drawn at random angles).",
        loss_function="rotation_loss",
    )
    test_budget = (20, 64)
    ships = ("shapes",)
    default_lr = 2e-3
    defaults = {}
    pretext = PretextTask(
        title="Rotation (RotNet)", layout="turns", shown=4, chance=1 / 4,
        notes=(("shapes", "On `shapes` this task has no answer: the shapes are drawn at random angles, so no turn "
                "looks more 'upright' than another. Try `digits`, which have an up."),))

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.classifier = nn.Linear(backbone.out_dim, 4)

    def step(self, images, labels, index):
        inputs, targets = rotation_task(self.views(images))
        logits = self.classifier(self.backbone(inputs.contiguous(memory_format=torch.channels_last)))
        loss = rotation_loss(logits, targets)
        acc = (logits.argmax(1) == targets).float().mean().item()
        return loss, {"loss": loss.item(), "rotation_accuracy": acc}

    @classmethod
    @torch.no_grad()
    def pretext_example(cls, x, method=None, seed=0):
        """Each image at 0/90/180/270°; target: the turn. With a run: its predicted turn."""
        inputs, targets = rotation_task(x)
        out = {"inputs": inputs, "targets": targets, "n": len(x)}
        if method is not None:
            out["predicted"] = method.predict_rotation(inputs.contiguous(memory_format=torch.channels_last))
        return out

    @torch.no_grad()
    def predict_rotation(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted quarter turns for float images (for the teaching page)."""
        return self.classifier(self.backbone(x)).argmax(1)


METHOD = Rotation
