"""Label-efficiency experiments: the config, the runner, and the results in the run store.

An experiment takes trained runs (and baselines), draws a few labelled images per class from the
training split (the same draws for every subject: sslviz/evaluation/fewshot_stats.py), fits a protocol
(sslviz/evaluation/protocols.py, sslviz/evaluation/finetune.py) and scores it on the held-out test split. Each
(subject, protocol, budget) is a cell, evaluated for every seed; a row of the results holds its
mean, sample std and 95% t-interval over seeds.

Storage: an experiment is a job of kind "eval" in the run store (its row has status, progress,
message; its folder holds config.json and results.json). results.json is rewritten atomically
after every finished cell, so the page can show curves while it runs, a cancelled or crashed
experiment keeps what it finished, and a resumed one skips it. Cells run cheap first (kNN and
linear for every subject before self-training, fine-tuning and the from-scratch baseline), so a
cancelled experiment usually has its main curves.

A cell whose seeds would all see the same labelled images (budget 'all', or a budget clipped to
every image of every class) is evaluated once for the deterministic protocols; its row says so.
No Streamlit here; the CLI face is sslviz/cli/eval_command.py.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sslviz.core.errors import ConfigError
from sslviz.evaluation.fewshot_stats import LABEL_BUDGETS, label_savings, mean_ci, parse_budgets

from .inputs import BASELINES, FEATURE_PROTOCOLS, SCRATCH, Inputs

PROTOCOLS = ("knn", "linear", "finetune", "self-training")
DETERMINISTIC = ("knn", "linear", "self-training")  # the same labelled set gives the same number
PROTOCOL_NOTES = {
    "knn": "weighted kNN on frozen features: cosine similarity, k = labels per class (≤ 20), votes exp(sim/0.07)",
    "linear": "logistic regression on standardised frozen features; C chosen by an inner validation split",
    "finetune": "the whole backbone + a linear head trained on the labelled images (short schedule, mild augmentations)",
    "self-training": "linear probe, then the most confident pseudo-labels of the unlabelled pool join in; a few rounds",
    SCRATCH: "the same backbone trained from random weights on the same labelled images (the fine-tune recipe)",
}
RESULTS_FILE = "results.json"
_ALIASES = {"selftraining": "self-training", "self": "self-training", "fine-tune": "finetune", "lin": "linear",
            "random": "random-init", "randominit": "random-init", "scratch": "supervised"}
STOP_CHECK_SECONDS = 1.0  # how often a running experiment asks the store whether it was cancelled
_COST = {"knn": 1.0, "linear": 3.0, "self-training": 12.0, "finetune": 40.0, SCRATCH: 40.0}  # for the progress bar


def _parse_list(name: str, values, allowed: tuple) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.replace(" ", "").split(",") if v]
    out = []
    for v in values:
        v = str(v).strip().lower().replace("_", "-")
        v = _ALIASES.get(v, v)
        if v not in allowed:
            raise ConfigError(f"{name}: unknown '{v}'; choose from {', '.join(allowed)}")
        if v not in out:
            out.append(v)
    return out


def _whole(name: str, v, low: int = 1, high: int | None = None) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < low or (high is not None and v > high):
        span = f"from {low} to {high}" if high is not None else f"≥ {low}"
        raise ConfigError(f"{name}: must be a whole number {span}, got {v!r}")


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
    pool_max: int = 20_000  # training images the labelled and unlabelled sets come from, at most
    test_max: int = 10_000  # test images scored, at most
    finetune_max_steps: int = 300
    self_training_rounds: int = 3
    device: str = "auto"
    name: str = ""
    owner: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentConfig":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
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
        if not self.protocols:
            raise ConfigError("protocol: choose at least one of " + ", ".join(PROTOCOLS))
        _whole("seeds", self.seeds, 1, 100)
        if not self.runs and not self.baselines:
            raise ConfigError("runs: choose at least one run (or a baseline)")
        if not self.runs and not self.dataset:
            raise ConfigError("dataset: a baselines-only experiment needs a dataset")
        for name in ("pool_max", "test_max", "finetune_max_steps", "self_training_rounds"):
            _whole(name, getattr(self, name))
        if self.data_seed is not None:
            _whole("data_seed", self.data_seed, 0)
        if not self.name:
            self.name = "label efficiency: " + ", ".join(self.runs + self.baselines)
        return self


# ---- the runner ---------------------------------------------------------------------------------


def _cells(inputs: Inputs) -> list[tuple]:
    """(subject, protocol, budget) in the order they run: cheap first, budget by budget."""
    cfg, cells = inputs.cfg, []
    order = [p for p in ("knn", "linear", "self-training") if p in cfg.protocols]
    order += (["finetune"] if "finetune" in cfg.protocols else []) + [SCRATCH]
    for protocol in order:
        for s in inputs.subjects:
            if protocol in s.protocols and s.skip_reason(protocol) is None:
                cells += [(s, protocol, b) for b in cfg.labels_per_class]
    return cells


class _Throttle:
    """should_stop asked at most every STOP_CHECK_SECONDS (it reads SQLite); once True, always True."""

    def __init__(self, fn):
        self.fn, self.every, self.last, self.value = fn, STOP_CHECK_SECONDS, -float("inf"), False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.value and now - self.last >= self.every:
            self.last, self.value = now, bool(self.fn())
        return self.value


def _evaluate(inputs: Inputs, subject, protocol: str, idx: np.ndarray, seed: int, linear_c: dict, stop) -> float:
    """One seed of one cell: the protocol's test accuracy with the labelled pool positions idx."""
    from sslviz.evaluation import protocols as evaluate
    from sslviz.evaluation.finetune import finetune_pipeline, train_classifier
    from sslviz.training.recipes import default_pipeline

    cfg, y = inputs.cfg, inputs.pool_y[idx]
    if protocol in FEATURE_PROTOCOLS:
        f = inputs.features(subject)
        if protocol == "knn":
            return evaluate.knn_protocol(f["pool"][idx], y, f["test"], inputs.test_y, inputs.num_classes)
        x = f["pool_std"][idx]
        sig = (subject.key, hashlib.sha1(idx.tobytes()).hexdigest())
        if sig not in linear_c:  # linear and self-training share the validated C of a draw
            linear_c[sig] = evaluate.choose_c(x, y, seed)[0]
        if protocol == "linear":
            return evaluate.linear_probe(x, y, f["test_std"], inputs.test_y, C=linear_c[sig], seed=seed)[0]
        rest = inputs.unlabelled(idx, seed, evaluate.SELF_TRAINING_POOL_MAX)
        return evaluate.self_training(x, y, f["pool_std"][rest], f["test_std"], inputs.test_y, inputs.num_classes,
                                      C=linear_c[sig], rounds=cfg.self_training_rounds, seed=seed, should_stop=stop)
    pool_x, test_x = inputs.images(subject.image_size)
    return train_classifier(inputs.backbone(subject), pool_x[idx], y, test_x, inputs.test_y, inputs.num_classes,
                            pipeline=finetune_pipeline(default_pipeline(cfg.dataset)), pretrained=protocol == "finetune", seed=seed,
                            max_steps=cfg.finetune_max_steps, device=inputs.device, should_stop=stop)


def _row(inputs: Inputs, subject, protocol: str, budget, values: list, seeds: int, seconds: float) -> dict:
    mean, std, ci = mean_ci(values)
    note = ""
    if protocol in DETERMINISTIC and len(values) == 1 and seeds > 1:
        std, ci = 0.0, 0.0
        note = "every seed draws the same labelled set, so one evaluation stands for all"
    return {
        "key": subject.key, "method": subject.method, "run_id": subject.run_id, "label": subject.label,
        "protocol": protocol, "labels_per_class": budget, "labels_per_class_effective": inputs.effective(budget),
        "labels_total": int(len(inputs.draw(budget, 0))), "mean": mean, "std": std, "ci95": ci,
        "n_seeds": len(values), "values": [float(v) for v in values], "seconds": round(seconds, 3), "note": note,
    }


def jsonable(obj):
    """Plain JSON types; NaN and infinities become null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _previous(path: Path | None, cfg: ExperimentConfig) -> tuple[dict, float]:
    """Finished rows of an earlier attempt at the same experiment, by cell, and its seconds."""
    if path is None or not path.exists():
        return {}, 0.0
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, 0.0
    if old.get("config") != jsonable(cfg.to_dict()):
        return {}, 0.0
    rows = {(r["key"], r["protocol"], str(r["labels_per_class"])): r for r in old.get("results", [])}
    return rows, float(old.get("seconds") or 0)


def run_experiment(cfg: ExperimentConfig | dict, store, out_dir: Path | None = None, report=None,
                   echo=None) -> dict:
    """Run (or continue) an experiment; returns the results (also written to out_dir/results.json).

    report: a trainer-style reporter (progress, should_stop) or None. echo: receives one line per
    finished cell (the CLI prints them on stderr).
    """
    from sslviz.core.files import atomic_write_text

    t_start = time.perf_counter()
    cfg = ExperimentConfig.from_dict(cfg.to_dict() if isinstance(cfg, ExperimentConfig) else dict(cfg))
    inputs = Inputs(cfg, store)
    path = Path(out_dir) / RESULTS_FILE if out_dir else None
    done, previous_seconds = _previous(path, cfg)
    cells = _cells(inputs)
    skipped = list(dict.fromkeys(r for s in inputs.subjects for p in cfg.protocols if p in s.protocols
                                 for r in [s.skip_reason(p)] if r and not (s.method == "random-init" and
                                                                           "supervised" in cfg.baselines)))
    if "pca" in cfg.baselines and {"linear", "self-training"} & set(cfg.protocols):
        skipped.append("PCA of pixels + linear: standardising whitens the components (each gets unit variance), "
                       "so with few labels noise directions weigh as much as the main ones; its kNN line is the "
                       "fairer PCA baseline")
    n_evals = {c: (1 if c[2] == "all" and c[1] in DETERMINISTIC else cfg.seeds) for c in cells}
    total = sum(_COST[c[1]] * n for c, n in n_evals.items()) or 1.0
    protocols = list(cfg.protocols) + ([SCRATCH] if "supervised" in cfg.baselines else [])
    results = {
        "version": 1, "kind": "label-efficiency", "config": jsonable(cfg.to_dict()), "status": "running",
        "dataset": cfg.dataset, "image_size": cfg.image_size, "num_classes": inputs.num_classes,
        "class_names": inputs.class_names, "pool_size": int(len(inputs.pool_idx)),
        "test_size": int(len(inputs.test_idx)), "device": str(inputs.device),
        "budgets": [{"labels_per_class": b, "effective": inputs.effective(b)} for b in cfg.labels_per_class],
        "subjects": [{"key": s.key, "method": s.method, "run_id": s.run_id, "label": s.label} for s in inputs.subjects],
        "protocol_notes": {p: PROTOCOL_NOTES[p] for p in protocols},
        "notes": inputs.notes + skipped, "results": [], "savings": [], "cells_total": len(cells), "cells_done": 0,
        "seconds": previous_seconds,
    }
    stop = _Throttle(report.should_stop if report is not None else (lambda: False))
    rows: list[dict] = []
    linear_c: dict = {}
    done_cost, last_progress, stopped = 0.0, 0.0, False

    def save(status: str) -> None:
        results.update(status=status, results=rows, savings=label_savings(rows), cells_done=len(rows),
                       seconds=round(previous_seconds + time.perf_counter() - t_start, 2))
        if path is not None:
            atomic_write_text(path, json.dumps(jsonable(results), indent=1))

    def progress(message: str, force: bool = False) -> None:
        nonlocal last_progress
        now = time.perf_counter()
        if report is None or (not force and now - last_progress < 0.5):
            return
        last_progress = now
        frac = done_cost / total
        eta = (now - t_start) / frac * (1 - frac) if frac > 0.02 else None
        report.progress(frac, eta, message)

    save("running")
    try:
        for cell in cells:
            subject, protocol, budget = cell
            if (subject.key, protocol, str(budget)) in done:
                rows.append(done[(subject.key, protocol, str(budget))])
                done_cost += _COST[protocol] * n_evals[cell]
                continue
            if stop():
                stopped = True
                break
            t0, where = time.perf_counter(), f"{subject.label} · {protocol} · {budget} per class"
            progress(where, force=True)
            values, seen = [], set()
            for seed in range(cfg.seeds):
                idx = inputs.draw(budget, seed)
                sig = hashlib.sha1(idx.tobytes()).hexdigest()
                if protocol in DETERMINISTIC and sig in seen:
                    done_cost += _COST[protocol] if n_evals[cell] > 1 else 0.0
                    continue  # the same labelled set again: the same number
                seen.add(sig)
                progress(f"{where}: seed {seed + 1}/{cfg.seeds}")
                acc = _evaluate(inputs, subject, protocol, idx, seed, linear_c, stop)
                if stop():
                    stopped = True
                    break
                values.append(acc)
                done_cost += _COST[protocol]
            if stopped:
                break  # a half-finished cell is dropped: its seeds would not be comparable
            row = _row(inputs, subject, protocol, budget, values, cfg.seeds, time.perf_counter() - t0)
            rows.append(row)
            save("running")
            progress(f"{where}: {row['mean']:.1%}", force=True)
            if echo is not None:
                ci = f" ± {row['ci95']:.1%}" if row["ci95"] else ""
                echo(f"[{done_cost / total:4.0%}] {where}: {row['mean']:.1%}{ci} ({row['n_seeds']} "
                     f"seed{'s' if row['n_seeds'] != 1 else ''}, {row['seconds']:.1f} s)")
    except BaseException:
        save("failed")
        raise
    if stopped:
        results["notes"].append(f"cancelled: {len(rows)} of {len(cells)} results finished and kept")
    save("cancelled" if stopped else "completed")
    if report is not None:
        report.progress(done_cost / total if stopped else 1.0, 0.0,
                        "cancelled: partial results kept" if stopped else "finished")
    return results


# ---- the job, and the results in the store -----------------------------------------------------


def run_job(config: dict, run_dir: Path, report) -> dict:
    """The worker's entry point for kind "eval": the experiment in run_dir (resumable)."""
    from sslviz.training.runs import RunStore

    run_dir = Path(run_dir)
    results = run_experiment(ExperimentConfig.from_dict(config), RunStore(run_dir.parent), run_dir, report)
    summary = {"results": RESULTS_FILE, "cells_done": results["cells_done"], "cells_total": results["cells_total"],
               "seconds": results["seconds"], "dataset": results["dataset"]}
    if results["status"] == "cancelled":
        summary["stopped_by"] = "user"
    return summary


def prepare(config: dict, store) -> tuple[dict, list[str]]:
    """Check an experiment against the store (runs exist and have checkpoints, one dataset with
    labels) and fill in what the runs imply; (the config to queue, notes). Raises SslvizError."""
    cfg = ExperimentConfig.from_dict(dict(config))
    inputs = Inputs(cfg, store)
    return cfg.to_dict(), inputs.notes


def submit(config: dict, store, start: bool = True) -> tuple[str, list[str]]:
    """Queue an experiment for the background worker (kind "eval"); (its id, notes)."""
    from sslviz.training import worker

    cfg, notes = prepare(config, store)
    return worker.submit_job("eval", cfg, store, start), notes


def load_results(store, experiment_id: str) -> dict | None:
    """The stored results of an experiment (partial while it runs), or None before it starts."""
    try:
        return json.loads((store.run_dir(experiment_id) / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return None


def results_version(store, experiment_id: str) -> tuple:
    """A cheap fingerprint (results file time and size): redraw only when it changed."""
    try:
        st = (store.run_dir(experiment_id) / RESULTS_FILE).stat()
        return st.st_mtime_ns, st.st_size
    except OSError:
        return 0, 0


def experiments(store, run_ids: list[str] | None = None) -> list[dict]:
    """Eval jobs, newest first; with run_ids, only those that evaluate at least one of them."""
    jobs = store.list(kind="eval")
    if run_ids is None:
        return jobs
    return [j for j in jobs if set(j["config"].get("runs", [])) & set(run_ids)]


CSV_COLUMNS = ("method", "label", "run_id", "protocol", "labels_per_class", "labels_per_class_effective",
               "labels_total", "mean", "std", "ci95", "n_seeds", "values", "seconds", "note")


def results_csv(results: dict) -> str:
    """The results table as CSV text (one row per subject × protocol × labels per class)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in results.get("results", []):
        w.writerow([";".join(f"{v:.4f}" for v in r["values"]) if c == "values" else
                    ("" if r.get(c) is None else r.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


JSON_KEYS = ("method", "run_id", "protocol", "labels_per_class", "mean", "std", "ci95", "n_seeds")


def json_rows(results: dict) -> list[dict]:
    """The CLI's `results` rows: exactly method, run_id, protocol, labels_per_class, mean, std, ci95, n_seeds."""
    return [{k: r.get(k) for k in JSON_KEYS} for r in results.get("results", [])]
