"""MoCo v2: match a view to its key from a slowly moving encoder, against a long queue of old keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslviz.core import distributed

from ._momentum import ema_update, momentum_copy
from ._queue import enqueue, register_queue
from .base import Method, MethodCard
from .models import mlp_head


def infonce_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE with a queue of negatives, as in MoCo.

    He, Fan, Wu, Xie, Girshick (2020), "Momentum Contrast for Unsupervised Visual Representation
    Learning", Eq. 1 (with the MLP head and augmentations of Chen, Fan, Girshick, He (2020),
    "Improved Baselines with Momentum Contrastive Learning", MoCo v2):

        L_q = -log( exp(q . k+ / t) / (exp(q . k+ / t) + sum_{k- in queue} exp(q . k- / t)) )

    averaged over the batch; q, k+ and the queued keys are L2-normalised, so q . k is a cosine.
    q: N×D queries, k: N×D their positive keys (row i with row i; no gradient flows into k),
    queue: K×D keys of earlier batches (the negatives).
    """
    q = F.normalize(q, dim=1)
    k = F.normalize(k.detach(), dim=1)
    positive = (q * k).sum(1, keepdim=True)  # N×1
    negatives = q @ F.normalize(queue.detach(), dim=1).T  # N×K
    logits = torch.cat([positive, negatives], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def _split_bn_forward(net: nn.Module, x: torch.Tensor, splits: int, perm: torch.Tensor | None = None) -> torch.Tensor:
    """Run `net` on `splits` chunks so that batch norm sees groups, optionally after shuffling.

    MoCo's shuffling BN (Sec. 3.3) on one device: with the key encoder's groups drawn at random,
    an image's query and its positive key are normalised with statistics of different images,
    so the network cannot find its positive through batch statistics ("cheating").
    """
    if perm is not None:
        x = x[perm]
    out = torch.cat([net(chunk) for chunk in x.chunk(splits)])
    return out[perm.argsort()] if perm is not None else out


class MoCo(Method):
    name = "moco"
    title = "MoCo"  # how people write it
    family = "contrastive"
    paper = "He et al., 2020. Momentum Contrast for Unsupervised Visual Representation Learning (MoCo; v2: Chen et al., 2020)"
    target = "which key, among thousands queued from earlier batches, comes from the same image"
    description = (
        "Each image is augmented twice. One view goes through the network being trained (the "
        "query), the other through a momentum copy of it that moves slowly towards the trained "
        "one (the key). The query must pick its own key out of a queue of thousands of keys from "
        "earlier batches (InfoNCE). The queue gives many negatives without a huge batch, and the "
        "slow key encoder keeps the queued keys comparable. Like SimCLR it becomes invariant to "
        "what the augmentations change; the negatives prevent collapse, and a failing run shows "
        "the loss stuck near log(queue size) with the positive no more similar than the negatives."
    )
    card = MethodCard(
        title="MoCo: a dictionary of keys",
        predicts="From a query view, pick its own key (the other view, from a slow momentum encoder) among a queue "
        "of thousands of keys from earlier batches.",
        formula=r"\mathcal{L}_q = -\log \frac{\exp(q \cdot k_+/\tau)}{\exp(q \cdot k_+/\tau) + \sum_{k_-} \exp(q \cdot k_-/\tau)}",
        invariance="What the augmentations change, as in SimCLR; the queue gives many negatives without a huge batch.",
        collapse="Negatives prevent collapse; failure shows as the loss stuck near log(queue size), the positive no "
        "more similar than the negatives.",
        loss_function="infonce_loss",
    )
    joint_embedding = True
    test_budget = (150, 64)
    ships = ("shapes", "mnist-10k")
    not_shipped = ("queue", "key_backbone", "key_projector")
    default_lr = 2e-3
    # MoCo v2 / its CIFAR-10 demo, scaled to a CPU: a 4,096-key queue (16 batches of 256),
    # key-encoder momentum 0.99 (0.999 is for hundreds of epochs), temperature 0.2, 128-d output.
    # symmetric: both views serve as query and key (the CIFAR demo's option), twice the signal per image.
    defaults = {"queue_size": 4096, "momentum": 0.99, "temperature": 0.2, "proj_hidden": 512, "proj_dim": 128,
                "symmetric": True, "bn_splits": 4}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.key_backbone = momentum_copy(self.backbone)
        self.key_projector = momentum_copy(self.projector)
        register_queue(self, self.hp["queue_size"], self.hp["proj_dim"])  # buffers: saved in checkpoints

    def _encode(self, backbone, projector, x, perm=None):
        splits = max(1, min(int(self.hp["bn_splits"]), len(x) // 2))
        return _split_bn_forward(lambda v: projector(backbone(v)), x, splits, perm)

    def _enqueue(self, keys: torch.Tensor) -> None:
        enqueue(self.queue, self.queue_ptr, keys)

    def step(self, images, labels, index):
        n = len(images)
        x = self.two_views(images)  # two views per image
        x1, x2 = x[:n], x[n:]
        q_views = [x1, x2] if self.hp["symmetric"] else [x1]
        with torch.no_grad():  # keys: momentum encoder, shuffled BN groups
            k_views = [x2, x1] if self.hp["symmetric"] else [x2]
            keys = []
            for kx in k_views:
                perm = torch.randperm(len(kx), generator=self.generator, device=kx.device)
                keys.append(self._encode(self.key_backbone, self.key_projector, kx, perm))
        losses, accs = [], []
        for qx, k in zip(q_views, keys):
            q = self._encode(self.backbone, self.projector, qx)
            losses.append(infonce_loss(q, k, self.queue, self.hp["temperature"]))
            with torch.no_grad():  # is the positive key more similar than every queued key?
                qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
                pos = (qn * kn).sum(1)
                accs.append((pos > (qn @ self.queue.T).max(1).values).float().mean())
        loss = sum(losses) / len(losses)
        self._enqueue(distributed.gather_no_grad(torch.cat(keys)))  # all processes' keys
        return loss, {"loss": loss.item(), "key_accuracy": torch.stack(accs).mean().item(),
                      "positive_cosine": pos.mean().item()}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        m = self.hp["momentum"]
        ema_update(self.key_backbone, self.backbone, m)
        ema_update(self.key_projector, self.projector, m)


METHOD = MoCo
