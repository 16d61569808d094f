"""Few-shot bookkeeping: label budgets, the labelled draws, statistics over seeds, label savings.

Pure numpy (and scipy's t distribution); no torch, no store, no Streamlit, so the pages and the
CLI can import it for nothing.

    draws       `stratified_draw(labels, per_class, seed)` is stratified, nested (for one seed the
                5-per-class set contains the 1-per-class set: one fixed permutation per class, cut
                at n) and a pure function of (labels, per_class, seed). Every method of an
                experiment gets exactly the same labelled images, so differences between methods
                are paired. The permutation of a class depends only on (seed, class), so adding
                a class to a dataset changes no other class's draw.
    clipping    a budget above what a class has gives all of that class, and `clip_notes` says so
                in one line per budget (the experiment keeps running).
    statistics  `mean_ci`: mean, sample standard deviation and the half-width of the Student-t
                95% interval over seeds (5 seeds: t = 2.776, not the normal 1.96; with so few
                seeds the normal interval would be too narrow by 30%).
    savings     `label_savings`: how many labels per class the supervised-from-scratch baseline
                needs to reach what a method reaches with N, read off the supervised curve by
                log-linear interpolation between measured budgets; '>' when it never gets there
                within the budgets measured, '<=' when it is already there at its smallest.
"""

from __future__ import annotations

import math

import numpy as np

from sslviz.core.errors import ConfigError

LABEL_BUDGETS = (1, 2, 5, 10, 20, 50, 100, "all")
# "Beats" means by more than LEVEL (accuracy, 0-1); within it, two figures are "level with" each other. Measured
# on the shipped experiment (experiment-shapes.json, 2026-12-07): the linear probe at 10 labels per class varies
# between labelled draws by a median std of 0.029 over its 22 subjects, so a mean of the monitor's 3 draws moves
# by about 0.017. The spread across training seeds is not in it (issue 25, point 3: not yet measured).
LEVEL = 0.02


def parse_budgets(values) -> list:
    """'1,2,5,all' or [1, '2', 'all'] -> [1, 2, 5, 'all'] (sorted, unique, 'all' last)."""
    if isinstance(values, (str, int)):
        values = [v for v in str(values).replace(" ", "").split(",") if v]
    out: set = set()
    for v in values:
        if isinstance(v, str) and v.strip().lower() == "all":
            out.add("all")
            continue
        try:
            if isinstance(v, bool):
                raise ValueError
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
    return sorted(v for v in out if v != "all") + (["all"] if "all" in out else [])


def stratified_draw(labels: np.ndarray, per_class, seed: int) -> np.ndarray:
    """Indices of `per_class` labelled items of each class ('all': every labelled item), sorted.

    Labels < 0 (unknown) are never drawn. A class with fewer items gives all it has.
    """
    labels = np.asarray(labels)
    if per_class == "all":
        return np.flatnonzero(labels >= 0).astype(np.int64)
    picks = []
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        rng = np.random.default_rng([int(seed), int(c)])
        picks.append(members[rng.permutation(len(members))[: int(per_class)]])
    return np.sort(np.concatenate(picks)).astype(np.int64) if picks else np.zeros(0, np.int64)


def effective_per_class(labels: np.ndarray, per_class) -> float:
    """The mean number of labelled images per class a budget really gives (clipping included)."""
    labels = np.asarray(labels)
    _, counts = np.unique(labels[labels >= 0], return_counts=True)
    if len(counts) == 0:
        return 0.0
    take = counts if per_class == "all" else np.minimum(counts, int(per_class))
    return float(take.mean())


def clip_notes(labels: np.ndarray, budgets: list, class_names: list[str] | None = None) -> list[str]:
    """One note per budget that asks a class for more labelled images than it has."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels[labels >= 0], return_counts=True)
    notes = []
    for b in budgets:
        if b == "all":
            continue
        short = [(int(c), int(n)) for c, n in zip(classes, counts) if n < b]
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


def _supervised_curve(rows: list[dict]) -> list[tuple[float, float]]:
    return sorted(((r["labels_per_class_effective"], r["mean"]) for r in rows
                   if r["method"] == "supervised" and r["run_id"] is None and r["mean"] is not None
                   and np.isfinite(r["mean"]) and r["labels_per_class_effective"]), key=lambda p: p[0])


def supervised_labels_needed(curve: list[tuple[float, float]], accuracy: float) -> tuple[float, str] | None:
    """(labels per class, bound) the supervised curve needs to reach `accuracy`; None without a curve.

    bound: '=' interpolated (log-linear in labels between the two budgets that bracket it), '>'
    never reached (the value is the largest budget measured), '<=' already reached at the smallest.
    """
    if not curve:
        return None
    if curve[0][1] >= accuracy:
        return curve[0][0], "<="
    if max(y for _, y in curve) < accuracy:
        return max(x for x, _ in curve), ">"
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if y0 < accuracy <= y1:
            t = (accuracy - y0) / (y1 - y0)
            return float(math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))), "="
    return None  # unreachable: the curve starts below and reaches the accuracy somewhere


def label_savings(rows: list[dict]) -> list[dict]:
    """For each row that is not the supervised baseline: the labels it saves against supervised.

    rows: result rows with method, run_id, label, key, protocol, labels_per_class,
    labels_per_class_effective and mean. ratio = supervised labels needed / labels the row used
    (a lower bound where bound is '>', an upper bound where it is '<=').
    """
    curve = _supervised_curve(rows)
    out = []
    for r in rows:
        if not curve or (r["method"] == "supervised" and r["run_id"] is None):
            continue
        n, acc = r["labels_per_class_effective"], r["mean"]
        if acc is None or not np.isfinite(acc) or not n:
            continue
        needed, bound = supervised_labels_needed(curve, acc)
        ratio = needed / n
        lpc = r["labels_per_class"]
        where = (f"{r['label']} + {r['protocol']} at {lpc} label{'s' if lpc != 1 else ''} per class "
                 f"({acc:.1%})")
        if bound == "=":
            text = (f"{where}: supervised from scratch needs about {needed:.3g} per class to match: "
                    + (f"{ratio:.3g}× as many labels" if ratio > 1.05 else "no saving here"))
        elif bound == ">":
            text = (f"{where}: supervised from scratch never matched it, even with {needed:.3g} per class"
                    + (f" (more than {ratio:.3g}× as many labels)" if ratio > 1.05 else ""))
        else:
            text = f"{where}: supervised from scratch already matches it with {needed:.3g} per class: no saving"
        out.append(dict(method=r["method"], run_id=r["run_id"], label=r["label"], key=r.get("key"),
                        protocol=r["protocol"], labels_per_class=lpc, labels_per_class_effective=n, accuracy=acc,
                        supervised_labels_per_class=needed, bound=bound, ratio=ratio, text=text))
    return out
