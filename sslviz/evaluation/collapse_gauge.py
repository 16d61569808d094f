"""The collapse gauge: how far a network's embedding has collapsed, to a point or onto a few directions.

    collapse_metrics   spread, effective rank and directions_95 of an embedding (the trainer reads it on
                       the monitor's held-out images every epoch)
    collapse_warnings  the gauge's reading in words, against fixed lines and against the run's own
                       untrained start (gauge_start: the start a run summary keeps)
    collapse_std       the gauge before 2026-12-07, kept to read runs recorded with it

Written by hand (a few lines of torch on the covariance's eigenvalues): what each number means is what a
lesson teaches, and the lines are measured on the shipped runs (comments below).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


@torch.no_grad()
def collapse_std(feats: torch.Tensor) -> float:
    """The OLD collapse gauge (metric "collapse_std", stored by runs made before `collapse_metrics`):
    the mean per-dimension std of the L2-normalised embeddings, times sqrt(D) (Chen & He, 2021,
    SimSiam, Sec. 4.1). It is centred too, but it averages the stds, so it never reads more than
    the spread (Cauchy-Schwarz), and its warning line (0.1) sat above the untrained network
    (0.08 on digits and MNIST): kept only to read old runs and to compare.
    """
    if feats.shape[0] < 2:
        return float("nan")
    z = F.normalize(feats.float(), dim=1)
    return (z.std(dim=0).mean() * math.sqrt(z.shape[1])).item()


@torch.no_grad()
def collapse_metrics(feats: torch.Tensor) -> dict[str, float]:
    """The collapse gauge of an embedding (N×D): {"spread", "effective_rank", "directions_95"}.

    Both are read on the points the kNN monitor compares: the L2-normalised features (points on
    the unit sphere), centred on their mean; both come from the eigenvalues of their covariance
    (the variance along each principal direction).

    spread          how far the points lie from their centre: the root of the trace of their
                    covariance, i.e. their root-mean-square distance from the centre, which is
                    sqrt(1 - |mean|^2) up to N/(N-1). 1 when the images cover the sphere evenly
                    (whatever D), 0 when every image maps to the same point (collapse to a point).
                    ReLU features all share one large mean direction, so an untrained network's
                    points sit in a narrow cone, far above a collapse but well below 1.
    effective_rank  how many directions carry the variance: exp of the entropy of the variance
                    shares (the covariance's eigenvalues, scaled to sum to 1), the effective rank of
                    Roy & Vetterli (2007) applied to the covariance. Between 1 and min(N - 1, D);
                    D when every direction carries the same variance, k when k directions carry it
                    equally. A low value is dimensional collapse (Jing et al., 2022): the spread
                    survives, but on a line or a plane, which the spread alone cannot see.
                    Measured on 2,000 normalised 128-d points (tests/test_collapse_gauge.py): one
                    direction holding the variance with 1% of it spread over the others reads 1.3,
                    two directions with 1% elsewhere 2.5, an isotropic Gaussian 124. Untrained
                    networks read 3.3-32 on shapes and 82-108 on MNIST; they put most of their
                    variance on one direction (the strided small-cnn on shapes 79%), so the entropy
                    alone cannot tell them from a collapse: hence the next reading.
    directions_95   how many principal directions hold 95% of the variance (the count of the largest
                    eigenvalues needed to reach 95% of their sum). The two constructions above read 1
                    and 2; the untrained strided small-cnn on shapes, whose effective rank is 3.3-3.7,
                    needs 23-32. The shipped SimCLR runs, on their monitor's 2,000 held-out images
                    (tests/test_zoo_table.py recomputes it from their weights): simclr-shapes 16.6 (45
                    directions), simclr-mnist 33.9 (108 directions).

    Changed on 2026-12-07: before, the effective rank was the entropy of the singular values
    (RankMe's form, the square roots of these eigenvalues), which counts a direction holding a
    sliver of the variance almost like a real one (the one-direction embedding above read 28).
    Runs recorded before then keep that reading under the same name; it reads higher, never lower.
    NaN for fewer than 2 points or non-finite features (a diverged network).
    """
    nan = {"spread": float("nan"), "effective_rank": float("nan"), "directions_95": float("nan")}
    if feats.ndim != 2 or feats.shape[0] < 2 or not torch.isfinite(feats).all():
        return nan
    z = F.normalize(feats.float(), dim=1).double()
    z = z - z.mean(dim=0)
    n, d = z.shape
    gram = (z @ z.T) if n < d else (z.T @ z)  # the smaller one: same non-zero eigenvalues
    var = torch.linalg.eigvalsh(gram).clamp_min(0) / (n - 1)  # the variance along each principal direction
    total = var.sum().item()
    spread = math.sqrt(total)
    if total <= 1e-12:
        return {"spread": spread, "effective_rank": 0.0, "directions_95": 0.0}  # identical points: no direction
    p = var / total
    within = int((p.flip(0).cumsum(0) < 0.95 - 1e-9).sum().item()) + 1  # largest first, until 95% is held
    p = p[p > 0]
    return {"spread": spread, "effective_rank": math.exp(-(p * p.log()).sum().item()), "directions_95": float(within)}


# The gauge's lines (the UI, the leaderboard, the CLI, the method benchmark and the method tests use
# them): fixed lines, and lines relative to the run's own untrained start (its epoch-0 reading).
# Measured 2026-12-07 on the 38 shipped runs (2,000 test images; start -> end): spread 0.11-0.24 ->
# 0.18-0.76 (end/start 0.76-5.9); effective rank 4.9-32 -> 4.4-32 on shapes, 82-108 -> 19-129 on MNIST
# (end/start 0.18-3.6) and the lowest, RotNet on shapes (at chance there), 2.0 with 95% in 4 directions.
SPREAD_WARNING = 0.04  # collapsed to a point: the images differ by under 4% of their length
#   (a point with 1% jitter reads 0.01, with 3% 0.03; networks read 0.11 and above, the untrained
#   small-cnn on the 8-px digits 0.088)
DIRECTIONS_WARNING = 3  # dimensional collapse: 95% of the variance in fewer than 3 directions
#   (one direction + 1% elsewhere reads 1, two 2; untrained networks on shapes 23-76, shipped SimCLR 45, 108)
EFFECTIVE_RANK_WARNING = 2.0  # dimensional collapse: under two directions' worth of variance (one
#   direction + 1% reads 1.3; the untrained strided small-cnn on shapes 3.3, the shipped SimCLR runs 16.6 and 33.9)
SPREAD_FALL = 0.5  # collapsing to a point: the spread fell under half its untrained start (shipped: >= 0.76)
EFFECTIVE_RANK_FALL = 0.05  # the rank fell under 1/20 of its start (shipped >= 0.18; DeepCluster, 300 steps: 0.064)
DIRECTIONS_FALL = 0.07  # dimensional collapse against the run's own start, confirmed by the probe: 95% of the
KNN_NO_BETTER = 0.02    # variance in under 7% of the directions the untrained network needed, AND kNN no more
#   than 0.02 above the untrained network's. The directions alone cannot tell a collapse from a healthy run
#   that has only begun to organise its features: measured on shapes (directions end/start; kNN vs untrained),
#   the lessons' 50-s runs (untrained 72 directions, kNN 0.248): the broken variants VICReg without its variance
#   term 0.042 (3; kNN 0.164) and SimSiam without the stop-gradient 0.056 (4; 0.256); their healthy twins 0.125
#   (9; 0.457 and 0.307), BYOL's 0.18 (13), SimCLR at temperature 1.0 0.097 (7); NNCLR's zoo runs 0.17 and 0.28;
#   but a healthy 2-epoch VICReg at 16 px (tests/test_variants.py) 0.064 (8 of 125) with kNN 0.366 against
#   about 0.29 untrained: it fell as far, and it learned. The fixed lines above miss the two 50-s collapses
#   (3 and 4 directions, effective rank 2.5 and 2.4).
GAUGE_KEYS = ("spread", "effective_rank", "directions_95")


def gauge_start(summary: dict) -> dict:
    """The untrained network's readings kept in a run summary ("spread_random_init", ...,
    "knn_random_init"), keyed as collapse_warnings' `start` wants them."""
    start = {k: summary.get(f"{k}_random_init") for k in GAUGE_KEYS}
    return {**start, "knn_accuracy": summary.get("knn_random_init")}  # the probe beside the gauge


def collapse_warnings(values: dict, start: dict | None = None) -> list[str]:
    """What the gauge warns about, in words, from metric values or a run summary. start: the
    untrained network's reading of the same run (its epoch-0 "spread", "effective_rank" and
    "directions_95"); when None, a summary's "spread_random_init" etc. are used where present (gauge_start).
    Flagged: a reading under a fixed line (95% of the variance in under DIRECTIONS_WARNING directions
    among them), or fallen under a fraction of its own start (SPREAD_FALL, EFFECTIVE_RANK_FALL; and
    DIRECTIONS_FALL where the kNN probe, "knn_accuracy", has not risen above its start either).

    Runs recorded before the new gauge only have "collapse_std" (the old gauge): it is a lower
    bound of the spread, so it is read against the spread's warning line and said to be old."""
    start = start if start is not None else gauge_start(values)
    out = []
    spread, rank = _finite(values.get("spread")), _finite(values.get("effective_rank"))
    within = _finite(values.get("directions_95"))
    spread0, rank0 = _finite(start.get("spread")), _finite(start.get("effective_rank"))
    within0 = _finite(start.get("directions_95"))
    knn, knn0 = _finite(values.get("knn_accuracy")), _finite(start.get("knn_accuracy"))
    old = values.get("collapse_std") if values.get("spread") is None else None
    if spread is not None and spread < SPREAD_WARNING:
        out.append(f"collapsed to a point (spread {spread:.3f} < {SPREAD_WARNING})")
    elif spread is not None and spread0 and spread < SPREAD_FALL * spread0:
        out.append(f"collapsed to a point (spread {spread:.3f}, under {SPREAD_FALL:g} of the untrained "
                   f"network's {spread0:.3f})")
    elif old is not None and old < SPREAD_WARNING:
        out.append(f"collapsed to a point (old gauge {old:.3f} < {SPREAD_WARNING})")
    if within is not None and within < DIRECTIONS_WARNING:
        out.append(f"dimensional collapse (95% of the variance in {within:.0f} direction{'s' if within != 1 else ''})")
    elif rank is not None and rank < EFFECTIVE_RANK_WARNING:
        out.append(f"dimensional collapse (effective rank {rank:.1f} < {EFFECTIVE_RANK_WARNING:g})")
    elif rank is not None and rank0 and rank < EFFECTIVE_RANK_FALL * rank0:
        out.append(f"dimensional collapse (effective rank {rank:.1f}, under {EFFECTIVE_RANK_FALL:g} of the "
                   f"untrained network's {rank0:.1f})")
    elif (within is not None and within0 and within < DIRECTIONS_FALL * within0
          and knn is not None and knn0 is not None and knn <= knn0 + KNN_NO_BETTER):
        out.append(f"dimensional collapse (95% of the variance in {within:.0f} directions, under "
                   f"{DIRECTIONS_FALL:g} of the untrained network's {within0:.0f}, and kNN {knn:.3f} no better "
                   f"than its {knn0:.3f})")
    return out


def _finite(v) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None
