"""The one in-memory form every dataset takes: uint8 images N×C×H×W, int labels, factors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Split:
    """One split (train or test) of an image set.

    images:  uint8 tensor N×C×H×W (C is 1 for grayscale sets, 3 for colour)
    labels:  int64 tensor N (class index; -1 where a label is unknown)
    factors: ground-truth factors of variation per image (e.g. shapes' colour, size, ...),
             each a numpy array of length N; empty for real datasets.
    """

    images: torch.Tensor
    labels: torch.Tensor
    factors: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class ImageSet:
    """A dataset with a fixed train/test split, resized once at load to a working size."""

    name: str
    class_names: list[str]
    train: Split
    test: Split
    # What happened at load, for the UI: e.g. {"skipped": 3, "skipped_files": [...], "source": "..."}
    report: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def validation_split(data: ImageSet, seed: int = 0, fraction: float = 0.2) -> ImageSet:
    """The same set with its test split replaced by a stratified `fraction` of its training images,
    and its training split by the rest: choices (budgets, recipes) are made on this, so the test
    images a user reports stay unseen by every choice. Deterministic in `seed`."""
    from .split import stratified_split

    fit, held = (torch.as_tensor(i) for i in stratified_split(data.train.labels.numpy(), fraction, seed))

    def part(idx) -> Split:
        return Split(data.train.images[idx], data.train.labels[idx],
                     {k: v[idx.numpy()] for k, v in data.train.factors.items()})

    return ImageSet(data.name, data.class_names, part(fit), part(held),
                    {**data.report, "holdout": f"validation: {len(held):,} of the {len(data.train):,} training images"})
