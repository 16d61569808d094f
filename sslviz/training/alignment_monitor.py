"""Alignment and uniformity, live: what the trainer's monitor measures beside the kNN score and the
collapse gauge (sslviz.evaluation.alignment_uniformity has the formulas, Wang & Isola, 2020).

Every evaluation (epoch 0, the untrained start, included) embeds two augmented views of a fixed
held-out subset: the first HELD_OUT_IMAGES images of the monitor's test subset, each drawn twice
through the run's own augmentation pipeline with a generator of its own (seeded from the run's
seed, so the batch order and the training views are left as they were), once, when the monitor
first runs; then the same views every epoch, so the curve measures the network, not the draw. The
backbone embeds them as the kNN monitor embeds test images (`method.embed`, eval mode).
The same views as flattened pixels give the raw-pixel point ("alignment_pixels",
"uniformity_pixels"), stored once, at epoch 0, like a baseline.

`installed_rows` does the same for a shipped zoo run when it is installed (its sidecar carries no
such rows): the untrained start and the final weights, so Compare draws it as a start -> end segment.
"""

from __future__ import annotations

import torch

from sslviz.augment.engine import two_views
from sslviz.evaluation.alignment_uniformity import alignment_uniformity

HELD_OUT_IMAGES = 256  # 512 views, beside the 4,000-7,000 images the kNN monitor embeds (measured: 13% of an
#   evaluation with a 2,000-image bank, SimCLR on shapes; the views are drawn once, only embedded each epoch)
VIEW_SEED_OFFSET = 7_368_787  # the views' generator: seed + this (independent of the training RNGs)
BATCH = 512
METRICS = ("alignment", "uniformity")
PIXEL_METRICS = ("alignment_pixels", "uniformity_pixels")


class AlignmentMonitor:
    """Two fixed augmented views of held-out images; `__call__(method, device)` -> alignment and
    uniformity of the method's embedding of them (plus the raw-pixel point on the first call)."""

    def __init__(self, images: torch.Tensor, seed: int, n: int = HELD_OUT_IMAGES):
        self.images, self.seed = images[:n], int(seed)
        self.views: tuple[torch.Tensor, torch.Tensor] | None = None

    def _views(self, pipeline) -> tuple[torch.Tensor, torch.Tensor]:
        if self.views is None:
            g = torch.Generator().manual_seed(self.seed + VIEW_SEED_OFFSET)
            self.views = two_views(self.images, pipeline, generator=g)
        return self.views

    def pixels(self, pipeline) -> dict[str, float]:
        """The raw-pixel point: alignment and uniformity of the flattened (L2-normalised) views."""
        v1, v2 = self._views(pipeline)
        m = alignment_uniformity(v1.flatten(1), v2.flatten(1))
        return {"alignment_pixels": m["alignment"], "uniformity_pixels": m["uniformity"]}

    @torch.no_grad()
    def __call__(self, method, device, with_pixels: bool = False) -> dict[str, float]:
        """Alignment and uniformity of `method.embed` (the caller sets eval mode) on the views."""
        if len(self.images) < 2:
            return {}
        v1, v2 = self._views(method.pipeline)
        z = [torch.cat([method.embed(v[i: i + BATCH].to(device).contiguous(memory_format=torch.channels_last))
                        .float().cpu() for i in range(0, len(v), BATCH)]) for v in (v1, v2)]
        values = alignment_uniformity(z[0], z[1])
        if with_pixels:
            values.update(self.pixels(method.pipeline))
        return values


def installed_rows(rows: list[tuple], summary: dict, before: dict, after: dict, step: int, epoch: float,
                   elapsed: float) -> list[tuple]:
    """A shipped run's metric rows completed at install: the start (`before`, the untrained
    network's Monitor reading) and end (`after`, the shipped weights') alignment and uniformity,
    the raw-pixel point, and the collapse gauge's effective rank as measured today (the sidecars
    hold the rank of the gauge before 2026-12-07, from singular values: those rows are replaced,
    so a run's curve never mixes the two). `summary` gets the end values, in place."""
    keep = [r for r in rows if r[3] not in (*METRICS, *PIXEL_METRICS, "effective_rank", "directions_95")]
    names = (*METRICS, "effective_rank", "directions_95")
    keep += [(0, 0.0, 0.0, k, before[k]) for k in (*names, *PIXEL_METRICS) if before.get(k) is not None]
    keep += [(int(step), float(epoch), float(elapsed), k, after[k]) for k in names if after.get(k) is not None]
    summary.update({k: after.get(k) for k in names if after.get(k) is not None})
    summary.update({k: before.get(k) for k in PIXEL_METRICS if before.get(k) is not None})
    summary.update({f"{k}_random_init": before.get(k) for k in ("spread", "effective_rank", "directions_95")
                    if before.get(k) is not None})
    return keep
