"""The papers' protocol: a final figure that can be put beside a published one.

The live monitor (protocols.knn_accuracy on a 5,000-image bank and 2,000 test images) is an
estimate for the curve; it reads low on big datasets (real photos: 0.481 where this protocol gave
0.543 for the same network). Final figures follow the protocol that lightly and solo-learn report:

    kNN     the whole training split is the bank, the whole test split is scored. Features are
            L2-normalised, similarity is the cosine s(q, b) = <q, b>; the k most similar bank images
            N_k(q) vote, each for its own class with weight exp(s / T):
                score(q, c) = sum over b in N_k(q) with y_b = c of exp(s(q, b) / T),
                prediction  = argmax_c score(q, c)
            (Wu et al., 2018, "Unsupervised Feature Learning via Non-Parametric Instance
            Discrimination", eq. 7), T = 0.07, at k = 20 and k = 200. Queries go in chunks, so a
            60,000 × 10,000 similarity matrix never sits in memory at once; the top 200 of a chunk
            are found once and the top 20 are their first 20.
    linear  multinomial logistic regression on all training labels, on features standardised with
            the training split's statistics (the project's probe, protocols.linear_probe, with C
            chosen by inner validation on a subset of at most LINEAR_C_SUBSET labels, then fitted on
            all of them).

`majority_knn_predict` is the plain majority vote of the same neighbours: the test holds it equal to
scikit-learn's KNeighborsClassifier (metric cosine, brute), which pins the neighbour search down.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from .protocols import KNN_TEMPERATURE, _np, choose_c, linear_probe, standardise

PAPER_KS = (20, 200)
CHUNK = 1024  # queries per similarity block: 1,024 × 60,000 float32 = 245 MB at most
LINEAR_C_SUBSET = 5000  # labels the inner validation of C looks at (all labels for the final fit)


def _tensor(x) -> torch.Tensor:
    t = torch.as_tensor(_np(x))
    return t if t.dtype == torch.float64 else t.float()


@torch.no_grad()
def _neighbours(bank_f, test_f, k: int, chunk: int = CHUNK):
    """Yield (similarities, bank indices) of the k most similar bank rows, most similar first, per chunk."""
    bank = F.normalize(_tensor(bank_f), dim=1)
    test = _tensor(test_f).to(bank.dtype)
    k = min(k, bank.shape[0])
    for start in range(0, test.shape[0], chunk):
        q = F.normalize(test[start : start + chunk], dim=1)
        yield (q @ bank.T).topk(k, dim=1)


@torch.no_grad()
def weighted_knn_accuracies(bank_f, bank_y, test_f, test_y, num_classes: int, ks=PAPER_KS,
                            temperature: float = KNN_TEMPERATURE, chunk: int = CHUNK) -> dict[int, float]:
    """{k: accuracy} of the temperature-weighted cosine kNN vote (the formula in the module docstring)."""
    bank_y = torch.as_tensor(_np(bank_y), dtype=torch.long)
    test_y = torch.as_tensor(_np(test_y), dtype=torch.long)
    correct = {k: 0 for k in ks}
    start = 0
    for sim, idx in _neighbours(bank_f, test_f, max(ks), chunk):
        labels = bank_y[idx]
        weights = (sim / temperature).exp()
        truth = test_y[start : start + len(sim)]
        for k in ks:
            votes = torch.zeros(len(sim), num_classes, dtype=weights.dtype)
            votes.scatter_add_(1, labels[:, :k], weights[:, :k])
            correct[k] += int((votes.argmax(1) == truth).sum())
        start += len(sim)
    return {k: correct[k] / max(1, start) for k in ks}


@torch.no_grad()
def majority_knn_predict(bank_f, bank_y, test_f, num_classes: int, k: int = 20, chunk: int = CHUNK) -> np.ndarray:
    """The plain (unweighted) cosine kNN vote; ties go to the lowest class, as in scikit-learn."""
    bank_y = torch.as_tensor(_np(bank_y), dtype=torch.long)
    preds = []
    for _, idx in _neighbours(bank_f, test_f, k, chunk):
        votes = torch.zeros(idx.shape[0], num_classes)
        votes.scatter_add_(1, bank_y[idx], torch.ones(idx.shape))
        preds.append(votes.argmax(1))  # the first of equal maxima: the lowest class
    return torch.cat(preds).numpy() if preds else np.empty(0, np.int64)


def full_linear_probe(bank_f, bank_y, test_f, test_y, seed: int = 0) -> tuple[float, float]:
    """(test accuracy, C) of logistic regression on all training labels, standardised features."""
    bank_s, test_s = standardise(bank_f, test_f)
    y = _np(bank_y).astype(np.int64)
    sub = np.arange(len(y))
    if len(sub) > LINEAR_C_SUBSET:
        sub = np.sort(np.random.default_rng([seed, 29]).permutation(len(y))[:LINEAR_C_SUBSET])
    C, _ = choose_c(bank_s[sub], y[sub], seed)
    return linear_probe(bank_s, y, test_s, _np(test_y), C=C, seed=seed)


def paper_scores(bank_f, bank_y, test_f, test_y, num_classes: int, seed: int = 0) -> dict | None:
    """The protocol's figures for features of the whole training (bank) and test splits:
    {"knn20", "knn200", "linear", "linear_C", "bank", "test", "seconds"}; unlabelled images
    (label < 0) are left out. None when either split has no labels or the features are not finite."""
    t0 = time.perf_counter()
    bank_f, bank_y, test_f, test_y = _np(bank_f), _np(bank_y), _np(test_f), _np(test_y)
    keep_b, keep_t = bank_y >= 0, test_y >= 0
    bank_f, bank_y, test_f, test_y = bank_f[keep_b], bank_y[keep_b], test_f[keep_t], test_y[keep_t]
    if not len(bank_y) or not len(test_y) or not (np.isfinite(bank_f).all() and np.isfinite(test_f).all()):
        return None
    knn = weighted_knn_accuracies(bank_f, bank_y, test_f, test_y, num_classes)
    linear, C = full_linear_probe(bank_f, bank_y, test_f, test_y, seed)
    return {**{f"knn{k}": v for k, v in knn.items()}, "linear": linear, "linear_C": C,
            "bank": int(len(bank_y)), "test": int(len(test_y)), "seconds": round(time.perf_counter() - t0, 2)}
