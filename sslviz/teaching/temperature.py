"""Temperature and negatives, explained by the data: what NT-Xent does with one real batch.

For a batch of B held-out images, two augmented views each (2B views, embedded by a trained run
with the head its loss was computed on), this module gives what the lesson shows:

  similarity        the 2B×2B cosine similarities (rows i and B + i are the two views of image i)
  weights           each anchor's softmax over the other 2B - 1 views at temperature t:
                    w_ij = exp(s_ij / t) / sum_{k != i} exp(s_ik / t); the positive's weight is what
                    NT-Xent rewards (the loss is the mean of -log w_positive over the 2B anchors)
  hardest           the k negatives each anchor finds most similar, with their weights: at a low
                    temperature they take all the weight the positive does not, at a high one every
                    negative weighs about the same (1 / (2B - 1))
  loss              NT-Xent itself, computed by sslviz.methods.simclr.nt_xent_loss (the function the
                    trainer uses; not a second copy); log(2B - 1) is its value when the network cannot
                    tell views apart

More negatives (a bigger batch) share the softmax with the positive: its weight falls and the loss
rises at the same similarities. The weights are written out here (a softmax over one row) because
they are what the class looks at; the loss is the trainer's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sslviz.methods.simclr import nt_xent_loss

TEMPERATURES = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)  # the slider's log scale
BATCHES = (4, 8, 16, 32, 64, 128)


def similarity(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Cosine similarities of the 2B views [z1; z2] (2B×2B; rows i and B + i are one image's views)."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    return z @ z.T


def positive_index(b: int) -> torch.Tensor:
    """For each of the 2B anchors, the row of its positive (the other view of the same image)."""
    return torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])


def softmax_weights(sim: torch.Tensor, temperature: float) -> torch.Tensor:
    """Each row's softmax over the other views at the temperature (the anchor itself gets 0)."""
    if not temperature > 0:
        raise ValueError(f"temperature: must be positive, got {temperature!r}")
    logits = sim.float() / temperature
    logits = logits.masked_fill(torch.eye(len(sim), dtype=torch.bool, device=sim.device), float("-inf"))
    return logits.softmax(dim=1)


@dataclass
class Explained:
    similarity: np.ndarray  # 2B×2B cosine similarities
    weights: np.ndarray  # 2B×2B softmax weights (row: anchor)
    positive: np.ndarray  # 2B: the row of each anchor's positive
    positive_weight: np.ndarray  # 2B: the weight each anchor gives its positive
    hardest: np.ndarray  # 2B×k: each anchor's most similar negatives (rows), most similar first
    hardest_weight: np.ndarray  # 2B×k: their weights
    loss: float  # NT-Xent (simclr.nt_xent_loss) at this temperature
    chance_loss: float  # log(2B - 1): every view alike
    temperature: float
    batch: int  # B images, 2B views

    @property
    def negatives(self) -> int:
        return 2 * self.batch - 2

    @property
    def mean_positive_weight(self) -> float:
        return float(self.positive_weight.mean())


@torch.no_grad()
def explain(z1: torch.Tensor, z2: torch.Tensor, temperature: float, k: int = 3) -> Explained:
    """What NT-Xent sees in this batch at this temperature (z1, z2: B×D, row i of each from image i)."""
    b = len(z1)
    if b < 2 or z2.shape != z1.shape:
        raise ValueError(f"explain: need two views of at least 2 images with the same shape, got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    sim = similarity(z1, z2)
    w = softmax_weights(sim, temperature)
    pos = positive_index(b)
    rows = torch.arange(2 * b)
    negative_sim = sim.clone()
    negative_sim[rows, rows] = float("-inf")
    negative_sim[rows, pos] = float("-inf")
    k = max(0, min(k, 2 * b - 2))
    hardest = negative_sim.topk(k, dim=1).indices if k else torch.zeros(2 * b, 0, dtype=torch.long)
    return Explained(
        similarity=sim.numpy(), weights=w.numpy(), positive=pos.numpy(), positive_weight=w[rows, pos].numpy(),
        hardest=hardest.numpy(), hardest_weight=w.gather(1, hardest).numpy(),
        loss=float(nt_xent_loss(z1.float(), z2.float(), temperature)), chance_loss=math.log(2 * b - 1),
        temperature=float(temperature), batch=b)


@torch.no_grad()
def sweep(z1: torch.Tensor, z2: torch.Tensor, temperatures=TEMPERATURES) -> dict[str, list[float]]:
    """The same batch at every temperature: mean positive weight, mean weight of the hardest negative
    and the loss (for the curve beside the slider)."""
    out = {"temperature": [], "positive_weight": [], "hardest_weight": [], "loss": []}
    for t in temperatures:
        e = explain(z1, z2, t, k=1)
        out["temperature"].append(float(t))
        out["positive_weight"].append(e.mean_positive_weight)
        out["hardest_weight"].append(float(e.hardest_weight.mean()) if e.hardest_weight.size else 0.0)
        out["loss"].append(e.loss)
    return out


@dataclass
class Batch:
    views: np.ndarray  # 2B × H × W × 3 uint8: the views as shown (rows i and B + i: image i)
    z1: torch.Tensor  # B × D: the first views' embeddings (the run's projection head where it has one)
    z2: torch.Tensor
    labels: np.ndarray  # B: the images' classes
    class_names: list[str]
    run_id: str


@torch.no_grad()
def real_batch(store, run_id: str, batch: int = 16, seed: int = 0) -> Batch:
    """B held-out images of the run's dataset (the same ones for a seed), two views each with the run's
    own augmentations, embedded by the run (its checkpoint: sslviz.teaching.answers.load_trained)."""
    from sslviz.augment.engine import two_views
    from sslviz.embeddings.embedding import dataset_for

    from .answers import embed_views, load_trained, to_display

    if batch < 2:
        raise ValueError(f"batch: at least 2 images, got {batch}")
    trained = load_trained(store, run_id)
    data = dataset_for(trained.config)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(data.test), generator=g)[:batch]
    images = data.test.images[pick]
    v1, v2 = two_views(images, trained.method.pipeline, generator=g)
    z1, z2 = embed_views(trained.method, v1).float(), embed_views(trained.method, v2).float()
    return Batch(views=to_display(torch.cat([v1, v2])), z1=z1, z2=z2, labels=data.test.labels[pick].numpy(),
                 class_names=list(data.class_names), run_id=run_id)
