"""`digits`: scikit-learn's 1,797 handwritten 8×8 digits, the set that needs nothing at all.

It ships inside scikit-learn (no download, no files), loads in milliseconds and trains in
seconds on a laptop CPU, so tests and first demos use it. The 17 grey levels (0..16) are scaled to
0..255 and the images upsampled once, bilinearly, to the working size; one channel. The split is
stratified 80/20 from the seed (scikit-learn ships no official split).

The data is read straight from the file scikit-learn bundles (sklearn/datasets/data/digits.csv.gz,
64 pixels then the label per row), which skips importing sklearn.datasets (a few seconds of CPU on a
shared laptop core); sklearn.datasets.load_digits is the fallback if the file has moved.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = [str(d) for d in range(10)]


def _read_bundled() -> tuple[np.ndarray, np.ndarray]:
    """(pixels N×8×8 in 0..16, labels N) from scikit-learn's bundled copy."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        if table.ndim == 2 and table.shape[1] == 65:
            return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def load_digits_set(image_size: int = 32, seed: int = 0, test_fraction: float = 0.2):
    import torch

    from .split import make_imageset, resize_images, stratified_split

    raw, labels = _read_bundled()  # N×8×8, values 0..16
    images = torch.from_numpy(np.rint(raw * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)).unsqueeze(1)
    images = resize_images(images, image_size)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    report = {"source": "scikit-learn load_digits (bundled, 8×8 pixels upsampled)", "n": len(labels)}
    return make_imageset("digits", CLASS_NAMES, images, labels, train_idx, test_idx, report=report)
