"""The factor probe: which ground-truth factors of `shapes` can be read *linearly* from an embedding?

"Augmentations choose invariances" made measurable. For every factor the `shapes` generator
recorded (see sslviz/data/shapes.py) a linear read-out is fitted on part of the embedded test
images and scored on the rest (5-fold cross-validation, mean ± std over the folds):

  shape        the class: accuracy of a linear least-squares classifier on the one-hot class
               (like scikit-learn's RidgeClassifier); chance is the largest class's share (1/8).
  colour       the shape's hue, a circular factor: the probe predicts (cos 2πh, sin 2πh), so a hue
               of 0.99 is close to 0.01. Scored by R² over both coordinates together.
  size         the shape's radius. R².
  position     the shape's centre (x, y), predicted together. R² over both.
  rotation     circular AND symmetric: a square turned by 90° is the same image, so the angle θ
               only means something modulo 2π/k for a shape with k-fold symmetry. The probe
               predicts (cos kθ, sin kθ) with each shape's own k (square 4, triangle 3, star 5,
               cross 4, heart and crescent 1); circles and rings (no orientation at all) are left
               out. R².
  background   the background's brightness. R².

R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ)² on held-out points: 1 = read perfectly, 0 = no better than
predicting the average, below 0 = worse than that (overfitting noise). Accuracy and R² are
different scales, so the plot shows shape on its own panel with its chance line.

Choices, and why:
* Linear, ridge-regularised (scikit-learn's RidgeCV; the strength chosen per target by efficient
  leave-one-out inside each training fold): "linearly readable" is the usual meaning of a
  representation *containing* a factor, and a closed-form fit keeps the probe to a second or two.
* Features are standardised, and embeddings wider than 256 dimensions (raw pixels: 3,072) are
  first reduced to their top 256 principal components. PCA never sees the factors, so no answer
  leaks; without it the pixel probe costs ten times more for the same picture.
* The same images, folds and read-out for every source (the run, raw pixels, the untrained
  network), so the bars are comparable: the lesson is the *difference* between them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from sslviz.core.errors import SslvizError

FACTORS = ("shape", "colour", "size", "position", "rotation", "background")
# rotational symmetry order of each shape (0: no orientation at all, left out of the rotation probe)
SYMMETRY = {"circle": 0, "ring": 0, "square": 4, "triangle": 3, "star": 5, "cross": 4, "heart": 1, "crescent": 1}
FACTOR_NOTES = {
    "shape": "which of the 8 shapes (the label)",
    "colour": "the shape's hue, on the colour circle",
    "size": "the shape's radius",
    "position": "where the shape's centre is (x and y)",
    "rotation": "the shape's orientation, modulo its symmetry (circles and rings left out)",
    "background": "how bright the background is",
}
MAX_DIMS = 256
ALPHAS = np.logspace(-2, 4, 9)


class ProbeError(SslvizError):
    """The factor probe cannot run on this embedding (no factors, too few points)."""


@dataclass
class FactorScore:
    factor: str
    metric: str  # "accuracy" or "R²"
    score: float  # mean over folds
    std: float  # std over folds
    chance: float  # accuracy of always guessing the largest class; 0 for R²
    n: int  # points probed

    def to_dict(self) -> dict:
        return asdict(self)


def factor_targets(factors: dict[str, np.ndarray], class_names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """factor -> (target matrix n_kept × k, boolean mask of the points kept) from shapes' raw factors."""
    need = {"shape", "colour", "size", "x", "y", "rotation", "background"}
    missing = sorted(need - set(factors))
    if missing:
        raise ProbeError(f"factor probe: this dataset records no {', '.join(missing)} (only `shapes` has factors)")
    shape = np.asarray(factors["shape"], dtype=np.int64)
    n = len(shape)
    everyone = np.ones(n, bool)
    k = len(class_names) if class_names else int(shape.max()) + 1
    onehot = np.eye(k)[shape]
    hue = 2 * math.pi * np.asarray(factors["colour"], dtype=np.float64)
    order = np.array([SYMMETRY.get(class_names[s] if class_names else "", 1) for s in range(k)])[shape]
    theta = np.asarray(factors["rotation"], dtype=np.float64) * order
    oriented = order > 0
    return {
        "shape": (onehot, everyone),
        "colour": (np.stack([np.cos(hue), np.sin(hue)], 1), everyone),
        "size": (np.asarray(factors["size"], dtype=np.float64)[:, None], everyone),
        "position": (np.stack([factors["x"], factors["y"]], 1).astype(np.float64), everyone),
        "rotation": (np.stack([np.cos(theta), np.sin(theta)], 1)[oriented], oriented),
        "background": (np.asarray(factors["background"], dtype=np.float64)[:, None], everyone),
    }


def reduce_features(features: np.ndarray, max_dims: int = MAX_DIMS, seed: int = 0) -> np.ndarray:
    """Top principal components when wider than max_dims (unsupervised: never sees the factors)."""
    x = np.asarray(features, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ProbeError("factor probe: the embedding contains NaN or infinite values")
    if x.shape[1] <= max_dims:
        return x
    from .umap_fast import prepare_features  # the embeddings' one PCA (the PCA view, UMAP's start)

    return prepare_features(x, metric="euclidean", pca_variance=1.0, max_dims=max_dims, seed=seed)[0][:, :max_dims]


def _folds(n: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold

    return list(KFold(folds, shuffle=True, random_state=seed).split(np.arange(n)))


def _fit_predict(x_train, y_train, x_test):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS, alpha_per_target=True))
    return model.fit(x_train, y_train).predict(x_test).reshape(len(x_test), -1)


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """R² over all columns together: 1 - SSE / SST (each column centred on its own mean)."""
    y, pred = y.reshape(len(y), -1), pred.reshape(len(pred), -1)
    sst = ((y - y.mean(0)) ** 2).sum()
    return float(1 - ((y - pred) ** 2).sum() / sst) if sst > 0 else 0.0


def probe(features: np.ndarray, factors: dict[str, np.ndarray], class_names: list[str],
          folds: int = 5, seed: int = 0) -> list[FactorScore]:
    """Cross-validated linear read-out of every factor (see the module docstring), in FACTORS order."""
    x = reduce_features(features, seed=seed)
    if len(x) < 10 * folds:
        raise ProbeError(f"factor probe: {len(x)} points are too few for {folds}-fold cross-validation "
                         f"(need {10 * folds})")
    targets = factor_targets(factors, class_names)
    shape = np.asarray(factors["shape"], dtype=np.int64)
    chance = float(np.bincount(shape).max() / len(shape))
    scores: dict[str, list[float]] = {f: [] for f in FACTORS}
    # One multi-output fit per fold for the factors every point has (the costly part is shared) ...
    common = [f for f in FACTORS if f != "rotation"]
    y_all = np.concatenate([targets[f][0] for f in common], 1)
    widths = np.cumsum([0] + [targets[f][0].shape[1] for f in common])
    for train, test in _folds(len(x), folds, seed):
        pred = _fit_predict(x[train], y_all[train], x[test])
        for i, f in enumerate(common):
            p, y = pred[:, widths[i]:widths[i + 1]], y_all[test, widths[i]:widths[i + 1]]
            scores[f].append(float((p.argmax(1) == y.argmax(1)).mean()) if f == "shape" else r2(y, p))
    # ... and one for rotation, on the shapes that have an orientation.
    y_rot, kept = targets["rotation"]
    x_rot = x[kept]
    if len(x_rot) >= 10 * folds:
        for train, test in _folds(len(x_rot), folds, seed):
            scores["rotation"].append(r2(y_rot[test], _fit_predict(x_rot[train], y_rot[train], x_rot[test])))
    out = []
    for f in FACTORS:
        values = scores[f] or [float("nan")]
        out.append(FactorScore(
            factor=f, metric="accuracy" if f == "shape" else "R²", score=float(np.mean(values)),
            std=float(np.std(values)), chance=chance if f == "shape" else 0.0,
            n=int(kept.sum()) if f == "rotation" else len(x)))
    return out


def describe(run: list[FactorScore], baseline: list[FactorScore], margin: float = 0.1) -> dict[str, list[str]]:
    """Which factors training made easier / harder to read than in the baseline (by more than `margin`,
    on the accuracy / R² scale), for a one-line summary under the chart."""
    base = {s.factor: s for s in baseline}
    out: dict[str, list[str]] = {"kept": [], "forgotten": [], "gained": [], "unchanged": []}
    for s in run:
        b = base.get(s.factor)
        if b is None or not (math.isfinite(s.score) and math.isfinite(b.score)):
            continue
        if s.score < b.score - margin:
            out["forgotten"].append(s.factor)
        elif s.score > b.score + margin:
            out["gained"].append(s.factor)
        else:
            out["unchanged"].append(s.factor)
    return out


def summary_sentence(changes: dict[str, list[str]], baseline_name: str = "the untrained network") -> str:
    """'Compared with the untrained network, training made colour and position harder to read, ...'"""
    def names(fs: list[str]) -> str:
        return fs[0] if len(fs) == 1 else ", ".join(fs[:-1]) + " and " + fs[-1]

    parts = []
    if changes["forgotten"]:
        parts.append(f"made **{names(changes['forgotten'])}** harder to read (the embedding forgot them)")
    if changes["gained"]:
        parts.append(f"made **{names(changes['gained'])}** easier to read")
    if not parts:
        return f"Compared with {baseline_name}, training changed no factor's readability by much."
    tail = f"; {names(changes['unchanged'])} stayed about the same" if changes["unchanged"] else ""
    return f"Compared with {baseline_name}, training " + " and ".join(parts) + tail + "."


# ---- a run's probe, with its baselines, cached in the run directory ----------------------------

PROBE_VERSION = 1
SOURCES = ("run", "random-init", "pixels")


def _cache_file(run_dir, source: str, epoch: int | None):
    from pathlib import Path

    tag = "pixels" if source == "pixels" else ("0000" if source == "random-init" else f"{int(epoch):04d}")
    return Path(run_dir) / f"probe_{source}_{tag}.json"


def probe_source(store, run_id: str, source: str = "run", epoch: int | None = None) -> list[FactorScore]:
    """The probe of one embedding of a run (source: run at `epoch` (default the last), pixels or
    random-init), computed once and kept in the run directory."""
    import hashlib
    import json

    from sslviz.core.files import atomic_write_text

    from .embedding import factors_for, load_embedding

    emb = load_embedding(store, run_id, source, epoch)
    factors = factors_for(emb)
    if not factors:
        raise ProbeError(f"factor probe: {emb.config.get('dataset', 'this dataset')} records no factors of "
                         "variation; train on `shapes` to probe shape, colour, size, position and rotation")
    key = hashlib.sha1(np.ascontiguousarray(emb.index).tobytes()).hexdigest()[:16]
    path = _cache_file(store.run_dir(run_id), source, emb.epoch)
    try:
        cached = json.loads(path.read_text())
        if cached.get("version") == PROBE_VERSION and cached.get("index") == key:
            return [FactorScore(**s) for s in cached["scores"]]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    scores = probe(emb.features, factors, emb.class_names)
    try:
        atomic_write_text(path, json.dumps({"version": PROBE_VERSION, "index": key,
                                            "scores": [s.to_dict() for s in scores]}))
    except OSError:
        pass  # a read-only store: the probe is still shown, just not kept
    return scores


def probe_run(store, run_id: str, epoch: int | None = None) -> dict[str, list[FactorScore]]:
    """The run's probe beside the untrained network's and the raw pixels' (same images, same folds)."""
    return {source: probe_source(store, run_id, source, epoch) for source in SOURCES}


def probe_run_in(root: str, run_id: str, epoch: int | None = None) -> dict[str, list[FactorScore]]:
    """probe_run on the run store at `root` (picklable arguments: for sslviz.core.compute_pool)."""
    from sslviz.training.runs import RunStore

    return probe_run(RunStore(root), run_id, epoch)
