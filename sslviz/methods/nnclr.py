"""NNCLR: the positive of a view is its nearest neighbour among past images, not its own twin.

SimCLR's positive is another view of the same image, so the network only learns what the
augmentations can show it. NNCLR (Dwibedi et al., 2021) looks the view's projection up in a support
set (a queue of projections of earlier batches, sslviz/methods/_queue.py) and uses the most similar
one as the positive for the other view's prediction: a different image of (probably) the same kind,
which no crop or colour change would produce. Everything else is SimCLR's: the softmax over the
batch (NT-Xent) with the other images as negatives, both directions. Written after reading lightly's
NNCLR (its NNMemoryBankModule, projection and prediction heads); no code is taken from it.

This file is all there is to NNCLR in sslviz: its card, its test budget and the datasets its zoo
entries are built on are declared on the class and read off the registry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslviz.core import distributed

from ._queue import enqueue, register_queue
from .base import Method, MethodCard
from .models import mlp_head
from .simclr import nt_xent_loss


@torch.no_grad()
def nearest_neighbours(z: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """The row of `support` (K×D) most similar (cosine) to each row of `z` (N×D), L2-normalised:
    NN(z, Q) = argmax_{q in Q} cos(z, q), Dwibedi et al. (2021), Eq. 2. No gradient flows through it."""
    support = F.normalize(support, dim=1)
    return support[(F.normalize(z, dim=1) @ support.T).argmax(1)]


def nnclr_loss(z1: torch.Tensor, z2: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, support: torch.Tensor,
               temperature: float = 0.1) -> torch.Tensor:
    """NNCLR's symmetric loss.

    Dwibedi, Aytar, Tompson, Sermanet, Zisserman (2021), "With a Little Help from My Friends:
    Nearest-Neighbor Contrastive Learning of Visual Representations", Eq. 2:

        L_i = -log( exp(NN(z_i, Q) . p+_i / t) / sum_k exp(NN(z_i, Q) . p+_k / t) )

    where z_i is one view's projection, NN(z_i, Q) its nearest neighbour in the support set Q,
    p+_i the prediction made from the other view of image i, and all vectors are L2-normalised.
    Here the softmax runs over the batch as SimCLR's NT-Xent does (nt_xent_loss), and the loss is
    averaged over both directions: NN(z1) with p2 and NN(z2) with p1. When Q holds exact copies of
    z1 and z2, NN(z) = z and the loss is SimCLR's on the projections and the predictions.

    z1, z2: N×D projections of the two views; p1, p2: N×D predictions (the predictor on z1, z2);
    support: K×D projections of earlier batches (no gradient flows into it).
    """
    nn1, nn2 = nearest_neighbours(z1, support), nearest_neighbours(z2, support)
    return 0.5 * (nt_xent_loss(nn1, p2, temperature) + nt_xent_loss(nn2, p1, temperature))


class NNCLR(Method):
    name = "nnclr"
    title = "NNCLR"  # how people write it
    family = "contrastive"
    paper = ("Dwibedi et al., 2021. With a Little Help from My Friends: Nearest-Neighbor Contrastive Learning of "
             "Visual Representations (NNCLR)")
    target = "which prediction in the batch belongs with a view's nearest neighbour among earlier images"
    description = (
        "Each image is augmented twice, as in SimCLR, but the positive is not the other view: the "
        "network looks one view's projection up in a support set (a queue of thousands of projections "
        "of earlier images) and takes its nearest neighbour. From the other view it must predict that "
        "neighbour, out of the whole batch (NT-Xent). The neighbour is a different image of, most "
        "likely, the same kind, so the network learns variations no augmentation makes (two different "
        "squares, not just one square cropped twice). Negatives prevent collapse, as in SimCLR; a "
        "failing run shows the loss stuck near log(2N-1) and the gauge's spread falling."
    )
    card = MethodCard(
        title="NNCLR: a friend as the positive",
        predicts="From one view, predict the nearest neighbour (among thousands of earlier images' projections) "
        "of the other view, and pick it out among the batch.",
        formula=r"\ell_i = -\log \frac{\exp(\mathrm{NN}(z_i, Q) \cdot p^+_i / \tau)}"
        r"{\sum_k \exp(\mathrm{NN}(z_i, Q) \cdot p^+_k / \tau)}",
        invariance="What the augmentations change, and beyond it what tells one image of a kind from its "
        "neighbours: the positives are other images.",
        collapse="The negatives prevent collapse, as in SimCLR; a collapsing run has its loss stuck near "
        "log(2N-1), every neighbour the same support entry, and the gauge's spread falling to zero.",
        loss_function="nnclr_loss",
    )
    joint_embedding = True
    # 150 steps of 64 (tests/test_methods_learn.py's style: strided small-cnn on shapes, seed 0 / 1): kNN
    # 0.197 -> 0.238 / 0.202 -> 0.245. 100 steps were too few: 0.197 -> 0.185.
    test_budget = (150, 64)
    ships = ("shapes", "mnist-10k")
    not_shipped = ("queue", "predictor")
    default_lr = 2e-3
    # The paper's design scaled to a CPU, as MoCo is: a 4,096-projection support set (the paper: 98,304),
    # temperature 0.1 (the paper's), a 2-layer projector to 128-d and a predictor 128 -> 512 -> 128.
    defaults = {"queue_size": 4096, "temperature": 0.1, "proj_hidden": 512, "proj_dim": 128, "pred_hidden": 512}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.predictor = mlp_head(self.hp["proj_dim"], self.hp["pred_hidden"], self.hp["proj_dim"])
        register_queue(self, self.hp["queue_size"], self.hp["proj_dim"])
        # rows of the queue written so far: the random start is never anyone's neighbour
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))

    def support(self, z: torch.Tensor) -> torch.Tensor:
        """The support set: the queue's written rows; before the first write, the batch's own
        projections (so the first step is SimCLR's)."""
        filled = int(self.queue_filled)
        return self.queue[:filled] if filled else z.detach()

    def step(self, images, labels, index):
        x = self.two_views(images)  # two independent views per image
        z = self.projector(self.backbone(x))
        p = self.predictor(z)
        (z1, z2), (p1, p2) = z.detach().chunk(2), p.chunk(2)  # the gradient flows through the predictions
        # with several processes the negatives and the queue's writes are the global batch's (no-ops in one)
        z1, z2 = distributed.gather_no_grad(z1), distributed.gather_no_grad(z2)
        p1, p2 = distributed.gather(p1), distributed.gather(p2)
        support = self.support(torch.cat([z1, z2]))
        loss = nnclr_loss(z1, z2, p1, p2, support, self.hp["temperature"])
        with torch.no_grad():
            nn1 = nearest_neighbours(z1, support)
            sim = nn1 @ F.normalize(p2, dim=1).T  # top-1: is the neighbour closest to its own image's prediction?
            acc = (sim.argmax(1) == torch.arange(len(z1), device=sim.device)).float().mean()
            nn_cos = (F.normalize(z1, dim=1) * nn1).sum(1).mean()  # how close the friends are
            enqueue(self.queue, self.queue_ptr, z1)  # one view per image, as in the paper
            self.queue_filled.fill_(min(int(self.queue_filled) + len(z1), len(self.queue)))
        return loss, {"loss": loss.item(), "pair_accuracy": acc.item(), "neighbour_cosine": nn_cos.item()}


METHOD = NNCLR
