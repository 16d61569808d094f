"""Frozen-feature evaluation: feature extraction, the kNN monitor, and the few-shot protocols.

The weighted kNN is written with torch rather than scikit-learn because it runs every epoch on
thousands of points: one matrix product on the (already normalised) features is all it takes.
It follows the kNN monitor of instance-discrimination papers (Wu et al., 2018, "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination"): cosine similarity, the k nearest
training points vote for their label with weight exp(similarity / temperature).

The few-shot protocols of a label-efficiency experiment (sslviz/experiments/label_efficiency.py) score frozen
features with a few labels; fine-tuning the whole network is in sslviz/evaluation/finetune.py.

    knn_protocol     the monitor's vote with k = labels per class (1-NN at 1 label, at most 20):
                     with 1 label per class a 20-NN vote would be a vote of the other classes
    linear_probe     multinomial logistic regression (scikit-learn, lbfgs) on standardised
                     features; C from a small grid by an inner stratified validation split. Fast
                     on purpose: the grid is walked from strong to weak regularisation with warm
                     starts, the final fit starts from the winner, iterations are capped, and BLAS
                     runs single-threaded (small problems: threads cost more than they save, and on
                     a shared 2-core machine oversubscription made fits 10-20x slower when measured)
    self_training    pseudo-labels: fit on the labelled few, label the unlabelled pool, keep the
                     most confident predictions of each class (class-balanced), refit; a few rounds
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings

import numpy as np
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


@contextlib.contextmanager
def averaged_bn_statistics(module: torch.nn.Module):
    """Inside this block the batch norms of `module` forget their running statistics and average
    those of every batch that passes (training mode, momentum None); their modes and momenta are
    restored after. Yields whether there are any batch norms. Used to re-estimate statistics on the
    inputs that matter: clean images for scoring (`recalibrate_bn`), a pretext task's own inputs for
    answering it (sslviz.teaching.answers.task_statistics)."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        yield bool(norms)
    finally:
        for m, (training, momentum) in zip(norms, saved):
            m.train(training)
            m.momentum = momentum


@torch.no_grad()
def recalibrate_bn(embed, module: torch.nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
                   batch_size: int = 256, batches: int = 8, seed: int = 0) -> None:
    """Re-estimate the batch-norm running statistics of `module` on clean images, in place.

    A network trained on altered inputs (noisy, masked, cut into tiles or patches) keeps running
    means and variances of those inputs, while evaluation feeds it whole clean images. This runs
    `embed` (float images in [0, 1]) over `batches` equal batches of a fixed random subset of the
    uint8 `images` inside `averaged_bn_statistics(module)` (a plain average over the batches).
    """
    if len(images) == 0 or not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        return
    n = min(len(images), batch_size * batches)
    n = n // batch_size * batch_size or n  # equal batches, so the average of batch means is the mean
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    with averaged_bn_statistics(module):
        extract_features(embed, images[pick], device, batch_size=min(batch_size, n))


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


# ---------------------------------------------------------------------------------------------
# Few-shot protocols on frozen features (numpy or torch arrays, N×D)

KNN_TEMPERATURE = 0.07
KNN_MAX_K = 20
LINEAR_CS = (0.001, 0.01, 0.1, 1.0)  # walked in this order (strong -> weak L2) with warm starts
LINEAR_C_ONE_SHOT = 0.01  # nothing left to validate on with 1 per class: strong L2 (prototype-like)
LINEAR_MAX_ITER = 200
SELF_TRAINING_POOL_MAX = 4000


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def knn_k(labels_per_class: float) -> int:
    """k for the kNN protocol: the labels of one class, at most 20 (1-NN at 1 label per class)."""
    return int(max(1, min(KNN_MAX_K, round(labels_per_class))))


def knn_protocol(train_f, train_y, test_f, test_y, num_classes: int, k: int | None = None) -> float:
    """Accuracy of the temperature-weighted cosine kNN vote (k from the labels per class when None)."""
    train_y = torch.as_tensor(_np(train_y), dtype=torch.long)
    if k is None:
        k = knn_k(len(train_y) / max(1, len(torch.unique(train_y))))
    return knn_accuracy(torch.as_tensor(_np(train_f)).float(), train_y, torch.as_tensor(_np(test_f)).float(),
                        torch.as_tensor(_np(test_y), dtype=torch.long), num_classes, k=k,
                        temperature=KNN_TEMPERATURE)


def standardise(pool_f, *others) -> list[np.ndarray]:
    """Zero mean, unit variance per feature with the (unlabelled) pool's statistics; float32.

    Constant features (std 0) are only centred. Using the pool, not the few labelled images, is
    what a semi-supervised setting allows and keeps the scaling the same for every draw."""
    pool_f = _np(pool_f).astype(np.float32)
    mu = pool_f.mean(0)
    sd = pool_f.std(0)
    sd = np.where(sd > 1e-6, sd, 1.0).astype(np.float32)
    return [(pool_f - mu) / sd] + [(_np(o).astype(np.float32) - mu) / sd for o in others]


def _logistic(C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=LINEAR_MAX_ITER, tol=1e-3, warm_start=True)


def _fit(model, x, y):
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # ConvergenceWarning at the iteration cap: the validation judges
        model.fit(x, y)
    return model


def _proba(model, x) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return model.predict_proba(x)


def _validation_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(fit, validation) indices: a stratified quarter (at least one per class) held out; None
    when some class has fewer than two labels (nothing can be held out)."""
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        return None
    rng = np.random.default_rng([int(seed), 7919])
    val = np.concatenate([rng.permutation(np.flatnonzero(y == c))[: max(1, n // 4)] for c, n in zip(classes, counts)])
    return np.setdiff1d(np.arange(len(y)), val), np.sort(val)


def choose_c(x, y, seed: int = 0, cs=LINEAR_CS) -> tuple[float, str]:
    """Inner validation: the C of the grid with the best held-out accuracy (ties: the higher mean
    log-probability of the true class). With fewer than two labels in a class: LINEAR_C_ONE_SHOT."""
    model, _, note = _select(np.asarray(x, np.float32), np.asarray(y), seed, cs)
    return model.C if model is not None else LINEAR_C_ONE_SHOT, note


def _select(x, y, seed, cs):
    """(the winning model fitted on the fit part or None, its C, a note)."""
    split = _validation_split(y, seed)
    if split is None:
        return None, LINEAR_C_ONE_SHOT, f"C = {LINEAR_C_ONE_SHOT} (too few labels to validate)"
    fit, val = split
    model, best, best_score = _logistic(cs[0]), None, None
    for C in cs:
        model.set_params(C=C)
        _fit(model, x[fit], y[fit])
        proba = _proba(model, x[val])
        col = {c: i for i, c in enumerate(model.classes_)}
        true_p = np.array([proba[i, col[t]] if t in col else 0.0 for i, t in enumerate(y[val])])
        score = (float((model.classes_[proba.argmax(1)] == y[val]).mean()), float(np.log(true_p + 1e-12).mean()))
        if best_score is None or score > best_score:
            best, best_score = copy.deepcopy(model), score
    return best, best.C, f"C = {best.C:g} (inner validation on {len(val)} held-out labels)"


def linear_probe(train_f, train_y, test_f, test_y, C: float | None = None, seed: int = 0) -> tuple[float, float]:
    """(test accuracy, C) of logistic regression on (already standardised) features.

    C=None chooses it by inner validation (`choose_c`); the final fit on all labelled images
    starts from the validation winner's weights."""
    x, y = _np(train_f).astype(np.float32), _np(train_y).astype(np.int64)
    test_f, test_y = _np(test_f).astype(np.float32), _np(test_y)
    if len(np.unique(y)) < 2:  # one class: it predicts that class everywhere
        return float((test_y == y[0]).mean()), C if C is not None else LINEAR_C_ONE_SHOT
    model = None
    if C is None:
        model, C, _ = _select(x, y, seed, LINEAR_CS)
    model = model or _logistic(C)
    model.set_params(C=C)
    _fit(model, x, y)
    pred = model.classes_[_proba(model, test_f).argmax(1)]
    return float((pred == test_y).mean()), float(C)


def self_training(train_f, train_y, unlabelled_f, test_f, test_y, num_classes: int, C: float | None = None,
                  rounds: int = 3, fraction: float = 0.5, seed: int = 0, should_stop=None) -> float:
    """Pseudo-label self-training with the linear probe on (standardised) frozen features.

    Round r of `rounds`: predict the unlabelled pool with the current classifier, keep for each
    predicted class its most confident predictions, up to r/rounds × fraction of the pool's
    per-class share (class-balanced, so one easy class cannot take over), and refit on the
    labelled images plus these pseudo-labels. Pseudo-labels are chosen afresh every round (a wrong
    early label can leave again). Returns the test accuracy of the final classifier.
    """
    x, y = _np(train_f).astype(np.float32), _np(train_y).astype(np.int64)
    u = _np(unlabelled_f).astype(np.float32)
    test_f, test_y = _np(test_f).astype(np.float32), _np(test_y)
    if len(np.unique(y)) < 2:
        return float((test_y == y[0]).mean())
    if C is None:
        C, _ = choose_c(x, y, seed)
    model = _fit(_logistic(C), x, y)
    if len(u):
        share = len(u) / num_classes
        for r in range(1, rounds + 1):
            if should_stop is not None and should_stop():
                break
            proba = _proba(model, u)
            pred, conf = model.classes_[proba.argmax(1)], proba.max(1)
            quota = max(1, int(math.ceil(share * fraction * r / rounds)))
            keep = np.concatenate([m[np.argsort(-conf[m], kind="stable")[:quota]]
                                   for m in (np.flatnonzero(pred == c) for c in np.unique(pred))])
            _fit(model, np.concatenate([x, u[keep]]), np.concatenate([y, pred[keep]]))
    pred = model.classes_[_proba(model, test_f).argmax(1)]
    return float((pred == test_y).mean())


# ---------------------------------------------------------------------------------------------
# The live few-label score: what the Train page draws beside the kNN with all labels

FEW_LABELS_PER_CLASS = 10
FEW_LABEL_DRAWS = 3


def few_label_draws(labels, per_class: int = FEW_LABELS_PER_CLASS, draws: int = FEW_LABEL_DRAWS,
                    seed: int = 0) -> list[np.ndarray]:
    """Fixed paired draws of `per_class` labelled images per class (the same images for every
    epoch and for the raw-pixel and untrained lines, so the curves compare networks, not draws)."""
    from .fewshot_stats import stratified_draw

    return [stratified_draw(_np(labels), per_class, seed * 1000 + d) for d in range(draws)]


def few_label_accuracy(bank_f, bank_y, test_f, test_y, draws: list[np.ndarray], C: float = 0.1) -> float:
    """Mean test accuracy of a linear probe trained on each draw's few labelled images.

    Features are standardised with the whole bank's statistics (unlabelled images are free);
    C is fixed (0.1, the value inner validation picks most often at 10 labels per class) so an
    epoch's score costs one small fit per draw: about 0.1 s at 1,024 dimensions here."""
    pool, test = standardise(bank_f, test_f)
    y = _np(bank_y)
    return float(np.mean([linear_probe(pool[d], y[d], test, _np(test_y), C=C)[0] for d in draws]))
