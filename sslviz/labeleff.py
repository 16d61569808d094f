"""Label efficiency: how many labels does self-supervision save?

An experiment takes trained runs (and baselines), draws a few labelled images per class from the
training split, fits a classifier with a protocol and scores it on the held-out test split:

    draws        stratified, nested (the 5-per-class set contains the 1-per-class set) and a pure
                 function of (train labels, labels per class, seed): every method of an experiment
                 sees exactly the same labelled images, so the comparison is paired
    protocols    knn            weighted cosine kNN on frozen features (Wu et al. 2018's monitor),
                                k = labels per class (at most 20), votes weighted exp(sim / 0.07)
                 linear         scikit-learn LogisticRegression on standardised frozen features,
                                C chosen from a small grid by an inner stratified validation split
                 finetune       the whole backbone plus a linear head, trained on the labelled few
                                with mild augmentations, a short cosine schedule
                 self-training  the linear probe labels the unlabelled pool; the most confident
                                predictions of each class join the training set; a few rounds
    baselines    pixels, pca (64 components fitted on the unlabelled pool), random-init (the same
                 backbone, untrained) and supervised (the backbone trained from scratch on the same
                 labelled images, the fine-tune recipe from random weights: protocol "scratch")
    statistics   mean, sample std and the 95% t-interval over seeds (half-width)
    savings      how many labels per class the supervised baseline needs to reach the accuracy a
                 method reaches with N (log-linear interpolation between measured budgets)

Results are written to results.json in the experiment's directory after every finished cell, so a
cancelled or crashed experiment keeps what it finished, and a resumed one skips it. The worker runs
experiments as jobs of kind "eval" (`run_job`); the CLI runs them in the foreground (`cli_eval`).
No Streamlit here.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import io
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError, SslvizError

LABEL_BUDGETS = (1, 2, 5, 10, 20, 50, 100, "all")
PROTOCOLS = ("knn", "linear", "finetune", "self-training")
BASELINES = ("pixels", "pca", "random-init", "supervised")
SCRATCH = "scratch"  # the protocol of the supervised baseline: trained from random weights
FEATURE_PROTOCOLS = ("knn", "linear", "self-training")
DETERMINISTIC = ("knn", "linear", "self-training")  # same labelled set -> same number
PROTOCOL_NOTES = {
    "knn": "weighted kNN on frozen features: cosine similarity, k = labels per class (≤ 20), votes exp(sim/0.07)",
    "linear": "logistic regression on standardised frozen features; C chosen by an inner validation split",
    "finetune": "the whole backbone + a linear head trained on the labelled images (short schedule, mild augmentations)",
    "self-training": "linear probe, then the most confident pseudo-labels of the unlabelled pool join in; 3 rounds",
    SCRATCH: "the same backbone trained from random weights on the same labelled images (the fine-tune recipe)",
}
BASELINE_LABELS = {"pixels": "raw pixels", "pca": "PCA of pixels", "random-init": "untrained network",
                   "supervised": "supervised from scratch"}
LINEAR_CS = (0.001, 0.01, 0.1, 1.0)
LINEAR_C_ONE_SHOT = 0.01  # no labels left to validate on with 1 per class: strong L2 (prototype-like)
KNN_TEMPERATURE = 0.07
KNN_MAX_K = 20
PCA_COMPONENTS = 64
RESULTS_FILE = "results.json"
NO_LABELS_HELP = ("evaluation needs labels. Put the images in one folder per class (photos/cat/*.jpg, "
                  "photos/dog/*.jpg, ...) and load the dataset as folder:photos")


# ---------------------------------------------------------------------------------------------
# Configuration


def parse_budgets(values) -> list:
    """'1,2,5,all' or [1, '2', 'all'] -> [1, 2, 5, 'all'] (sorted, unique, 'all' last)."""
    if isinstance(values, str):
        values = [v for v in values.replace(" ", "").split(",") if v]
    out: set = set()
    for v in values:
        if isinstance(v, str) and v.strip().lower() == "all":
            out.add("all")
            continue
        try:
            n = int(v)
            if isinstance(v, float) and n != v:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"labels_per_class: '{v}' is neither a whole number nor 'all'") from None
        if n < 1:
            raise ConfigError(f"labels_per_class: must be ≥ 1 (or 'all'), got {n}")
        out.add(n)
    if not out:
        raise ConfigError("labels_per_class: give at least one budget, e.g. 1,10,100,all")
    return sorted((v for v in out if v != "all")) + (["all"] if "all" in out else [])


def _parse_list(name: str, values, allowed: tuple) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.replace(" ", "").split(",") if v]
    out = []
    for v in values:
        v = str(v).strip().lower().replace("_", "-")
        v = {"selftraining": "self-training", "self": "self-training", "fine-tune": "finetune", "lin": "linear",
             "random": "random-init", "randominit": "random-init", "scratch": "supervised"}.get(v, v)
        if v not in allowed:
            raise ConfigError(f"{name}: unknown '{v}'; choose from {', '.join(allowed)}")
        if v not in out:
            out.append(v)
    return out


@dataclass
class ExperimentConfig:
    """One label-efficiency experiment (stored as the eval job's config.json)."""

    runs: list = field(default_factory=list)  # run ids in the store
    labels_per_class: list = field(default_factory=lambda: list(LABEL_BUDGETS))
    protocols: list = field(default_factory=lambda: ["knn", "linear"])
    seeds: int = 5
    baselines: list = field(default_factory=list)
    dataset: str = ""  # filled from the runs; needed only for a baselines-only experiment
    image_size: int | None = None
    backbone: str | None = None
    data_root: str | None = None
    data_seed: int | None = None  # the dataset's seed (split, generated images); None: the first run's
    pool_max: int = 20_000  # training images (labelled pool + unlabelled pool) used at most
    test_max: int = 10_000  # test images scored at most
    finetune_max_steps: int = 300
    self_training_rounds: int = 3
    device: str = "auto"
    name: str = ""
    owner: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"experiment: unknown field '{unknown[0]}'")
        return cls(**data).validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "ExperimentConfig":
        if isinstance(self.runs, str):
            self.runs = [r for r in self.runs.replace(" ", "").split(",") if r]
        self.runs = list(dict.fromkeys(str(r) for r in self.runs))
        self.labels_per_class = parse_budgets(self.labels_per_class)
        self.protocols = _parse_list("protocol", self.protocols, PROTOCOLS)
        self.baselines = _parse_list("baselines", self.baselines, BASELINES)
        if not self.protocols and not self.baselines:
            raise ConfigError("protocol: choose at least one of " + ", ".join(PROTOCOLS))
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or not 1 <= self.seeds <= 100:
            raise ConfigError(f"seeds: must be a whole number from 1 to 100, got {self.seeds!r}")
        if not self.runs and not self.baselines:
            raise ConfigError("runs: choose at least one run (or a baseline)")
        if not self.runs and not self.dataset:
            raise ConfigError("dataset: a baselines-only experiment needs a dataset")
        for name in ("pool_max", "test_max", "finetune_max_steps", "self_training_rounds"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name}: must be a whole number ≥ 1, got {v!r}")
        if self.data_seed is not None and (not isinstance(self.data_seed, int) or self.data_seed < 0):
            raise ConfigError(f"data_seed: must be a whole number ≥ 0, got {self.data_seed!r}")
        return self


# ---------------------------------------------------------------------------------------------
# Draws and statistics


def stratified_draw(labels: np.ndarray, per_class, seed: int) -> np.ndarray:
    """Indices of `per_class` labelled items of each class ('all': every labelled item), sorted.

    Labels < 0 (unknown) are never drawn. A class with fewer items gives all it has. The draw is a
    pure function of (labels, per_class, seed), and nested: for one seed the first n items of each
    class come from one fixed permutation, so 5 per class contains the 1 per class.
    """
    labels = np.asarray(labels)
    if per_class == "all":
        return np.flatnonzero(labels >= 0).astype(np.int64)
    picks = []
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        rng = np.random.default_rng([int(seed), int(c)])  # per class: adding a class changes no other draw
        picks.append(members[rng.permutation(len(members))[: int(per_class)]])
    return np.sort(np.concatenate(picks)).astype(np.int64) if picks else np.zeros(0, np.int64)


def clip_notes(labels: np.ndarray, budgets: list, class_names: list[str] | None = None) -> list[str]:
    """One note per budget that asks a class for more labelled images than it has."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels[labels >= 0], return_counts=True)
    notes = []
    for b in budgets:
        if b == "all":
            continue
        short = [(c, n) for c, n in zip(classes, counts) if n < b]
        if not short:
            continue
        names = ", ".join(f"'{class_names[c] if class_names and c < len(class_names) else c}' has {n}"
                          for c, n in short[:4])
        more = f" and {len(short) - 4} more" if len(short) > 4 else ""
        every = " (every class: this budget is the same as 'all')" if len(short) == len(classes) else ""
        notes.append(f"{b} labels per class: clipped where a class has fewer labelled training images "
                     f"({names}{more}; all of them are used){every}")
    return notes


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, sample std, half-width of the t-interval) over seeds; std and interval None for one value."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), None, None
    mean = float(x.mean())
    if len(x) < 2:
        return mean, None, None
    from scipy.stats import t

    std = float(x.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, len(x) - 1) * std / math.sqrt(len(x)))
    return mean, std, half


def knn_k(labels_per_class: float) -> int:
    """k for the kNN protocol: the labels of one class, at most 20 (1-NN at 1 label per class)."""
    return int(max(1, min(KNN_MAX_K, round(labels_per_class))))


def label_savings(rows: list[dict]) -> list[dict]:
    """For each non-supervised row: the labels per class the supervised baseline needs to match it.

    The supervised curve (mean accuracy against labels per class) is read at the row's accuracy by
    log-linear interpolation between the measured budgets. `bound` is '=' (interpolated), '>' (the
    supervised baseline never got there within the measured budgets) or '<=' (it was already there
    at its smallest budget). ratio = needed / labels per class of the row (a lower or upper bound
    where `bound` says so).
    """
    sup = sorted(((r["labels_per_class_effective"], r["mean"]) for r in rows
                  if r["method"] == "supervised" and r["run_id"] is None and r["mean"] is not None
                  and np.isfinite(r["mean"])), key=lambda p: p[0])
    if not sup:
        return []
    out = []
    for r in rows:
        if r["method"] == "supervised" and r["run_id"] is None:
            continue
        n, acc = r["labels_per_class_effective"], r["mean"]
        if acc is None or not np.isfinite(acc) or not n:
            continue
        needed, bound = None, "="
        if sup[0][1] >= acc:
            needed, bound = sup[0][0], "<="
        elif max(y for _, y in sup) < acc:
            needed, bound = max(x for x, _ in sup), ">"
        else:
            for (x0, y0), (x1, y1) in zip(sup, sup[1:]):
                if y0 < acc <= y1:
                    t = (acc - y0) / (y1 - y0)
                    needed = float(math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0))))
                    break
        ratio = needed / n
        lpc = r["labels_per_class"]
        where = f"{r['label']} + {r['protocol']} at {lpc} label{'s' if lpc != 1 else ''} per class ({acc:.1%})"
        if bound == "=":
            text = (f"{where}: supervised from scratch needs about {needed:.3g} per class to match, "
                    + (f"{ratio:.3g}× as many labels" if ratio >= 1 else "so no saving here"))
        elif bound == ">":
            text = (f"{where}: supervised from scratch never matched it, even with {needed:.3g} per class "
                    f"(more than {ratio:.3g}× as many labels)")
        else:
            text = f"{where}: supervised from scratch already matches it with {needed:.3g} per class: no saving"
        out.append(dict(method=r["method"], run_id=r["run_id"], label=r["label"], key=r["key"],
                        protocol=r["protocol"], labels_per_class=lpc, labels_per_class_effective=n, accuracy=acc,
                        supervised_labels_per_class=needed, bound=bound, ratio=ratio, text=text))
    return out


# ---------------------------------------------------------------------------------------------
# Protocols on features (numpy/torch arrays N×D) and on images (fine-tuning)


def _np(x) -> np.ndarray:
    import torch

    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def knn_protocol(train_f, train_y, test_f, test_y, num_classes: int, k: int | None = None) -> float:
    """Accuracy of the temperature-weighted cosine kNN vote (k from the labels per class when None)."""
    import torch

    from .evaluate import knn_accuracy

    train_y = torch.as_tensor(_np(train_y), dtype=torch.long)
    if k is None:
        k = knn_k(len(train_y) / max(1, len(torch.unique(train_y))))
    return knn_accuracy(torch.as_tensor(_np(train_f)).float(), train_y, torch.as_tensor(_np(test_f)).float(),
                        torch.as_tensor(_np(test_y), dtype=torch.long), num_classes, k=k,
                        temperature=KNN_TEMPERATURE)


def standardise(pool_f, *others):
    """Scale every feature to zero mean, unit variance using the (unlabelled) pool's statistics."""
    pool_f = _np(pool_f).astype(np.float32)
    mu = pool_f.mean(0)
    sd = pool_f.std(0)
    sd = np.where(sd > 1e-6, sd, 1.0)
    return [(pool_f - mu) / sd] + [(_np(o).astype(np.float32) - mu) / sd for o in others]


def _fit_lr(x, y, C: float, sample_weight=None, warm=None):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    model = warm or LogisticRegression(max_iter=300, tol=1e-3, warm_start=warm is not None)
    model.set_params(C=C)
    with warnings.catch_warnings(), threadpool_limits(1 if len(x) < 4000 else None):
        warnings.simplefilter("ignore")  # ConvergenceWarning on tiny sets: the validation judges the fit
        model.fit(x, y, sample_weight=sample_weight)
    return model


def _predict(model, x, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, confidence) with classes a model never saw mapped back to their index."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1 if len(x) < 4000 else None):
        proba = model.predict_proba(x)
    return model.classes_[proba.argmax(1)], proba.max(1)


def choose_c(x, y, seed: int = 0, cs=LINEAR_CS) -> tuple[float, str]:
    """Inner validation: hold out a stratified quarter (at least one per class) and keep the best C.

    Ties in accuracy go to the higher mean log-probability of the true class. With fewer than two
    labelled images in some class nothing can be held out: C = LINEAR_C_ONE_SHOT.
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        return LINEAR_C_ONE_SHOT, "one class only"
    if counts.min() < 2:
        return LINEAR_C_ONE_SHOT, f"C = {LINEAR_C_ONE_SHOT} (too few labels to validate)"
    rng = np.random.default_rng([int(seed), 7919])
    val = []
    for c, n in zip(classes, counts):
        members = np.flatnonzero(y == c)
        val.append(rng.permutation(members)[: max(1, n // 4)])
    val = np.concatenate(val)
    fit = np.setdiff1d(np.arange(len(y)), val)
    if len(np.unique(y[fit])) < 2:
        return LINEAR_C_ONE_SHOT, "too few labels to validate"
    best, best_score, model = None, None, None
    for C in cs:
        model = _fit_lr(x[fit], y[fit], C, warm=model)
        proba = model.predict_proba(x[val])
        col = {c: i for i, c in enumerate(model.classes_)}
        true_p = np.array([proba[i, col[t]] if t in col else 1e-9 for i, t in enumerate(y[val])])
        score = ((model.classes_[proba.argmax(1)] == y[val]).mean(), float(np.log(true_p + 1e-12).mean()))
        if best_score is None or score > best_score:
            best, best_score = C, score
    return best, f"C = {best:g} (inner validation on {len(val)} held-out labels)"


def linear_protocol(train_f, train_y, test_f, test_y, num_classes: int, C: float | None = None,
                    seed: int = 0) -> tuple[float, float]:
    """(accuracy, chosen C) of logistic regression on (already standardised) features."""
    x, y = _np(train_f).astype(np.float32), _np(train_y).astype(np.int64)
    if C is None:
        C, _ = choose_c(x, y, seed)
    if len(np.unique(y)) < 2:  # one class: it predicts that class everywhere
        return float((_np(test_y) == y[0]).mean()), C
    model = _fit_lr(x, y, C)
    pred, _ = _predict(model, _np(test_f).astype(np.float32), num_classes)
    return float((pred == _np(test_y)).mean()), C


def self_training_protocol(train_f, train_y, unlabelled_f, test_f, test_y, num_classes: int,
                           C: float | None = None, rounds: int = 3, fraction: float = 0.5,
                           seed: int = 0, should_stop=None) -> float:
    """Pseudo-label self-training with a linear classifier on (standardised) frozen features.

    Round r of `rounds`: fit on the labelled images plus the current pseudo-labels, predict the
    unlabelled pool, then keep for each class its most confident predictions, up to
    r/rounds × fraction of the pool's per-class share (class-balanced, so one easy class cannot
    take over). The pseudo-labels are re-chosen from scratch every round (a wrong early label can
    leave again). Returns the test accuracy of the final classifier.
    """
    x, y = _np(train_f).astype(np.float32), _np(train_y).astype(np.int64)
    u = _np(unlabelled_f).astype(np.float32)
    test_f, test_y = _np(test_f).astype(np.float32), _np(test_y)
    if C is None:
        C, _ = choose_c(x, y, seed)
    if len(np.unique(y)) < 2:
        return float((test_y == y[0]).mean())
    model = _fit_lr(x, y, C)
    if len(u):
        per_class_share = len(u) / num_classes
        for r in range(1, rounds + 1):
            if should_stop and should_stop():
                break
            pred, conf = _predict(model, u, num_classes)
            quota = max(1, int(math.ceil(per_class_share * fraction * r / rounds)))
            keep = []
            for c in np.unique(pred):
                members = np.flatnonzero(pred == c)
                keep.append(members[np.argsort(-conf[members], kind="stable")[:quota]])
            keep = np.concatenate(keep)
            model = _fit_lr(np.concatenate([x, u[keep]]), np.concatenate([y, pred[keep]]), C)
    pred, _ = _predict(model, test_f, num_classes)
    return float((pred == test_y).mean())


def finetune_pipeline(dataset: str):
    """Mild augmentations for training on a few labels: the dataset's default, gentler."""
    from .augment import default_pipeline

    p = default_pipeline(dataset)
    return dataclasses.replace(p, crop_scale=(max(0.6, p.crop_scale[0]), 1.0), jitter_p=min(p.jitter_p, 0.5),
                               gray_p=0.0, blur_p=0.0, solarize_p=0.0)


def finetune_schedule(n_labelled: int, max_steps: int = 300) -> tuple[int, int]:
    """(steps, batch size): about 20 epochs over the labelled images, between 50 and max_steps steps."""
    batch = int(min(64, max(16, n_labelled)))
    steps = int(min(max_steps, max(50, math.ceil(20 * n_labelled / batch))))
    return steps, batch


def finetune_protocol(backbone, train_x, train_y, test_x, test_y, num_classes: int, *, pipeline=None,
                      pretrained: bool = True, seed: int = 0, max_steps: int = 300, device="cpu",
                      should_stop=None) -> float:
    """Train `backbone` (a copy) plus a linear head on uint8 images; the test accuracy.

    pretrained=True: backbone lr 5e-4, head lr 5e-3 (fine-tuning). pretrained=False: 2e-3 for both
    (training from scratch, the supervised baseline). AdamW, cosine decay, batches sampled with
    replacement (so even 1 label per class makes a batch for batch norm), mild augmentations.
    """
    import torch
    from torch import nn

    from .augment import augment
    from .evaluate import extract_features

    device = torch.device(device)
    torch.manual_seed(seed)
    net = copy.deepcopy(backbone).to(device, memory_format=torch.channels_last)
    head = nn.Linear(net.out_dim, num_classes).to(device)
    groups = [{"params": net.parameters(), "lr": 5e-4 if pretrained else 2e-3},
              {"params": head.parameters(), "lr": 5e-3 if pretrained else 2e-3}]
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    base = [g["lr"] for g in opt.param_groups]
    train_x = torch.as_tensor(train_x)
    train_y = torch.as_tensor(_np(train_y), dtype=torch.long)
    steps, batch = finetune_schedule(len(train_x), max_steps)
    g = torch.Generator().manual_seed(int(seed))
    ga = torch.Generator(device=device).manual_seed(int(seed) + 1)
    net.train()
    head.train()
    for step in range(steps):
        if should_stop and step % 10 == 0 and should_stop():
            return float("nan")
        idx = torch.randint(0, len(train_x), (batch,), generator=g)
        x = train_x[idx].to(device)
        x = augment(x, pipeline, generator=ga) if pipeline is not None else x.float().div(255)
        x = x.contiguous(memory_format=torch.channels_last)
        scale = 0.5 * (1 + math.cos(math.pi * step / steps))
        for group, lr in zip(opt.param_groups, base):
            group["lr"] = lr * scale
        loss = nn.functional.cross_entropy(head(net(x)), train_y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    head.eval()
    logits = extract_features(lambda z: head(net(z)), torch.as_tensor(test_x), device)
    return float((logits.argmax(1).numpy() == _np(test_y)).mean())


# ---------------------------------------------------------------------------------------------
# Subjects: the runs and baselines of an experiment, with their frozen features


@dataclass
class Subject:
    key: str  # run id, or the baseline's name
    method: str
    run_id: str | None
    label: str
    image_size: int
    run_config: object = None  # RunConfig of a run (None for pixels / pca / supervised baselines)
    checkpoint: Path | None = None

    @property
    def protocols(self) -> list[str]:
        return [SCRATCH] if self.method == "supervised" and self.run_id is None else list(FEATURE_PROTOCOLS) + ["finetune"]


class Context:
    """Everything an experiment needs loaded once: data subsets, draws, features."""

    def __init__(self, cfg: ExperimentConfig, store, run_dir: Path | None = None):
        self.cfg, self.store, self.run_dir = cfg, store, run_dir
        self.notes: list[str] = []
        self.subjects: list[Subject] = []
        self._features: dict = {}
        self._backbones: dict = {}
        self._resolve()

    # --- runs and data ---------------------------------------------------------------------
    def _resolve(self) -> None:
        from .config import RunConfig
        from .data import canonical_name, load_dataset
        from .models import pick_device

        cfg, runs = self.cfg, []
        for run_id in cfg.runs:
            run = self.store.get(run_id)  # RunStoreError: no such run
            if run["kind"] != "train":
                raise ConfigError(f"run '{run_id}': is a {run['kind']} job, not a trained run")
            ckpt = self.store.run_dir(run_id) / "checkpoint.pt"
            if not ckpt.exists():
                state = {"queued": "it is still queued", "running": "it has not finished its first epoch"}.get(
                    run["status"], f"it is {run['status']}")
                raise SslvizError(f"run '{run_id}': has no checkpoint yet ({state}); there is nothing to evaluate")
            runs.append((run, RunConfig.from_dict(run["config"]), ckpt))
        if runs:
            first = runs[0][1]
            names = {canonical_name(rc.dataset) for _, rc, _ in runs}
            if len(names) > 1:
                listing = ", ".join(f"{r['id']} on {rc.dataset}" for r, rc, _ in runs)
                raise ConfigError(f"runs: a paired comparison needs one dataset, got {listing}")
            roots = {rc.data_root for _, rc, _ in runs}
            cfg.dataset = cfg.dataset or first.dataset
            cfg.image_size = cfg.image_size or first.image_size
            cfg.backbone = cfg.backbone or first.backbone
            cfg.data_root = cfg.data_root if cfg.data_root is not None else first.data_root
            if len(roots) > 1:
                self.notes.append(f"runs read the dataset from different folders; using {cfg.data_root}")
            if cfg.data_seed is None:
                cfg.data_seed = first.seed
            seeds = {rc.seed for _, rc, _ in runs}
            if len(seeds) > 1:
                self.notes.append(f"runs were trained with different seeds ({sorted(seeds)}); every run is "
                                  f"evaluated on the split of seed {cfg.data_seed}, so some test images may have "
                                  "been in another run's (unlabelled) training set")
        cfg.image_size = cfg.image_size or 32
        cfg.backbone = cfg.backbone or "small-cnn"
        cfg.data_seed = cfg.data_seed or 0
        self.device = pick_device(cfg.device)
        self.data = load_dataset(cfg.dataset, image_size=cfg.image_size, data_root=cfg.data_root, seed=cfg.data_seed)
        if self.data.report.get("note"):
            self.notes.append(str(self.data.report["note"]))
        train_y = self.data.train.labels.numpy()
        test_y = self.data.test.labels.numpy()
        labelled = np.unique(train_y[train_y >= 0])
        if len(labelled) == 0 or (test_y >= 0).sum() == 0:
            raise DataError(f"dataset {cfg.dataset}: has no labels; {NO_LABELS_HELP}")
        if len(labelled) < 2:
            raise DataError(f"dataset {cfg.dataset}: has a single class; {NO_LABELS_HELP}")
        rng = np.random.default_rng([cfg.data_seed, 1])
        pool = np.arange(len(train_y))
        if len(pool) > cfg.pool_max:
            pool = np.sort(rng.permutation(pool)[: cfg.pool_max])
            self.notes.append(f"the training split has {len(train_y):,} images; a fixed random {cfg.pool_max:,} of "
                              "them form the labelled and unlabelled pools")
        test = np.flatnonzero(test_y >= 0)
        if len(test) > cfg.test_max:
            test = np.sort(rng.permutation(test)[: cfg.test_max])
            self.notes.append(f"{cfg.test_max:,} of the {int((test_y >= 0).sum()):,} test images are scored")
        self.pool_idx, self.test_idx = pool, test
        self.pool_y, self.test_y = train_y[pool], test_y[test]
        self.num_classes = self.data.num_classes
        self.class_names = list(self.data.class_names)
        self.notes += clip_notes(self.pool_y, cfg.labels_per_class, self.class_names)
        for run, rc, ckpt in runs:
            self.subjects.append(Subject(run["id"], rc.method, run["id"], run["name"] or run["id"], rc.image_size, rc, ckpt))
        for b in cfg.baselines:
            self.subjects.append(Subject(b, b, None, BASELINE_LABELS[b], cfg.image_size))

    def images(self, image_size: int):
        """(pool images, test images) uint8 at a size, with labels checked against the base size."""
        from .data import load_dataset

        cfg = self.cfg
        data = self.data if image_size == cfg.image_size else load_dataset(
            cfg.dataset, image_size=image_size, data_root=cfg.data_root, seed=cfg.data_seed)
        if not np.array_equal(data.train.labels.numpy()[self.pool_idx], self.pool_y):
            raise DataError(f"{cfg.dataset}: the split differs at image size {image_size}; evaluate runs of one size")
        return data.train.images[self.pool_idx], data.test.images[self.test_idx]

    # --- budgets ---------------------------------------------------------------------------
    def draw(self, budget, seed: int) -> np.ndarray:
        return stratified_draw(self.pool_y, budget, seed)

    def effective(self, budget) -> float:
        """Mean labelled images per class that a budget really gives (clipping included)."""
        idx = self.draw(budget, 0)
        return float(len(idx) / max(1, len(np.unique(self.pool_y[idx]))))

    # --- features --------------------------------------------------------------------------
    def _method_for(self, subject: Subject):
        """The subject's method module with its weights (a run's checkpoint, or fresh for baselines)."""
        import torch

        from .config import RunConfig
        from .train import build_method, load_checkpoint

        if subject.run_id is not None:
            rc = subject.run_config
            method = build_method(rc, self.data.channels, self.num_classes, self.device)
            try:
                state = load_checkpoint(subject.checkpoint, self.device)
                method.load_state_dict(state["model"])
            except Exception as exc:  # a truncated, foreign or mismatched checkpoint
                raise SslvizError(f"run '{subject.run_id}': cannot load its checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:160]})") from None
            return method.eval()
        rc = RunConfig(method=subject.method if subject.method != "supervised" else "random-init",
                       dataset=self.cfg.dataset, backbone=self.cfg.backbone, image_size=self.cfg.image_size,
                       seed=self.cfg.data_seed, device="cpu")
        torch.manual_seed(self.cfg.data_seed)  # the untrained network is the same for every experiment
        method = build_method(rc, self.data.channels, self.num_classes, self.device)
        if subject.method == "pca":
            pool_x, _ = self.images(self.cfg.image_size)
            method.hp["components"] = PCA_COMPONENTS
            method.prepare(pool_x.to(self.device))
        return method.eval()

    def backbone(self, subject: Subject):
        if subject.key not in self._backbones:
            self._backbones[subject.key] = self._method_for(subject).backbone
        return self._backbones[subject.key]

    def features(self, subject: Subject) -> dict:
        """{'pool','test': raw features, 'pool_std','test_std': standardised}, cached for runs on disk."""
        if subject.key in self._features:
            return self._features[subject.key]
        import torch

        from .evaluate import extract_features

        cache = None
        if subject.run_id is not None:
            st = subject.checkpoint.stat()
            key = json.dumps([self.cfg.dataset, subject.image_size, self.cfg.data_root, self.cfg.data_seed,
                              st.st_mtime_ns, st.st_size, hashlib.sha1(self.pool_idx.tobytes()).hexdigest(),
                              hashlib.sha1(self.test_idx.tobytes()).hexdigest()])
            cache = subject.checkpoint.parent / f"labeleff_features_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
        pool_f = test_f = None
        if cache is not None and cache.exists():
            try:
                with np.load(cache) as z:
                    pool_f, test_f = z["pool"], z["test"]
            except Exception:  # a damaged cache is rebuilt
                pool_f = test_f = None
        if pool_f is None:
            method = self._method_for(subject)
            self._backbones.setdefault(subject.key, method.backbone)
            pool_x, test_x = self.images(subject.image_size)
            with torch.no_grad():
                pool_f = extract_features(method.embed, pool_x, self.device).numpy()
                test_f = extract_features(method.embed, test_x, self.device).numpy()
            if cache is not None:
                from .runs import atomic_write_bytes

                buf = io.BytesIO()
                np.savez(buf, pool=pool_f, test=test_f)
                try:
                    atomic_write_bytes(cache, buf.getvalue())
                except OSError:
                    pass  # a read-only run folder: no cache, same numbers
        pool_s, test_s = standardise(pool_f, test_f)
        self._features[subject.key] = {"pool": pool_f, "test": test_f, "pool_std": pool_s, "test_std": test_s}
        return self._features[subject.key]


# ---------------------------------------------------------------------------------------------
# The experiment loop


def _cells(ctx: Context) -> list[tuple[Subject, str, object]]:
    """(subject, protocol, budget) in the order they run: cheap protocols first, so a cancelled
    experiment has its kNN and linear curves; within a protocol, budget by budget."""
    cfg, cells = ctx.cfg, []
    order = [p for p in ("knn", "linear", "self-training") if p in cfg.protocols]
    for protocol in order:
        for s in ctx.subjects:
            if protocol in s.protocols:
                cells += [(s, protocol, b) for b in cfg.labels_per_class]
    heavy = ["finetune"] if "finetune" in cfg.protocols else []
    for s in ctx.subjects:
        for protocol in (heavy + [SCRATCH]):
            if protocol in s.protocols:
                cells += [(s, protocol, b) for b in cfg.labels_per_class]
    return cells


def _skip_reason(subject: Subject, protocol: str) -> str | None:
    if protocol == "finetune" and subject.method in ("pixels", "pca"):
        return f"{subject.label}: fine-tuning needs a network; {subject.method} has none"
    if protocol == "finetune" and subject.run_id is None and subject.method == "random-init":
        return "untrained network + fine-tune is the supervised baseline (from scratch): add 'supervised'"
    return None


_COST = {"knn": 1.0, "linear": 3.0, "self-training": 12.0, "finetune": 40.0, SCRATCH: 40.0}


class _Throttle:
    def __init__(self, fn, every: float = 1.0):
        self.fn, self.every, self.last, self.value = fn, every, 0.0, False

    def __call__(self):
        now = time.monotonic()
        if not self.value and now - self.last >= self.every:
            self.last, self.value = now, bool(self.fn())
        return self.value


def run_experiment(cfg: ExperimentConfig, store, out_dir: Path | None = None, report=None,
                   echo=None) -> dict:
    """Run (or continue) an experiment; returns the results dict (also written to out_dir/results.json).

    report: a trainer-style Reporter (metrics, progress, should_stop, flush) or None.
    echo: a function that receives one line per finished cell (the CLI prints them on stderr).
    """
    t_start = time.perf_counter()
    cfg = ExperimentConfig.from_dict(cfg.to_dict()) if isinstance(cfg, ExperimentConfig) else ExperimentConfig.from_dict(cfg)
    ctx = Context(cfg, store, out_dir)
    path = Path(out_dir) / RESULTS_FILE if out_dir else None
    done: dict = {}
    previous_seconds = 0.0
    if path is not None and path.exists():  # a resumed experiment keeps what it finished
        try:
            old = json.loads(path.read_text())
            if old.get("config") == cfg.to_dict():
                done = {(r["key"], r["protocol"], str(r["labels_per_class"])): r for r in old.get("results", [])}
                previous_seconds = float(old.get("seconds") or 0)
        except (OSError, ValueError):
            done = {}
    cells = _cells(ctx)
    skipped = []
    for s in ctx.subjects:
        for p in cfg.protocols:
            reason = _skip_reason(s, p) if p in s.protocols else None
            if reason and reason not in skipped:
                skipped.append(reason)
    cells = [c for c in cells if _skip_reason(c[0], c[1]) is None]
    total = sum(_COST[p] * (1 if b == "all" and p in DETERMINISTIC else cfg.seeds) for _, p, b in cells) or 1.0
    results = {
        "version": 1, "kind": "label-efficiency", "config": cfg.to_dict(), "status": "running",
        "dataset": cfg.dataset, "image_size": cfg.image_size, "num_classes": ctx.num_classes,
        "class_names": ctx.class_names, "pool_size": int(len(ctx.pool_idx)), "test_size": int(len(ctx.test_idx)),
        "budgets": [{"labels_per_class": b, "effective": ctx.effective(b)} for b in cfg.labels_per_class],
        "subjects": [{"key": s.key, "method": s.method, "run_id": s.run_id, "label": s.label} for s in ctx.subjects],
        "protocol_notes": {p: PROTOCOL_NOTES[p] for p in list(cfg.protocols) + ([SCRATCH] if "supervised" in cfg.baselines else [])},
        "notes": ctx.notes + skipped, "results": [], "savings": [], "cells_total": len(cells), "cells_done": 0,
        "seconds": previous_seconds, "device": str(ctx.device),
    }
    stop = _Throttle(report.should_stop if report is not None else (lambda: False))
    done_cost, last_progress = 0.0, 0.0
    rows: list[dict] = []
    linear_c: dict = {}
    stopped = False

    def save(status: str) -> None:
        results["status"] = status
        results["results"] = rows
        results["savings"] = label_savings(rows)
        results["cells_done"] = len(rows)
        results["seconds"] = round(previous_seconds + time.perf_counter() - t_start, 2)
        if path is not None:
            from .runs import atomic_write_text

            atomic_write_text(path, json.dumps(_jsonable(results), indent=1))

    def progress(message: str, force: bool = False) -> None:
        nonlocal last_progress
        now = time.perf_counter()
        if report is None or (not force and now - last_progress < 0.5):
            return
        last_progress = now
        frac = done_cost / total
        elapsed = now - t_start
        eta = elapsed / frac * (1 - frac) if frac > 0.02 else None
        report.progress(frac, eta, message)

    try:
        for cell_no, (subject, protocol, budget) in enumerate(cells):
            cell_key = (subject.key, protocol, str(budget))
            n_runs = 1 if budget == "all" and protocol in DETERMINISTIC else cfg.seeds
            if cell_key in done:
                rows.append(done[cell_key])
                done_cost += _COST[protocol] * n_runs
                continue
            if stop():
                stopped = True
                break
            t0 = time.perf_counter()
            where = f"{subject.label} · {protocol} · {budget} per class"
            progress(f"{where}: features", force=True)
            feats = ctx.features(subject) if protocol in FEATURE_PROTOCOLS else None
            values, seen = [], {}
            for seed in range(cfg.seeds):
                idx = ctx.draw(budget, seed)
                sig = hashlib.sha1(idx.tobytes()).hexdigest()
                if protocol in DETERMINISTIC and sig in seen:
                    continue  # the same labelled set again (budget 'all', or clipped to every image)
                seen[sig] = True
                progress(f"{where}: seed {seed + 1}/{cfg.seeds}")
                y = ctx.pool_y[idx]
                if protocol == "knn":
                    acc = knn_protocol(feats["pool"][idx], y, feats["test"], ctx.test_y, ctx.num_classes)
                elif protocol in ("linear", "self-training"):
                    x = feats["pool_std"][idx]
                    if (subject.key, sig) not in linear_c:
                        linear_c[(subject.key, sig)] = choose_c(x, y, seed)[0]
                    C = linear_c[(subject.key, sig)]
                    if protocol == "linear":
                        acc, _ = linear_protocol(x, y, feats["test_std"], ctx.test_y, ctx.num_classes, C=C, seed=seed)
                    else:
                        rest = np.setdiff1d(np.arange(len(ctx.pool_idx)), idx)
                        rng = np.random.default_rng([seed, 11])
                        rest = rest[rng.permutation(len(rest))[:4000]]  # the unlabelled pool, at most 4,000
                        acc = self_training_protocol(x, y, feats["pool_std"][rest], feats["test_std"], ctx.test_y,
                                                     ctx.num_classes, C=C, rounds=cfg.self_training_rounds,
                                                     seed=seed, should_stop=stop)
                else:  # finetune or scratch: train a network on the labelled images
                    pool_x, test_x = ctx.images(subject.image_size)
                    acc = finetune_protocol(
                        ctx.backbone(subject), pool_x[idx], y, test_x, ctx.test_y, ctx.num_classes,
                        pipeline=finetune_pipeline(cfg.dataset), pretrained=protocol == "finetune", seed=seed,
                        max_steps=cfg.finetune_max_steps, device=ctx.device, should_stop=stop)
                if stop():
                    stopped = True
                    break
                values.append(acc)
                done_cost += _COST[protocol]
            if stopped:
                break  # a half-finished cell is dropped: its seeds would not be comparable
            if protocol in DETERMINISTIC and n_runs > 1 and len(values) < cfg.seeds:
                done_cost += _COST[protocol] * (cfg.seeds - len(values))
            row = _row(ctx, subject, protocol, budget, values, cfg.seeds, time.perf_counter() - t0)
            rows.append(row)
            save("running")
            if report is not None:
                report.metrics(cell_no + 1, cell_no + 1, time.perf_counter() - t_start,
                               {f"labeleff:{subject.key}:{protocol}:{budget}": row["mean"]})
                report.flush()
            progress(f"{where}: {row['mean']:.1%}", force=True)
            if echo:
                ci = f" ± {row['ci95']:.1%}" if row["ci95"] else ""
                echo(f"[{done_cost / total:4.0%}] {where}: {row['mean']:.1%}{ci} ({row['n_seeds']} seed"
                     f"{'s' if row['n_seeds'] != 1 else ''}, {row['seconds']:.1f} s)")
    except BaseException:
        save("failed")
        raise
    if stopped:
        results["notes"].append(f"cancelled: {len(rows)} of {len(cells)} results finished and kept")
    save("cancelled" if stopped else "completed")
    if report is not None:
        report.progress(1.0 if not stopped else done_cost / total, 0.0,
                        "cancelled: partial results kept" if stopped else "finished")
    return results


def _row(ctx: Context, subject: Subject, protocol: str, budget, values: list, seeds: int, seconds: float) -> dict:
    mean, std, ci = mean_ci(values)
    note = ""
    if protocol in DETERMINISTIC and len(values) == 1 and seeds > 1:
        std, ci = 0.0, 0.0
        note = "every seed draws the same labelled set, so one evaluation stands for all"
    idx = ctx.draw(budget, 0)
    return {
        "key": subject.key, "method": subject.method, "run_id": subject.run_id, "label": subject.label,
        "protocol": protocol, "labels_per_class": budget,
        "labels_per_class_effective": ctx.effective(budget), "labels_total": int(len(idx)),
        "mean": mean, "std": std, "ci95": ci, "n_seeds": len(values),
        "values": [float(v) for v in values], "seconds": round(seconds, 3), "note": note,
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ---------------------------------------------------------------------------------------------
# Entry points: the worker's job, the CLI, and reading stored results


def run_job(config: dict, run_dir: Path, report) -> dict:
    """The worker's entry point for kind "eval": the experiment, in run_dir; resumable."""
    from .runs import RunStore

    run_dir = Path(run_dir)
    store = RunStore(run_dir.parent)
    results = run_experiment(ExperimentConfig.from_dict(config), store, run_dir, report)
    summary = {"results": str(run_dir / RESULTS_FILE), "cells_done": results["cells_done"],
               "cells_total": results["cells_total"], "seconds": results["seconds"],
               "dataset": results["dataset"]}
    if results["status"] == "cancelled":
        summary["stopped_by"] = "user"
    return summary


def prepare(config: dict, store) -> dict:
    """Check an experiment against the store (runs exist and have checkpoints, one dataset, labels)
    and fill in what the runs imply; returns the config to queue. Raises SslvizError (one line)."""
    cfg = ExperimentConfig.from_dict(dict(config))
    Context(cfg, store)
    return cfg.to_dict()


def submit(config: dict, store, start: bool = True) -> str:
    """Queue an experiment for the background worker (kind "eval"); returns its id."""
    from . import worker

    return worker.submit_job("eval", prepare(config, store), store, start)


def load_results(store, experiment_id: str) -> dict | None:
    """The stored results of an experiment (partial while it runs), or None before its first result."""
    path = store.run_dir(experiment_id) / RESULTS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def experiments(store, run_ids: list[str] | None = None) -> list[dict]:
    """Eval jobs, newest first; with run_ids, only those that evaluate at least one of them."""
    out = []
    for job in store.list(kind="eval"):
        runs = job["config"].get("runs", [])
        if run_ids is None or set(runs) & set(run_ids):
            out.append(job)
    return out


def results_csv(results: dict) -> str:
    """The results table as CSV text (one row per method × protocol × labels per class)."""
    buf = io.StringIO()
    cols = ["method", "label", "run_id", "protocol", "labels_per_class", "labels_per_class_effective",
            "labels_total", "mean", "std", "ci95", "n_seeds", "values", "seconds", "note"]
    w = csv.writer(buf)
    w.writerow(cols)
    for r in results.get("results", []):
        w.writerow([";".join(f"{v:.4f}" for v in r["values"]) if c == "values" else
                    ("" if r.get(c) is None else r.get(c)) for c in cols])
    return buf.getvalue()


def json_rows(results: dict) -> list[dict]:
    """The CLI's `results` rows: method, run_id, protocol, labels_per_class, mean, std, ci95, n_seeds (+ extras)."""
    keep = ("method", "run_id", "protocol", "labels_per_class", "mean", "std", "ci95", "n_seeds", "label",
            "labels_per_class_effective", "labels_total", "values", "note")
    return [{k: r.get(k) for k in keep} for r in results.get("results", [])]


class _EchoReporter:
    """A reporter for the foreground CLI: progress on stderr, results and metrics in the store."""

    def __init__(self, store, run_id: str):
        from .worker import StoreReporter

        self.inner = StoreReporter(store, run_id)
        self.last = 0.0

    def metrics(self, *a):
        self.inner.metrics(*a)

    def flush(self):
        self.inner.flush()

    def should_stop(self):
        return self.inner.should_stop()

    def progress(self, fraction, eta, message=""):
        self.inner.progress(fraction, eta, message)
        now = time.monotonic()
        if now - self.last > 2.0 and sys.stderr.isatty():
            self.last = now
            left = f", about {eta:.0f} s left" if eta else ""
            print(f"  {fraction:4.0%} {message}{left}", file=sys.stderr)


def cli_eval(args) -> int:
    """`python -m sslviz eval --run ID[,ID...] ...` in the foreground; progress on stderr."""
    from .runs import RunStore

    store = RunStore(getattr(args, "runs_dir", None))
    cfg = ExperimentConfig.from_dict(dict(
        runs=args.run or [], labels_per_class=args.labels_per_class, protocols=args.protocol, seeds=args.seeds,
        baselines=args.baselines or [], **({"device": args.device} if getattr(args, "device", None) else {}),
        **({"dataset": args.dataset} if getattr(args, "dataset", None) else {}),
    ))
    Context(cfg, store)  # fail fast (runs, checkpoints, labels) and fill in the dataset
    cfg_dict = cfg.to_dict()
    exp_id = store.create(cfg_dict, kind="eval", status="running")
    import os
    import socket

    from .runs import process_start_ticks

    store.update(exp_id, started=time.time(), pid=os.getpid(), pid_start=process_start_ticks(os.getpid()),
                 host=socket.gethostname())
    print(f"experiment {exp_id}: {', '.join(cfg.runs + cfg.baselines)} on {cfg.dataset or 'the runs’ dataset'}",
          file=sys.stderr)
    reporter = _EchoReporter(store, exp_id)
    try:
        results = run_experiment(cfg, store, store.run_dir(exp_id), reporter,
                                 echo=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        store.update(exp_id, status="cancelled", ended=time.time(), message="interrupted: partial results kept")
        raise
    except SslvizError as exc:
        store.update(exp_id, status="failed", ended=time.time(), message=str(exc).splitlines()[0])
        raise
    except Exception as exc:
        import traceback

        store.update(exp_id, status="failed", ended=time.time(), message=f"crashed: {type(exc).__name__}: {exc}"[:300],
                     error=traceback.format_exc())
        raise
    status = "cancelled" if results["status"] == "cancelled" else "completed"
    store.update(exp_id, status=status, ended=time.time(), progress=1.0,
                 summary={"results": str(store.run_dir(exp_id) / RESULTS_FILE), "cells_done": results["cells_done"],
                          "cells_total": results["cells_total"], "seconds": results["seconds"]})
    for line in results["notes"]:
        print(f"note: {line}", file=sys.stderr)
    for s in results["savings"]:
        if s["run_id"] is not None:
            print(f"savings: {s['text']}", file=sys.stderr)
    if args.json:
        print(json.dumps(_jsonable({"experiment_id": exp_id, "status": results["status"], "dataset": results["dataset"],
                                    "results": json_rows(results), "savings": results["savings"],
                                    "notes": results["notes"], "seconds": results["seconds"]})))
    else:
        print(format_table(results))
    return 0


def format_table(results: dict) -> str:
    """A plain-text table: one line per method × protocol, one column per budget (mean ± ci95)."""
    budgets = [b["labels_per_class"] for b in results.get("budgets", [])]
    lines = [f"{'method':<28} {'protocol':<13} " + " ".join(f"{str(b):>14}" for b in budgets)]
    groups: dict = {}
    for r in results.get("results", []):
        groups.setdefault((r["label"], r["protocol"]), {})[str(r["labels_per_class"])] = r
    for (label, protocol), cells in groups.items():
        parts = []
        for b in budgets:
            r = cells.get(str(b))
            parts.append(f"{'-':>14}" if r is None or r["mean"] is None else
                         f"{r['mean'] * 100:>6.1f}" + (f" ± {r['ci95'] * 100:4.1f}" if r["ci95"] else "       "))
        lines.append(f"{label[:28]:<28} {protocol:<13} " + " ".join(parts))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Comparing runs (the Compare page): leaderboard, same-budget runs, embeddings in 2-D

LEADERBOARD_BUDGETS = (1, 10, 100)


def _last_metric(store, run_id: str, name: str):
    rows = store.metrics(run_id, [name])
    return rows[-1]["value"] if rows else None


def leaderboard(store, run_ids: list[str]) -> list[dict]:
    """One row per run: kNN, linear probe at 1/10/100 labels per class (from the newest experiment
    that measured it), images/s, training seconds and the collapse gauge with a warning."""
    from .evaluate import COLLAPSE_WARNING

    stored = [load_results(store, e["id"]) for e in experiments(store, run_ids)]  # newest first
    rows = []
    for rid in run_ids:
        run = store.get(rid)
        s = run["summary"] or {}
        linear = {}
        for res in stored:
            for r in (res or {}).get("results", []):
                b = r["labels_per_class"]
                if r["run_id"] == rid and r["protocol"] == "linear" and b in LEADERBOARD_BUDGETS and b not in linear:
                    linear[b] = r["mean"]
        knn = s.get("knn_accuracy", _last_metric(store, rid, "knn_accuracy"))
        ips = s.get("images_per_second", _last_metric(store, rid, "images_per_second"))
        seconds = s.get("seconds")
        if seconds is None:
            m = store.metrics(rid, ["loss"])
            seconds = m[-1]["elapsed"] if m else None
        gauge = s.get("collapse_std", _last_metric(store, rid, "collapse_std"))
        if gauge is None:
            collapse = ""
        elif gauge < COLLAPSE_WARNING:
            collapse = f"⚠️ collapsed ({gauge:.3f})"
        else:
            collapse = f"ok ({gauge:.2f})"
        rows.append({"run": rid, "method": run["method"], "name": run["name"], "status": run["status"],
                     "kNN": knn, **{f"linear @{b}": linear.get(b) for b in LEADERBOARD_BUDGETS},
                     "images/s": ips, "training s": seconds, "collapse": collapse})
    return rows


def same_budget_configs(store, run_ids: list[str], seconds: float, seed: int | None = None, owner: str = "") -> list:
    """RunConfigs that retrain the chosen runs' methods with one dataset, backbone, image size, seed
    and wall-clock budget (the first run's); each keeps its own augmentations and hyper-parameters."""
    from .config import RunConfig

    if not run_ids:
        raise ConfigError("same budget: choose at least one run")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"same budget: the time budget must be a positive number of seconds, got {seconds!r}")
    cfgs = [RunConfig.from_dict(store.get(r)["config"]) for r in run_ids]
    ref = cfgs[0]
    out, seen = [], set()
    for c in cfgs:
        d = c.to_dict()
        d.update(dataset=ref.dataset, data_root=ref.data_root, image_size=ref.image_size, backbone=ref.backbone,
                 seed=ref.seed if seed is None else int(seed), time_budget=float(seconds), epochs=10_000,
                 name=f"same budget {seconds:g} s: {c.method}", owner=owner)
        if c.dataset != ref.dataset and c.pipeline is None:
            d["pipeline"] = None
        sig = json.dumps({k: v for k, v in d.items() if k != "name"}, sort_keys=True)
        if sig not in seen:
            seen.add(sig)
            out.append(RunConfig.from_dict(d))
    return out


def submit_same_budget(store, run_ids: list[str], seconds: float, seed: int | None = None,
                       owner: str = "") -> tuple[list[str], list[str]]:
    """Queue same_budget_configs through the worker; returns (queued ids, one-line refusals)."""
    from . import worker

    ids, errors = [], []
    for cfg in same_budget_configs(store, run_ids, seconds, seed, owner):
        try:
            ids.append(worker.submit(cfg, store))
        except SslvizError as exc:
            errors.append(f"{cfg.method}: {exc}")
    return ids, errors


def latest_embeddings(run_dir: Path) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(features, labels, epoch) of a run's newest embedding snapshot, or None."""
    snaps = sorted(Path(run_dir).glob("embeddings_*.npz"))
    for snap in reversed(snaps):
        try:
            with np.load(snap) as z:
                return z["features"].astype(np.float32), z["labels"], int(snap.stem.split("_")[-1])
        except Exception:
            continue
    return None


def embedding_2d(run_dir: Path, method: str = "umap", max_points: int = 2000) -> dict | None:
    """2-D projection of a run's newest test-set embedding: {'xy', 'labels', 'epoch', 'method', 'note'}.

    Uses sslviz.projection.project when it is there (UMAP or PCA, cached per run); otherwise PCA
    from scikit-learn. None when the run has no snapshot yet.
    """
    snap = latest_embeddings(run_dir)
    if snap is None:
        return None
    feats, labels, epoch = snap
    if len(feats) > max_points:
        keep = np.sort(np.random.default_rng(0).permutation(len(feats))[:max_points])
        feats, labels = feats[keep], labels[keep]
    note = ""
    try:
        from .projection import project  # issue 4's module, when present
    except ImportError:
        project = None
    xy = None
    if project is not None:
        try:
            out = project(feats, method=method, dim=2)
            xy = np.asarray(out[0] if isinstance(out, tuple) else getattr(out, "xy", out), dtype=np.float32)
            if xy.shape != (len(feats), 2):
                xy = None
        except Exception as exc:
            note = f"{method} failed ({type(exc).__name__}); PCA shown"
            xy = None
    used = method if xy is not None else "pca"
    if xy is None:
        from sklearn.decomposition import PCA

        if feats.shape[0] < 3:
            return None
        x = np.nan_to_num(feats - feats.mean(0))
        xy = PCA(2, random_state=0).fit_transform(x).astype(np.float32) if x.shape[1] >= 2 else np.c_[x, np.zeros(len(x))]
        if project is None and method != "pca":
            note = "PCA (the UMAP module is not installed yet)"
    return {"xy": xy, "labels": labels, "epoch": epoch, "method": used, "note": note}
