"""Nearest neighbours of one image, in the embedding and in pixel space, and a few-shot classifier.

- `embedding_neighbours`: cosine similarity on the full embedding (not on the 2-D picture,
  which distorts distances), the measure the kNN monitor uses.
- `pixel_neighbours`: Euclidean distance between the raw images (flattened, in [0, 1]) - the
  neighbours a network that learned nothing would give. Shown side by side, the two rows make
  visible what the network groups together that pixels do not (and the other way round).
- `few_shot`: N labelled images per class drawn (seeded) from the shown points; the rest are
  classified by the weighted cosine kNN vote of sslviz.evaluation.protocols (k = N, at most 20, as in the
  label-efficiency experiments), so the page can colour every point by right / wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sslviz.core.errors import ConfigError


def _top(scores: np.ndarray, i: int, k: int, largest: bool) -> np.ndarray:
    order = np.argsort(-scores if largest else scores, kind="stable")
    return order[order != i][:k]


def embedding_neighbours(features: np.ndarray, i: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosine similarities) of the k points most similar to row i (i itself left out)."""
    f = np.asarray(features, dtype=np.float32)
    if not 0 <= i < len(f):
        raise ConfigError(f"point: row {i} is not among the {len(f)} points")
    norms = np.linalg.norm(f, axis=1)
    norms[norms == 0] = 1.0
    sims = (f @ f[i]) / (norms * norms[i])
    rows = _top(sims, i, k, largest=True)
    return rows, sims[rows]


def pixel_neighbours(images, i: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(rows, Euclidean distances in [0, 1] pixel units) of the k images closest to image i."""
    x = np.asarray(images).reshape(len(images), -1)  # uint8: converted a chunk at a time (70,000 photos: 860 MB as float)
    if not 0 <= i < len(x):
        raise ConfigError(f"point: row {i} is not among the {len(x)} images")
    ref = x[i].astype(np.float32) / 255.0
    d = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), 8192):
        chunk = x[start:start + 8192].astype(np.float32) / 255.0
        d[start:start + len(chunk)] = ((chunk - ref) ** 2).sum(1)
    d = np.sqrt(np.maximum(d, 0.0))
    rows = _top(d, i, k, largest=False)
    return rows, d[rows]


@dataclass
class FewShot:
    predicted: np.ndarray  # int64 per point (the label itself for the labelled ones)
    labelled: np.ndarray  # bool per point: one of the N per class given to the classifier
    correct: np.ndarray  # bool per point (True for labelled ones)
    accuracy: float  # on the points that were not labelled
    per_class: int
    k: int
    known: np.ndarray | None = None  # bool per point: has a ground-truth label

    def outcome(self) -> np.ndarray:
        """Per point: 'labelled', 'right' or 'wrong' (unlabelled ground truth: 'unknown')."""
        out = np.where(self.correct, "right", "wrong").astype(object)
        if self.known is not None:
            out[~self.known] = "unknown"
        out[self.labelled] = "labelled"
        return out


def few_shot(features: np.ndarray, labels: np.ndarray, per_class: int, seed: int = 0) -> FewShot:
    """Label `per_class` points of each class, classify the rest by cosine kNN on the embedding."""
    import torch

    from sslviz.evaluation.fewshot_stats import stratified_draw
    from sslviz.evaluation.protocols import knn_predict

    from .embedding import TooFewPoints, require_classes

    labels = np.asarray(labels, dtype=np.int64)
    if not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ConfigError(f"labels per class: must be a whole number ≥ 1, got {per_class!r}")
    require_classes(labels, "a few-shot classifier")
    train = stratified_draw(labels, per_class, seed)  # the same images as a label-efficiency draw
    labelled = np.zeros(len(labels), dtype=bool)
    labelled[train] = True
    query = np.flatnonzero(~labelled & (labels >= 0))
    if len(query) == 0:
        raise TooFewPoints(f"{per_class} labels per class use up every point: nothing is left to classify")
    k = int(min(per_class, 20))
    num_classes = int(labels.max()) + 1
    pred = knn_predict(torch.as_tensor(features[train]), torch.as_tensor(labels[train]),
                       torch.as_tensor(features[query]), num_classes, k=k).numpy()
    predicted = labels.copy()
    predicted[query] = pred
    correct = predicted == labels
    return FewShot(predicted, labelled, correct, float(correct[query].mean()), int(per_class), k, labels >= 0)
