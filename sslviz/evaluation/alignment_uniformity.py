"""Alignment and uniformity of an embedding on the unit sphere (Wang & Isola, 2020, "Understanding
Contrastive Representation Learning through Alignment and Uniformity on the Hypersphere", ICML).

Contrastive learning, they show, optimises two things at once, and each can be measured alone:

    alignment(f; alpha) = E_{(x, y) ~ positive pairs} || f(x) - f(y) ||_2^alpha          (their Eq. 4)
        two views of one image should land at the same place: 0 when they always do; with
        alpha = 2 and unit vectors it is 2 - 2 cos(f(x), f(y)), so 2 for unrelated views and 4
        at most (antipodal views).
    uniformity(f; t) = log E_{x, y ~ data, i.i.d.} exp(-t || f(x) - f(y) ||_2^2)          (their Eq. 5)
        different images should spread over the whole sphere: the log of the mean Gaussian
        potential between all pairs. 0 when every image lands on one point (collapse); the more
        evenly the points cover the sphere, the lower (with t = 2: (1 - e^-8) / 8, i.e. -2.08, for
        points spread evenly over the ordinary sphere in 3-D; about -4 in high dimension).

Lower is better for both; a collapsed network reads alignment 0 (perfect) and uniformity 0 (the
worst), which is why the pair, not either number, tells a good embedding from a collapsed one.
The paper's defaults are alpha = 2 and t = 2. Written by hand (a few lines of torch) because these
two formulas are what the lesson teaches; the points are L2-normalised here, so raw features can
be passed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _sphere(z) -> torch.Tensor:
    z = torch.as_tensor(z)
    if z.ndim != 2:
        raise ValueError(f"alignment/uniformity: embeddings must be N×D, got shape {tuple(z.shape)}")
    return F.normalize(z.double(), dim=1)


@torch.no_grad()
def alignment(z1, z2, alpha: float = 2.0) -> float:
    """Mean ||f(x) - f(y)||^alpha over positive pairs: row i of z1 and row i of z2 (N×D each) are
    two views of one image. The rows are L2-normalised first. NaN for no pairs."""
    a, b = _sphere(z1), _sphere(z2)
    if a.shape != b.shape:
        raise ValueError(f"alignment: the two views must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) == 0:
        return float("nan")
    return (a - b).norm(dim=1).pow(alpha).mean().item()


@torch.no_grad()
def uniformity(z, t: float = 2.0) -> float:
    """log of the mean exp(-t ||zi - zj||^2) over all distinct pairs i < j of the rows of z (N×D),
    L2-normalised first. NaN for fewer than two points."""
    z = _sphere(z)
    if len(z) < 2:
        return float("nan")
    return torch.pdist(z).pow(2).mul(-t).exp().mean().log().item()


def alignment_uniformity(z1, z2, alpha: float = 2.0, t: float = 2.0) -> dict[str, float]:
    """{"alignment", "uniformity"} of two views of the same images: uniformity is the mean of the
    two views' (as in the paper's loss, which averages it over both views of the batch)."""
    return {"alignment": alignment(z1, z2, alpha), "uniformity": 0.5 * (uniformity(z1, t) + uniformity(z2, t))}
