"""Every method × dataset after a fixed CPU budget: kNN accuracy, images/s, peak memory.

    python -m sslviz bench methods [--json] [--markdown] [--budgets 60,180] [--datasets shapes,digits,mnist]
                                   [--methods all|simclr,byol,...] [--mnist-root DIR]

With --markdown, the table for BENCHMARKS.md is printed after the per-run lines (one table per
dataset and budget, the verdict column computed from the numbers, never typed by hand).

Each cell is one training run in a fresh subprocess (so peak memory, read from the kernel's
ru_maxrss of that process, is the method's own). The baselines (pixels, random-init, pca) are
rows of the same table. A method that loses to pixels says so in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, tempfile
from pathlib import Path
from sslviz import train
from sslviz.config import RunConfig
cfg = RunConfig.from_dict(json.loads(sys.argv[1]))
with tempfile.TemporaryDirectory() as tmp:
    s = train.run(cfg, Path(tmp))
s["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(s))
"""


def one(config: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(config)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=3600)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from sslviz.methods import list_methods

    ap = argparse.ArgumentParser(prog="python -m sslviz bench methods")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md tables")
    ap.add_argument("--budgets", default="60")
    ap.add_argument("--datasets", default="shapes")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--mnist-root", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    args = ap.parse_args(argv)
    methods = [m["name"] for m in list_methods()] if args.methods == "all" else args.methods.split(",")
    rows = []
    for dataset in args.datasets.split(","):
        extra = {"data_root": args.mnist_root} if dataset == "mnist" else {}
        if dataset == "mnist" and not Path(args.mnist_root).exists():
            print(f"note: {args.mnist_root} missing; mnist skipped", file=sys.stderr)
            continue
        for budget in [float(b) for b in args.budgets.split(",")]:
            for method in methods:
                cfg = dict(method=method, dataset=dataset, epochs=10_000, time_budget=budget, device="cpu", **extra)
                r = one(cfg)
                row = {"method": method, "dataset": dataset, "budget_s": budget,
                       **{k: r.get(k) for k in ("knn_accuracy", "knn_pixels", "knn_random_init", "images_per_second",
                                                "epochs", "collapse_std", "peak_memory_mb", "error")}}
                rows.append(row)
                knn = row["knn_accuracy"]
                print(f"{dataset:<8} {budget:>5.0f}s {method:<18} "
                      + (f"kNN {knn:.3f}  pixels {row['knn_pixels']:.3f}  untrained {row['knn_random_init']:.3f}  "
                         f"{row['images_per_second'] or 0:.0f} img/s  {row['peak_memory_mb']:.0f} MB"
                         if knn is not None else f"error: {row['error']}"), flush=True)
    out = {"benchmark": "methods", "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
           "cpus": os.cpu_count(), "results": rows}
    if args.markdown:
        print(markdown(rows, {m["name"]: m for m in list_methods()}))
    if args.json:
        print(json.dumps(out))
    return 0


def verdict(row: dict) -> str:
    """How a trained method stands against the two free baselines, in words."""
    knn, pixels, untrained = row["knn_accuracy"], row["knn_pixels"], row["knn_random_init"]
    if row["method"] in ("pixels", "pca", "random-init"):
        return "baseline"
    def against(other, name):
        if abs(knn - other) < 0.0005:
            return f"ties {name}"
        return f"beats {name}" if knn > other else f"**loses to {name}**"

    return f"{against(pixels, 'pixels')}, {against(untrained, 'untrained')}"


def markdown(rows: list[dict], info: dict) -> str:
    """One table per (dataset, budget): the rows as measured, best kNN first."""
    out = []
    for key in dict.fromkeys((r["dataset"], r["budget_s"]) for r in rows):
        group = [r for r in rows if (r["dataset"], r["budget_s"]) == key]
        ok = sorted((r for r in group if r["knn_accuracy"] is not None), key=lambda r: -r["knn_accuracy"])
        trained = [r for r in ok if r["method"] not in ("pixels", "pca")]
        first = trained[0] if trained else None
        out.append(f"\n**{key[0]}, {key[1]:.0f} s of CPU training per method**"
                   + (f" (raw pixels {first['knn_pixels']:.3f}, same backbone untrained "
                      f"{first['knn_random_init']:.3f})" if first else "") + "\n")
        out.append("| method | family | kNN | epochs | images/s | peak MB | collapse std | verdict |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in ok:
            out.append(f"| {r['method']} | {info.get(r['method'], {}).get('family', '')} | {r['knn_accuracy']:.3f} "
                       f"| {r['epochs'] or 0} | {r['images_per_second'] or 0:.0f} | {r['peak_memory_mb']:.0f} "
                       f"| {r['collapse_std'] if r['collapse_std'] is None else format(r['collapse_std'], '.3f')} "
                       f"| {verdict(r)} |")
        for r in group:
            if r["knn_accuracy"] is None:
                out.append(f"| {r['method']} | | error: {r['error']} | | | | | |")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
