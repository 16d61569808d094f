"""SimSiam: predict one view's projection from the other's, with a stop-gradient and nothing else."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import Method, MethodCard
from .models import mlp_head


def simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                 stop_gradient: bool = True) -> torch.Tensor:
    """Symmetrised negative cosine similarity with a stop-gradient on the projections.

    Chen & He (2021), "Exploring Simple Siamese Representation Learning", Eq. 1-4:

        D(p, z) = - p/||p|| . z/||z||,    L = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2

    -1 at perfect agreement, 0 for unrelated directions. p: predictor outputs, z: projector
    outputs (N×D, row i from image i). The stop-gradient is what prevents a collapsed solution
    from being a stable optimum (Sec. 4.1: without it the loss reaches -1 at once and the outputs
    collapse to a constant). stop_gradient=False lets the gradient through the targets too: the
    broken variant of the "find the collapse" exercise.
    """
    def d(p, z):
        return -F.cosine_similarity(p, z.detach() if stop_gradient else z, dim=1).mean()

    return d(p1, z2) / 2 + d(p2, z1) / 2


class SimSiam(Method):
    name = "simsiam"
    title = "SimSiam"  # how people write it
    family = "non-contrastive"
    paper = "Chen & He, 2021. Exploring Simple Siamese Representation Learning (SimSiam)"
    target = "the projection of the other view (no gradient through the target)"
    description = (
        "Each image is augmented twice and both views go through the same network. A small "
        "predictor must turn one view's projection into the other's, and the target side is "
        "frozen for that step (stop-gradient). There are no negatives and no momentum network, "
        "so collapse is a real risk: mapping every image to the same vector solves the task. "
        "Watch the output spread (z_std, about 1 when healthy): if it heads to 0 while the loss "
        "sits at -1, the network has collapsed and kNN accuracy falls to chance. It becomes "
        "invariant to what the augmentations change."
    )
    card = MethodCard(
        title="SimSiam: stop the gradient",
        predicts="From one view's projection, predict the other view's projection, which is held fixed for the step.",
        formula=r"\mathcal{L} = \tfrac{1}{2} D\big(p_1, \mathrm{sg}(z_2)\big) + \tfrac{1}{2} D\big(p_2, \mathrm{sg}(z_1)\big), \quad D(p, z) = -\frac{p}{\|p\|} \cdot \frac{z}{\|z\|}",
        invariance="What the augmentations change.",
        collapse="Collapse is a real risk: without the stop-gradient the loss reaches -1 at once and every output is "
        "the same. Watch the output spread (z_std) and the gauge's spread: heading to 0 means collapse.",
        loss_function="simsiam_loss",
    )
    joint_embedding = True
    test_budget = (150, 64)
    ships = ("shapes", "mnist-10k")
    not_shipped = ("predictor",)
    default_lr = 2e-3
    # The paper's CIFAR-10 recipe scaled to a CPU: a 2-layer projector ending in BN (out 512;
    # the paper: 2,048) and a bottleneck predictor with a hidden layer 1/4 as wide (512 -> 128 -> 512).
    # stop_gradient False: the broken variant (sslviz/teaching/variants.py). Both sides of the loss then
    # move towards each other and the loss heads for -1 at once (Chen & He, 2021, Sec. 4.1: a collapsed
    # solution). The projector's final batch norm keeps the outputs from becoming one point, so here the
    # collapse is dimensional: measured on shapes (16 px, 124 steps), the backbone's effective rank fell
    # from 30 to 2.6 (healthy: 3.8 at that point; the zoo's 240-s run ends at kNN 0.56) and kNN to 0.23,
    # under the untrained network's 0.29.
    defaults = {"proj_hidden": 512, "proj_dim": 512, "pred_hidden": 128, "stop_gradient": True}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"], last_bn=True)
        self.predictor = mlp_head(self.hp["proj_dim"], self.hp["pred_hidden"], self.hp["proj_dim"])

    def step(self, images, labels, index):
        x = self.two_views(images)
        z = self.projector(self.backbone(x))
        p = self.predictor(z)
        (z1, z2), (p1, p2) = z.chunk(2), p.chunk(2)
        loss = simsiam_loss(p1, p2, z1, z2, bool(self.hp["stop_gradient"]))
        with torch.no_grad():  # the paper's collapse monitor: std of l2-normalised z, times sqrt(D)
            zn = F.normalize(z1, dim=1)
            z_std = zn.std(0).mean().item() * math.sqrt(zn.shape[1])
        return loss, {"loss": loss.item(), "cosine": -loss.item(), "z_std": z_std}


METHOD = SimSiam
