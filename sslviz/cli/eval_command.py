"""`python -m sslviz eval ...`: a label-efficiency experiment in the foreground.

The experiment is registered in the run store like a background one (a job of kind "eval", with
its folder and results.json), so the Label Efficiency page shows it too. Progress goes to stderr
(one line per finished cell); stdout gets the table, or with --json one JSON object on the last
line: {"experiment_id", "status", "dataset", "results": [{method, run_id, protocol,
labels_per_class, mean, std, ci95, n_seeds}, ...], "savings", "notes", "seconds"}.

`--protocol papers` is another command in the same place: the named runs are scored by the papers'
protocol (sslviz/training/final_scores.py) and the figures stored in their summaries (`cli_papers`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from sslviz.core.errors import SslvizError
from sslviz.experiments.label_efficiency import (
    RESULTS_FILE,
    ExperimentConfig,
    json_rows,
    jsonable,
    prepare,
    run_experiment,
)


class _EchoReporter:
    """Progress and cancel through the store (so `sslviz cancel ID` works); a line on a terminal."""

    def __init__(self, store, run_id: str):
        from sslviz.training.worker import StoreReporter

        self.inner = StoreReporter(store, run_id)
        self.last = 0.0

    def should_stop(self) -> bool:
        return self.inner.should_stop()

    def progress(self, fraction, eta, message=""):
        self.inner.progress(fraction, eta, message)


def format_table(results: dict) -> str:
    """A plain-text table: one line per subject × protocol, one column per budget (mean ± ci95, %)."""
    budgets = [b["labels_per_class"] for b in results.get("budgets", [])]
    lines = [f"{'method':<28} {'protocol':<13} " + " ".join(f"{str(b):>14}" for b in budgets)]
    groups: dict = {}
    for r in results.get("results", []):
        groups.setdefault((r["label"], r["protocol"]), {})[str(r["labels_per_class"])] = r
    for (label, protocol), cells in groups.items():
        parts = []
        for b in budgets:
            r = cells.get(str(b))
            if r is None or r["mean"] is None:
                parts.append(f"{'-':>14}")
            else:
                ci = f" ± {r['ci95'] * 100:4.1f}" if r["ci95"] else " " * 7
                parts.append(f"{r['mean'] * 100:>7.1f}{ci}")
        lines.append(f"{label[:28]:<28} {protocol:<13} " + " ".join(parts))
    return "\n".join(lines)


def cli_eval(args) -> int:
    """`python -m sslviz eval --run ID[,ID...] ...`; exit 0, or 2 with one line for bad input."""
    from sslviz.core.processes import process_start_ticks
    from sslviz.training.runs import RunStore

    store = RunStore(getattr(args, "runs_dir", None))
    if [p.strip() for p in str(args.protocol).split(",") if p.strip()] == ["papers"]:
        return cli_papers(args, store)
    config = dict(runs=args.run or [], labels_per_class=args.labels_per_class, protocols=args.protocol,
                  seeds=args.seeds, baselines=args.baselines or [])
    if getattr(args, "device", None):
        config["device"] = args.device
    if getattr(args, "dataset", None):
        config["dataset"] = args.dataset
    cfg_dict, _ = prepare(config, store)  # fail fast: runs, checkpoints, labels; fills in the dataset
    cfg = ExperimentConfig.from_dict(cfg_dict)
    exp_id = store.create(cfg_dict, kind="eval", status="running")
    store.update(exp_id, started=time.time(), pid=os.getpid(), pid_start=process_start_ticks(os.getpid()),
                 host=socket.gethostname())
    print(f"experiment {exp_id}: {', '.join(cfg.runs + cfg.baselines)} on {cfg.dataset}", file=sys.stderr)
    try:
        results = run_experiment(cfg, store, store.run_dir(exp_id), _EchoReporter(store, exp_id),
                                 echo=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        store.update(exp_id, status="cancelled", ended=time.time(), message="interrupted: partial results kept")
        raise
    except SslvizError as exc:
        store.update(exp_id, status="failed", ended=time.time(), message=str(exc).splitlines()[0])
        raise
    except Exception as exc:
        import traceback

        store.update(exp_id, status="failed", ended=time.time(), error=traceback.format_exc(),
                     message=f"crashed: {type(exc).__name__}: {exc}".splitlines()[0][:300])
        raise
    cancelled = results["status"] == "cancelled"
    store.update(exp_id, status="cancelled" if cancelled else "completed", ended=time.time(), progress=1.0,
                 message="stopped by the user: partial results kept" if cancelled else "",
                 summary={"results": RESULTS_FILE, "cells_done": results["cells_done"],
                          "cells_total": results["cells_total"], "seconds": results["seconds"],
                          "dataset": results["dataset"]})
    for line in results["notes"]:
        print(f"note: {line}", file=sys.stderr)
    for s in results["savings"]:
        if s["run_id"] is not None:
            print(f"savings: {s['text']}", file=sys.stderr)
    if args.json:
        print(json.dumps(jsonable({"experiment_id": exp_id, "status": results["status"],
                                   "dataset": results["dataset"], "results": json_rows(results),
                                   "savings": results["savings"], "notes": results["notes"],
                                   "seconds": results["seconds"]})))
    else:
        print(format_table(results))
    return 0


def cli_papers(args, store) -> int:
    """`eval --run ID[,ID...] --protocol papers`: each run scored by the papers' protocol in the
    foreground (sslviz/training/final_scores.py), stored in its summary and printed beside the
    monitor's estimate; with --json one object on the last line: {"runs": [{"run_id",
    "knn_accuracy", "knn_estimate", "papers"}, ...]}."""
    from sslviz.core.errors import ConfigError
    from sslviz.training.final_scores import estimate_label, papers_line, score_stored_run

    if not args.run:
        raise ConfigError("--run: name the runs to score (--run ID[,ID...]); --protocol papers scores trained runs")
    if args.baselines:
        raise ConfigError("--baselines: --protocol papers scores raw pixels and the untrained network with every "
                          "run (under 'pixels' and 'random_init'); name runs only")
    rows = []
    for run_id in args.run:
        store.get(run_id)  # one line for a run that does not exist
        print(f"{run_id}: scoring with the papers' protocol", file=sys.stderr, flush=True)
        score_stored_run(store, run_id, args.device or "cpu")
        run = store.get(run_id)
        summary = run["summary"]
        rows.append({"run_id": run_id, "knn_accuracy": summary.get("knn_accuracy"),
                     "knn_estimate": estimate_label(summary, run["config"]), "papers": summary["papers"]})
        if not args.json:
            knn = summary.get("knn_accuracy")
            print(f"{run_id}: kNN {'-' if knn is None else f'{knn:.3f}'} ({rows[-1]['knn_estimate']})")
            print(f"  {papers_line(summary)}")
    if args.json:
        print(json.dumps(jsonable({"runs": rows})))
    return 0
