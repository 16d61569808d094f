"""BYOL: predict the target network's projection of one view from the other view; no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslviz.augment.engine import PRESETS

from ._momentum import cosine_momentum, ema_update, momentum_copy
from .base import Method, MethodCard
from .models import mlp_head


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's normalised mean squared error between a prediction and a target projection.

    Grill et al. (2020), "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
    Eq. 2:

        L = || p/||p|| - z/||z|| ||^2 = 2 - 2 * cos(p, z)

    averaged over the batch: 0 when p points the same way as z, 4 when it points the opposite
    way. z is the target network's output and gets no gradient (stop-gradient). The method adds
    the symmetric term with the views swapped (L_BYOL = L + L~, Eq. 3).
    p, z: N×D (row i of each comes from image i).
    """
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


class BYOL(Method):
    name = "byol"
    title = "BYOL"  # how people write it
    family = "non-contrastive"
    paper = "Grill et al., 2020. Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning (BYOL)"
    target = "the target network's projection of the other view"
    description = (
        "Each image is augmented twice. The online network (backbone, projector and an extra "
        "predictor) looks at one view and must predict what a target network outputs for the "
        "other view; the target is a slow moving average of the online network and receives no "
        "gradient. There are no negatives: nothing in the loss forbids mapping every image to "
        "one point, yet the predictor and the slow target keep the run from collapsing in "
        "practice. The network becomes invariant to what the augmentations change. Collapse, "
        "if it happens, looks like a loss near 0 (cosine near 1) while the embedding spread "
        "(collapse gauge) falls to 0 and kNN accuracy drops."
    )
    card = MethodCard(
        title="BYOL: predict your slow twin",
        predicts="From one view, predict the projection a slowly moving target network makes of the other view.",
        formula=r"\mathcal{L} = \Big\| \frac{p_\theta}{\|p_\theta\|} - \frac{z'_\xi}{\|z'_\xi\|} \Big\|^2 = 2 - 2\cos(p_\theta, z'_\xi)",
        invariance="What the augmentations change.",
        collapse="No negatives, so mapping everything to one point would solve the loss; the predictor and the slow "
        "target prevent it in practice. Collapse: loss near 0, the gauge's spread near 0, kNN falling; a "
        "partial collapse shows as the effective rank falling to a few directions.",
        loss_function="byol_loss",
    )
    joint_embedding = True
    test_budget = (50, 64)
    ships = ("shapes", "mnist-10k")
    not_shipped = ("predictor", "target_backbone", "target_projector")
    default_lr = 2e-3
    # CIFAR-style BYOL scaled to a CPU: 512-wide heads (the paper uses 4,096 -> 256), target
    # momentum 0.99 -> 1 on the cosine schedule (the paper's 0.996 is for ~1,000 epochs of ImageNet).
    # asymmetric False: both views use the run's pipeline (the dataset's augmentations, which the UI
    # explains); True: the paper's two different views, PRESETS "byol-view1" / "byol-view2" (blur
    # always on one, solarize on the other; crops down to 8%: made for ImageNet photos).
    # predictor False: the broken variant (sslviz/teaching/variants.py): the online projection must
    # match the target's directly. Without the predictor nothing breaks the symmetry between the
    # online network and its slow copy, and a constant output would agree perfectly (the paper's
    # ablation of the predictor collapses, Grill et al., 2020, Sec. 5). Within a minute on shapes it
    # has not collapsed yet: the agreement jumps (cosine 0.93 vs 0.75 with the predictor, 124 steps at
    # 16 px) while kNN stays at the untrained network's (as the healthy run's still does this early).
    defaults = {"proj_hidden": 512, "proj_dim": 128, "pred_hidden": 512, "momentum": 0.99, "asymmetric": False,
                "predictor": True}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.predictor = (mlp_head(self.hp["proj_dim"], self.hp["pred_hidden"], self.hp["proj_dim"])
                          if self.hp["predictor"] else torch.nn.Identity())
        self.target_backbone = momentum_copy(self.backbone)
        self.target_projector = momentum_copy(self.projector)
        self.momentum = float(self.hp["momentum"])  # the current value of the schedule (a metric)

    def two_views(self, images):
        """The paper's two views come from two different pipelines (blur always in one, solarize in the other)."""
        if self.hp["asymmetric"]:
            return torch.cat([self.views(images, PRESETS["byol-view1"]), self.views(images, PRESETS["byol-view2"])])
        return super().two_views(images)

    def step(self, images, labels, index):
        x = self.two_views(images)
        p1, p2 = self.predictor(self.projector(self.backbone(x))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projector(self.target_backbone(x)).chunk(2)
        loss = byol_loss(p1, z2) + byol_loss(p2, z1)  # symmetric (Eq. 3)
        cos = 1 - loss.item() / 4  # mean cosine between predictions and targets
        return loss, {"loss": loss.item(), "cosine": cos, "target_momentum": self.momentum}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        self.momentum = cosine_momentum(self.hp["momentum"], progress)
        ema_update(self.target_backbone, self.backbone, self.momentum)
        ema_update(self.target_projector, self.projector, self.momentum)


METHOD = BYOL
