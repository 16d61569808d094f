"""Context prediction: where does this patch sit relative to the centre patch?"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslviz.augment.pretext import relative_position_task

from .base import Method, MethodCard, PretextTask
from .models import mlp_head


def relative_position_loss(logits: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the 8 neighbour positions.

    Doersch, Gupta, Efros (2015), "Unsupervised Visual Representation Learning by Context
    Prediction", Sec. 3: given a patch pair (X_centre, X_neighbour) the network outputs
    p(y | X_centre, X_neighbour) over the 8 spatial configurations y, trained with
    loss = -log p(y_true | ...), the two patches encoded by the same (late-fusion) network.
    """
    return F.cross_entropy(logits, neighbour)


class RelativePosition(Method):
    name = "relative-position"
    title = "Relative position"  # how people write it
    family = "pretext"
    paper = "Doersch et al., 2015. Unsupervised Visual Representation Learning by Context Prediction"
    target = "which of the 8 neighbours of the centre patch the second patch is"
    description = (
        "Two patches are cut from a 3×3 grid over the image: the centre one and one of its 8 "
        "neighbours. The same network encodes each patch on its own and a small head must say where "
        "the second one sits (top-left, top, ..., bottom-right). Knowing that a wheel goes below a "
        "car door needs knowledge of objects and their parts. Shortcuts are the danger: lines that "
        "continue across the border or lens colour fringes give the answer away, so the patches are "
        "separated by a gap and each is jittered by a pixel or so. Each patch is enlarged to "
        "`patch_size` pixels so that the backbone sees roughly the scale it is evaluated at, and "
        "each image gives several puzzles per step. Views use the dataset's augmentation."
    )
    card = MethodCard(
        title="Context prediction: where is this patch?",
        predicts="From the centre patch and one neighbour, predict which of the 8 neighbours it is.",
        formula=r"\mathcal{L} = -\log p_\theta\big(y \mid x_{\mathrm{centre}}, x_{\mathrm{neighbour}}\big), \quad y \in \{1,\dots,8\}",
        invariance="Invariant to small shifts (the jitter), but it must know how parts of objects are arranged.",
        collapse="A constant answer scores 1/8. Shortcuts are the risk: lines continuing across the gap, or lens "
        "colour fringes, solve it without understanding anything.",
        loss_function="relative_position_loss",
    )
    test_budget = (100, 64)
    ships = ("shapes", "mnist-10k")
    default_lr = 2e-3
    # pairs: puzzles cut from each image per step (4 random neighbours; the task is slow to learn
    # with one: after 50 steps of 64 images kNN on shapes was 18.5% untrained, 18.5% with 1 pair,
    # 21.7% with 4). patch_size: patches (8 px at 32 px) are enlarged to this before the backbone.
    defaults = {"gap": 2, "jitter": 1, "patch_size": 16, "hidden": 512, "pairs": 4}
    recalibrate_bn = True  # trained on patches, scored on whole images: BN statistics re-estimated on clean images
    pretext = PretextTask(title="Relative patch position", layout="positions", shown=5, chance=1 / 8)

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.head = mlp_head(2 * backbone.out_dim, self.hp["hidden"], 8)

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        s = self.hp["patch_size"]
        if s and patches.shape[-1] != s:
            patches = F.interpolate(patches, size=(s, s), mode="bilinear", align_corners=False)
        return self.backbone(patches.contiguous(memory_format=torch.channels_last))

    def predict_position(self, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        """Logits over the 8 positions for float patch pairs (also used by the teaching page)."""
        f = self.encode(torch.cat([centre, neighbour])).chunk(2)
        return self.head(torch.cat(f, 1))

    @classmethod
    @torch.no_grad()
    def pretext_example(cls, x, method=None, seed=0):
        """The centre patch and one neighbour; target: which of the 8 neighbours (pretext.RELATIVE_NAMES)."""
        hp = method.hp if method is not None else cls.defaults
        centre, neighbour, targets = relative_position_task(
            x, torch.Generator().manual_seed(seed), gap=hp["gap"], jitter=hp["jitter"])
        out = {"images": x, "centre": centre, "neighbour": neighbour, "targets": targets}
        if method is not None:
            out["predicted"] = method.predict_position(centre, neighbour).argmax(1)
        return out

    def step(self, images, labels, index):
        views = self.views(images.repeat(self.hp["pairs"], 1, 1, 1))  # `pairs` puzzles per image
        centre, neighbour, targets = relative_position_task(
            views, self.generator, gap=self.hp["gap"], jitter=self.hp["jitter"])
        logits = self.predict_position(centre, neighbour)
        loss = relative_position_loss(logits, targets)
        acc = (logits.argmax(1) == targets).float().mean().item()
        return loss, {"loss": loss.item(), "position_accuracy": acc}


METHOD = RelativePosition
