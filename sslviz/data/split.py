"""Helpers every loader shares: a deterministic stratified train/test split and a one-time resize.

Why stratified: the small sets here (digits, a user's folder of a few hundred photos) have
classes of a dozen images; a plain random 80/20 split can leave a class out of the test set, and
then a kNN or few-shot number silently averages over fewer classes than the UI claims.

Why resize once: every image set is held in memory at one working size (default 32 px), so the
augmentation engine and the network never resize per step. Downscaling is antialiased (a plain
bilinear downscale of STL-10's 96 px photos aliases badly); upscaling (digits' 8 px) is bilinear.
"""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train_idx, test_idx), stratified by label and deterministic in `seed`.

    The test set has round(N * test_fraction) images in all, shared out between classes in
    proportion to their sizes (largest remainder, so the total is exact). Every class with at
    least 2 images is in both splits; a class with a single image goes to train. Both index
    arrays are int64 and sorted ascending.
    """
    labels = np.asarray(labels).reshape(-1)
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    n = len(labels)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    # Share the exact total out by largest remainder, within each class's bounds
    # (at least 1 and at most n-1 test images for a class of n >= 2; none for a single image).
    exact = counts * test_fraction
    if test_fraction > 0:
        low, high = np.where(counts >= 2, 1, 0), np.where(counts >= 2, counts - 1, 0)
    else:
        low = high = np.zeros_like(counts)
    take = np.clip(np.floor(exact).astype(np.int64), low, high)
    target = int(np.clip(round(n * test_fraction), low.sum(), high.sum()))
    while take.sum() < target:  # give one more to the class furthest below its exact share
        gap = np.where(take < high, exact - take, -np.inf)
        take[int(np.argmax(gap))] += 1
    while take.sum() > target:  # take one from the class furthest above its exact share
        gap = np.where(take > low, take - exact, -np.inf)
        take[int(np.argmax(gap))] -= 1
    rng = np.random.default_rng(seed)
    test_parts = []
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        test_parts.append(rng.permutation(members)[: take[c]])
    is_test = np.zeros(n, bool)
    if test_parts:
        is_test[np.concatenate(test_parts)] = True
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)


def resize_images(images, size: int, chunk: int = 1024):
    """Resize a uint8 tensor N×C×H×W to N×C×size×size (bilinear, antialiased); returns uint8.

    Non-square images are resized so the shorter side is `size`, then centre-cropped. Works in
    chunks so that a large set (STL-10: 13,000 × 96 × 96) never needs all of it in float at once.
    Returns the input itself when it already has the size.
    """
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (nh - size) // 2, (nw - size) // 2
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        x = images[start:start + chunk].float()
        y = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        y = y[:, :, top:top + size, left:left + size]
        out[start:start + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def make_imageset(name, class_names, images, labels, train_idx, test_idx, factors=None, report=None):
    """Build an ImageSet from one array of images and labels and the split indices."""
    import torch

    from .imageset import ImageSet, Split

    images = torch.as_tensor(images)
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    factors = factors or {}

    def part(idx):
        t = torch.as_tensor(idx, dtype=torch.long)
        part_factors = {k: np.asarray(v)[idx] for k, v in factors.items()}
        return Split(images[t].contiguous(), labels[t].contiguous(), part_factors)

    return ImageSet(name=name, class_names=list(class_names), train=part(train_idx), test=part(test_idx),
                    report=dict(report or {}))
