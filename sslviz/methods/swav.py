"""SwAV: predict the cluster code of one view from the other view."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslviz.core import distributed

from .base import Method, MethodCard
from .models import mlp_head


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Soft codes Q (B×K) for B samples over K prototypes with (near) equal use of every prototype.

    Caron et al. (2020), Eq. 3-4: Q* = Diag(u) exp(C^T Z / ε) Diag(v), the entropy-regularised
    optimal transport from samples to prototypes with uniform marginals (each prototype gets
    B/K samples), found by alternately rescaling rows and columns (Sinkhorn-Knopp). Each row of
    the result sums to 1 (a distribution per sample); columns sum to about B/K.

    With several processes B is the global batch: the prototype sums (over samples) are added up
    over all processes, so every process gets its rows of the codes of the whole batch.
    """
    top = distributed.all_reduce_max(scores.max().clone())
    q = torch.exp((scores - top) / epsilon).T  # K × B; subtracting the max avoids overflow
    q /= distributed.all_reduce_sum(q.sum())
    k = q.shape[0]
    b = q.shape[1] * distributed.world_size()
    for _ in range(iterations):
        q /= distributed.all_reduce_sum(q.sum(dim=1, keepdim=True)) * k  # every prototype gets mass 1/K
        q /= q.sum(dim=0, keepdim=True) * b  # every sample gets mass 1/B
    return (q * b).T


def swav_loss(scores1: torch.Tensor, scores2: torch.Tensor, temperature: float = 0.1,
              epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Swapped prediction loss.

    Caron, Misra, Mairal, Goyal, Bojanowski, Joulin (2020), "Unsupervised Learning of Visual
    Features by Contrasting Cluster Assignments", Eq. 1-2:
        L(z_t, z_s) = l(z_t, q_s) + l(z_s, q_t),  l(z_t, q_s) = -Σ_k q_s^(k) log p_t^(k),
        p_t^(k) = softmax_k(z_t^T c_k / τ),
    where scores = z^T c (cosine, both normalised) and the codes q come from `sinkhorn` (no gradient).
    """
    q1 = sinkhorn(scores1, epsilon, iterations)
    q2 = sinkhorn(scores2, epsilon, iterations)
    logp1 = F.log_softmax(scores1 / temperature, dim=1)
    logp2 = F.log_softmax(scores2 / temperature, dim=1)
    return -0.5 * ((q2 * logp1).sum(1).mean() + (q1 * logp2).sum(1).mean())


class SwAV(Method):
    name = "swav"
    title = "SwAV"  # how people write it
    family = "clustering"
    paper = "Caron et al., 2020. Unsupervised Learning of Visual Features by Contrasting Cluster Assignments (SwAV)"
    target = "the cluster code of the other view"
    description = (
        "Two augmented views of an image are each scored against K learnable prototypes (cluster "
        "centres on the sphere). For every batch, Sinkhorn-Knopp turns the scores into soft cluster "
        "codes under the rule that all prototypes are used equally; each view must then predict the "
        "other view's code. It becomes invariant to the augmentations like contrastive learning, but "
        "compares images with prototypes rather than with each other. The equal-use rule is what "
        "prevents collapse (everything in one cluster); watch for codes that stay uniform (loss "
        "stuck at log K) when ε is too large. As in the paper the prototypes are frozen at first "
        "(here for the first 5% of training, the lr warm-up), while the projections settle."
    )
    card = MethodCard(
        title="SwAV: swap the cluster codes",
        predicts="From one view, predict the cluster code (over K prototypes, found by Sinkhorn-Knopp) of the other view.",
        formula=r"\mathcal{L} = \ell(z_t, q_s) + \ell(z_s, q_t), \quad \ell(z_t, q_s) = -\sum_k q_s^{(k)} \log \mathrm{softmax}_k(z_t^\top c_k/\tau)",
        invariance="What the augmentations change, comparing images with prototypes instead of with each other.",
        collapse="Everything in one cluster is the collapse; the equal-use rule of Sinkhorn-Knopp prevents it. Codes "
        "that stay uniform (loss log K) mean ε is too large.",
        loss_function="swav_loss",
    )
    joint_embedding = True
    test_budget = (50, 64)
    ships = ("shapes", "mnist-10k")
    default_lr = 2e-3
    # freeze_prototypes: the fraction of the budget during which the prototypes get no gradient
    # (the paper: the first epoch of 100-800; here the trainer's 5% warm-up).
    defaults = {"prototypes": 64, "temperature": 0.1, "epsilon": 0.05, "sinkhorn_iterations": 3,
                "proj_hidden": 512, "proj_dim": 128, "freeze_prototypes": 0.05}
    ddp_find_unused_parameters = True  # the frozen prototypes take no part in the backward pass

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.prototypes = nn.Linear(self.hp["proj_dim"], self.hp["prototypes"], bias=False)
        self.progress = 0.0

    def after_step(self, progress: float) -> None:
        self.progress = progress

    def step(self, images, labels, index):
        with torch.no_grad():  # prototypes stay on the unit sphere (renormalised every step)
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        x = self.two_views(images)
        z = F.normalize(self.projector(self.backbone(x)), dim=1)
        c = self.prototypes.weight
        if self.progress < self.hp["freeze_prototypes"]:  # frozen: no gradient, so no optimiser update
            c = c.detach()
        s1, s2 = (z @ c.T).chunk(2)
        hp = self.hp
        loss = swav_loss(s1, s2, hp["temperature"], hp["epsilon"], hp["sinkhorn_iterations"])
        used = torch.cat([s1, s2]).argmax(1).unique().numel()
        return loss, {"loss": loss.item(), "prototypes_used": float(used)}


METHOD = SwAV
