"""The live evaluation the training loop runs every epoch (and once before the first step).

Monitor scores the backbone with the weighted kNN on a fixed subset of both splits, reads the
collapse gauge and alignment and uniformity (two fixed views of held-out images), the few-label
probe on fixed draws, and saves the test-set embedding snapshot. The same subsets every epoch, so
the curve measures the network, not the draw. Its kNN is the curve's estimate; the figure to quote
is the papers' protocol at the end of the run (final_scores.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from sslviz.core.files import atomic_write_bytes
from sslviz.evaluation.collapse_gauge import collapse_metrics
from sslviz.evaluation.protocols import extract_features, few_label_accuracy, few_label_draws, knn_accuracy

from .alignment_monitor import AlignmentMonitor
from .config import RunConfig


def compact(features: np.ndarray) -> np.ndarray:
    """float16 for a snapshot (half the disk), unless float16 cannot hold the values (a diverging
    network's huge or non-finite features), which stay float32 so that nothing is silently lost."""
    if np.isfinite(features).all() and np.abs(features).max(initial=0) < 6e4:
        return features.astype(np.float16)
    return features.astype(np.float32)


class Monitor:
    """The live evaluation: weighted kNN on a fixed subset of both splits, the collapse gauge,
    alignment and uniformity (two fixed views of held-out images) and the embedding snapshots. The
    same subsets every epoch, so the curve measures the network."""

    def __init__(self, data, config: RunConfig, run_dir: Path, device: torch.device, g: torch.Generator):
        bank_idx = torch.randperm(len(data.train), generator=g)[: config.eval_train_max].sort().values
        self.test_idx = torch.randperm(len(data.test), generator=g)[: config.eval_test_max].sort().values
        self.bank_x, self.bank_y = data.train.images[bank_idx], data.train.labels[bank_idx]
        self.test_x, self.test_y = data.test.images[self.test_idx], data.test.labels[self.test_idx]
        self.labelled = bool((self.bank_y >= 0).any())
        self.num_classes, self.device, self.run_dir, self.config = data.num_classes, device, run_dir, config
        self.geometry = AlignmentMonitor(self.test_x, config.seed)
        self.knn_pixels = self.few_label_pixels = None
        if self.labelled:
            pixels_bank, pixels_test = self.bank_x.flatten(1).float(), self.test_x.flatten(1).float()
            self.knn_pixels = knn_accuracy(pixels_bank, self.bank_y, pixels_test, self.test_y, self.num_classes)
            self.draws = few_label_draws(self.bank_y, seed=config.seed)
            self.few_label_pixels = few_label_accuracy(pixels_bank, self.bank_y, pixels_test, self.test_y, self.draws)

    def __call__(self, method, epoch: int) -> dict:
        method.eval()
        bank_f = extract_features(method.embed, self.bank_x, self.device)
        test_f = extract_features(method.embed, self.test_x, self.device)
        geometry = self.geometry(method, self.device, with_pixels=epoch == 0)  # alignment, uniformity
        method.train()
        values = collapse_metrics(test_f)  # {"spread", "effective_rank", "directions_95"}: the collapse gauge
        values.update(geometry)
        if self.labelled:
            values["knn_accuracy"] = knn_accuracy(bank_f, self.bank_y, test_f, self.test_y, self.num_classes)
            values["knn_pixels"] = self.knn_pixels
            values["few_label_linear"] = few_label_accuracy(bank_f, self.bank_y, test_f, self.test_y, self.draws)
            values["few_label_pixels"] = self.few_label_pixels
        if epoch % self.config.snapshot_every == 0 or epoch == self.config.epochs:
            buf = io.BytesIO()
            np.savez(buf, features=compact(test_f.numpy()), labels=self.test_y.numpy(), index=self.test_idx.numpy())
            atomic_write_bytes(self.run_dir / f"embeddings_{epoch:04d}.npz", buf.getvalue())
        return values
