"""Feature extraction and the kNN monitor used during training.

The weighted kNN is written with torch rather than scikit-learn because it runs every epoch on
thousands of points: one matrix product on the (already normalised) features is all it takes.
It follows the kNN monitor of instance-discrimination papers (Wu et al., 2018, "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination"): cosine similarity, the k nearest
training points vote for their label with weight exp(similarity / temperature).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


@torch.no_grad()
def extract_features(embed, images: torch.Tensor, device: torch.device | str = "cpu", batch_size: int = 1024) -> torch.Tensor:
    """Apply `embed` (float images in [0,1] -> N×D) to uint8 images in batches; float32 N×D on the CPU."""
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device).float().div_(255)
        x = x.contiguous(memory_format=torch.channels_last)
        out.append(embed(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)


@torch.no_grad()
def knn_predict(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    query_feats: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 2048,
) -> torch.Tensor:
    """Temperature-weighted cosine kNN vote: predicted class per query row."""
    bank = F.normalize(train_feats.float(), dim=1)
    k = min(k, bank.shape[0])
    preds = []
    for start in range(0, query_feats.shape[0], chunk):
        q = F.normalize(query_feats[start : start + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        weights = (sim / temperature).exp()
        votes = torch.zeros(q.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[idx], weights)
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, num_classes: int, k: int = 20, temperature: float = 0.07) -> float:
    """Fraction of test points whose weighted kNN vote is their label."""
    if test_feats.shape[0] == 0:
        return float("nan")
    pred = knn_predict(train_feats, train_labels, test_feats, num_classes, k, temperature)
    return (pred == test_labels).float().mean().item()


@torch.no_grad()
def collapse_std(feats: torch.Tensor) -> float:
    """The collapse gauge: per-dimension std of L2-normalised embeddings, times sqrt(D).

    Chen & He (2021, SimSiam, Sec. 4.1) watch the std of the normalised output: it is about
    1/sqrt(D) for embeddings spread over the sphere and 0 when every image maps to one point. We
    scale by sqrt(D) so that the gauge reads about 1 for a healthy embedding and 0 for a collapsed
    one, whatever the dimension.
    """
    if feats.shape[0] < 2:
        return float("nan")
    z = F.normalize(feats.float(), dim=1)
    return (z.std(dim=0).mean() * math.sqrt(z.shape[1])).item()


COLLAPSE_WARNING = 0.1  # below this gauge value the UI warns that the embedding is collapsing
