"""VICReg: two views agree (invariance), every dimension varies (variance), dimensions decorrelate (covariance)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Method, MethodCard
from .models import mlp_head


def _variance(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """v(Z) = mean_j max(0, 1 - sqrt(Var(z_j) + eps)): a hinge keeping every dimension's std at 1 or more."""
    return F.relu(1 - (z.var(0) + eps).sqrt()).mean()


def _covariance(z: torch.Tensor) -> torch.Tensor:
    """c(Z) = sum_{i != j} Cov(Z)_ij^2 / d: the squared off-diagonal covariances."""
    n, d = z.shape
    z = z - z.mean(0)
    cov = z.T @ z / (n - 1)
    return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / d


def vicreg_loss(
    z1: torch.Tensor, z2: torch.Tensor, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Variance-Invariance-Covariance Regularization.

    Bardes, Ponce, LeCun (2022), "VICReg: Variance-Invariance-Covariance Regularization for
    Self-Supervised Learning", Eq. 1-6:

        l(Z, Z') = lambda s(Z, Z') + mu [v(Z) + v(Z')] + nu [c(Z) + c(Z')]
        s = mean squared distance between paired rows,  v = mean_j relu(1 - std(z_j)),
        c = sum of squared off-diagonal covariances / d

    with lambda = mu = 25, nu = 1 in the paper. Like the authors' code, the variance term of
    the two branches is averaged (mu [v(Z) + v(Z')] / 2). A collapsed embedding (every row the
    same) pays the full variance penalty: mu * 1 = 25.
    z1, z2: N×D (row i of each comes from image i). Returns the loss and its three
    unweighted terms {"invariance", "variance", "covariance"}.
    """
    invariance = F.mse_loss(z1, z2)
    variance = (_variance(z1) + _variance(z2)) / 2
    covariance = _covariance(z1) + _covariance(z2)
    loss = sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance
    return loss, {"invariance": invariance, "variance": variance, "covariance": covariance}


class VICReg(Method):
    name = "vicreg"
    title = "VICReg"  # how people write it
    family = "non-contrastive"
    paper = "Bardes et al., 2022. VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning"
    target = "the other view's embedding, while every dimension keeps its variance and stays decorrelated"
    description = (
        "Each image is augmented twice and both views are embedded. Three terms, each one a "
        "picture: invariance pulls the two embeddings of an image together; variance keeps "
        "the spread of every embedding dimension across the batch above 1, which directly "
        "forbids collapse to one point; covariance decorrelates the dimensions so they do not "
        "all carry the same information. The network becomes invariant to what the "
        "augmentations change. Collapse would show as the variance term jumping towards 1 "
        "(every dimension constant); a healthy run keeps it near 0 while invariance falls. "
        "Without the covariance term the embedding can keep its spread along only a few "
        "directions (dimensional collapse), which the collapse gauge shows as a low effective rank."
    )
    card = MethodCard(
        title="VICReg: three terms, three pictures",
        predicts="Pull the two views' embeddings together while every dimension keeps its spread and the dimensions "
        "stay decorrelated.",
        formula=r"\mathcal{L} = \lambda\, s(Z, Z') + \mu\,[v(Z) + v(Z')] + \nu\,[c(Z) + c(Z')]",
        invariance="What the augmentations change (the invariance term s).",
        collapse="The variance term v forbids collapse outright: a collapsed embedding pays its full price (μ). "
        "Collapse would show as v jumping towards 1; the covariance term c stops dimensional collapse "
        "(a low effective rank on the gauge).",
        loss_function="vicreg_loss",
    )
    joint_embedding = True
    test_budget = (100, 64)
    ships = ("shapes", "mnist-10k")
    default_lr = 2e-3
    # The paper's coefficients (25, 25, 1); its 3-layer 8,192-wide expander scaled to 512 on a CPU.
    # std_coeff 0 is the broken variant (sslviz/teaching/variants.py): without the variance term nothing
    # keeps the embedding spread out, invariance pulls the two views together and the covariance term is
    # happiest with no variance at all (the paper's ablation of the variance term collapses, Bardes et
    # al., 2022). Measured on shapes (16 px, 62 steps): the expander's output goes to one point (the
    # unweighted variance term reads 0.98), the backbone's effective rank falls from 30 to 1.9 (healthy
    # 5.0) and kNN to 0.17 (healthy 0.36, chance 0.125).
    defaults = {"proj_hidden": 512, "proj_dim": 512, "sim_coeff": 25.0, "std_coeff": 25.0, "cov_coeff": 1.0}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"], layers=3)

    def step(self, images, labels, index):
        y = self.backbone(self.two_views(images))  # the paper's representations y, y' (stacked)
        z1, z2 = self.projector(y).chunk(2)  # the expander's embeddings z, z', where the loss is taken
        loss, terms = vicreg_loss(z1, z2, self.hp["sim_coeff"], self.hp["std_coeff"], self.hp["cov_coeff"])
        return loss, {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}


METHOD = VICReg
