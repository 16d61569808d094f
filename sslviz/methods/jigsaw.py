"""Jigsaw puzzles: which of a fixed set of shuffles was applied to the image's tiles?"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslviz.augment.pretext import crop_at, jigsaw_grid, jigsaw_permutations, jigsaw_task, split_tiles, undo_jigsaw

from .base import Method, MethodCard, PretextTask
from .models import mlp_head


def jigsaw_loss(logits: torch.Tensor, permutation_index: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the P permutations of the fixed set.

    Noroozi & Favaro (2016), "Unsupervised Learning of Visual Representations by Solving Jigsaw
    Puzzles", Sec. 3: the context-free network sees the tiles in the shuffled order and is trained
    with loss = -log p(S | tiles), S the index of the permutation in the chosen set.
    """
    return F.cross_entropy(logits, permutation_index)


class Jigsaw(Method):
    name = "jigsaw"
    title = "Jigsaw"  # how people write it
    family = "pretext"
    paper = "Noroozi & Favaro, 2016. Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles"
    target = "which of the fixed tile shuffles was applied"
    description = (
        "The image is cut into a grid of tiles (2×2 at 32 px, 3×3 for larger images) and the tiles "
        "are shuffled by one of a fixed set of orders; the network sees each tile on its own (the same "
        "backbone for every tile) and must name the order. To put a face back together it has to know "
        "what parts look like and where they go. The danger is shortcuts: matching edges that continue "
        "across a cut, or a colour gradient, solves it without recognising anything, so each tile is a "
        "random crop inside its cell (a gap of a few pixels, a different jitter per tile). It cannot "
        "collapse (a constant answer scores chance, log P loss)."
    )
    card = MethodCard(
        title="Jigsaw puzzles",
        predicts="From the tiles of an image in shuffled order, predict which of P fixed shuffles was used.",
        formula=r"\mathcal{L} = -\log p_\theta\big(S \mid t_{\sigma_S(1)}, \dots, t_{\sigma_S(T)}\big)",
        invariance="Ignores where each tile was cut; must know what object parts look like and where they go.",
        collapse="A constant answer scores chance (loss log P). The failure is a shortcut: edges that continue across "
        "a cut give the order away, hence the gap and the jitter between tiles.",
        loss_function="jigsaw_loss",
    )
    test_budget = (300, 32)
    ships = ("shapes", "mnist-10k")
    default_lr = 2e-3
    # grid: tiles per side. 2 (16 px tiles, all 24 orders) suits 32 px images; use 3 (64 orders of
    # maximal Hamming distance) from about 64 px. The head's size depends on it, so it is fixed here.
    defaults = {"grid": 2, "permutations": 0, "gap": 2, "hidden": 512, "seed": 0}
    recalibrate_bn = True  # trained on tiles, scored on whole images: BN statistics re-estimated on clean images
    pretext = PretextTask(title="Jigsaw puzzle", layout="tiles", shown=5, chance=lambda method: 1 / len(method.perms))

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.grid = int(self.hp["grid"])
        self.register_buffer("perms", jigsaw_permutations(self.grid, self.hp["permutations"] or None, self.hp["seed"]))
        self.head = mlp_head(self.grid**2 * backbone.out_dim, self.hp["hidden"], len(self.perms))

    def tile_features(self, shuffled: torch.Tensor) -> torch.Tensor:
        """Cut the shuffled images into tiles, crop each at a random spot in its cell (the gap),
        encode every tile with the shared backbone and concatenate in position order."""
        n, g, gap = shuffled.shape[0], self.grid, self.hp["gap"]
        tiles = split_tiles(shuffled, g).flatten(0, 1)  # N·T × C × t × t
        size = tiles.shape[-1] - gap
        top, left = torch.randint(0, gap + 1, (2, len(tiles)), generator=self.generator, device=tiles.device)
        tiles = crop_at(tiles, top, left, size).contiguous(memory_format=torch.channels_last)
        return self.backbone(tiles).reshape(n, -1)

    @classmethod
    @torch.no_grad()
    def pretext_example(cls, x, method=None, seed=0):
        """Tiles shuffled by one of the method's fixed orders; target: which order. With a run: its guess,
        and the image put back together by the guessed order (right only when the guess is)."""
        grid = method.grid if method is not None else jigsaw_grid(x.shape[-1])
        perms = method.perms.cpu() if method is not None else jigsaw_permutations(grid)
        cut = x.shape[-1] // grid * grid
        x = x[..., :cut, :cut]
        shuffled, targets = jigsaw_task(x, perms, torch.Generator().manual_seed(seed))
        out = {"originals": x, "inputs": shuffled, "targets": targets, "orders": perms[targets], "grid": grid}
        if method is not None:
            guess = method.head(method.tile_features(shuffled)).argmax(1)
            out.update(predicted=guess, predicted_orders=perms[guess], restored=undo_jigsaw(shuffled, guess, perms))
        return out

    def step(self, images, labels, index):
        x = self.views(images)
        cut = x.shape[-1] // self.grid * self.grid
        inputs, targets = jigsaw_task(x[..., :cut, :cut], self.perms, self.generator)
        logits = self.head(self.tile_features(inputs))
        loss = jigsaw_loss(logits, targets)
        acc = (logits.argmax(1) == targets).float().mean().item()
        return loss, {"loss": loss.item(), "jigsaw_accuracy": acc}


METHOD = Jigsaw
