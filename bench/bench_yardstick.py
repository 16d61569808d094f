"""Time to accuracy against the yardstick, side by side: sslviz with no flags vs the plain SimCLR loop.

    python -m sslviz bench yardstick --folder PATH [--seconds 90] [--rounds 1] [--also "FLAGS"]... [--json]

Each round runs, in fresh processes one after the other on the same images, (1) the plain loop of
bench/plain_simclr.py for SECONDS (its per-epoch kNN counted in the budget on greyscale, as the
issue defines it; training only on colour) and (2) `python -m sslviz train --dataset folder:PATH
--time-budget SECONDS --json`, nothing else. It prints both kNN accuracies (the same monitor: weighted
cosine kNN, k=20, a 5,000-image bank, 2,000 test images) and, from sslviz's own curve, the seconds
it took to reach the plain loop's final accuracy (the goal: half the budget). Each `--also "FLAGS"`
adds one more sslviz run to every round with those train flags (say `--also "--image-size 32"`), so
a lever for the goal is measured side by side with the defaults, not against an older table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], env: dict) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=7200)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}...: failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _seconds_to(summary: dict, target: float) -> float | None:
    """Seconds into a run (its kNN curve) at which it first reached target, or None."""
    return next((t for t, acc in summary.get("curve") or [] if acc >= target), None)


def _when(t: float | None) -> str:
    return "never" if t is None else f"after {t:.1f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sslviz bench yardstick")
    ap.add_argument("--folder", required=True)
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--also", action="append", default=[], metavar="FLAGS",
                    help="extra `sslviz train` flags for one more run per round (repeatable)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    variants = {"": []}  # flags as given -> their argv; "" is the no-flags run the bar is about
    for flags in args.also:
        try:
            variants[flags] = shlex.split(flags)
        except ValueError as e:
            raise SystemExit(f"--also {flags!r}: {e}") from None
    folder = str(Path(args.folder).expanduser().resolve())
    rows = []
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PYTHONPATH=str(ROOT), SSLVIZ_HOME=home, SSLVIZ_DATA_ROOTS=folder)
        for r in range(args.rounds):
            from sslviz.data import load_dataset

            grey = load_dataset(f"folder:{folder}", cache_dir=os.path.join(home, "cache")).channels == 1
            plain = _run([sys.executable, "bench/plain_simclr.py", "--dataset", f"folder:{folder}",
                          "--seconds", str(args.seconds), "--budget-counts", "all" if grey else "train", "--json"], env)
            runs = {flags: _run([sys.executable, "-m", "sslviz", "train", "--dataset", f"folder:{folder}",
                                 "--time-budget", str(args.seconds), *argv, "--json"], env)
                    for flags, argv in variants.items()}
            ours = runs[""]
            reach = _seconds_to(ours, plain["knn_accuracy"])
            rows.append({"round": r, "plain_knn": plain["knn_accuracy"], "plain_epochs": plain["epochs"],
                         "plain_images_per_second": plain["images_per_second"],
                         "sslviz_knn": ours.get("knn_accuracy"), "sslviz_epochs": ours.get("epochs"),
                         "sslviz_images_per_second": ours.get("images_per_second"),
                         "sslviz_seconds_to_plain_knn": reach, "recipe": ours.get("recipe"),
                         "also": [{"flags": f, "knn": o.get("knn_accuracy"), "epochs": o.get("epochs"),
                                   "images_per_second": o.get("images_per_second"),
                                   "seconds_to_plain_knn": _seconds_to(o, plain["knn_accuracy"])}
                                  for f, o in runs.items() if f]})
            r_ = rows[-1]
            print(f"round {r}: plain loop kNN {r_['plain_knn']:.4f} ({r_['plain_epochs']} epochs, "
                  f"{r_['plain_images_per_second']:.0f} img/s); sslviz kNN {r_['sslviz_knn']:.4f} "
                  f"({r_['sslviz_epochs']} epochs, {r_['sslviz_images_per_second']:.0f} img/s); sslviz reached the "
                  f"plain loop's kNN {_when(reach)} (budget {args.seconds:.0f} s)", flush=True)
            for a in r_["also"]:
                print(f"round {r}: sslviz {a['flags']}: kNN {a['knn']:.4f} ({a['epochs']} epochs, "
                      f"{a['images_per_second']:.0f} img/s); reached the plain loop's kNN "
                      f"{_when(a['seconds_to_plain_knn'])}", flush=True)
    out = {"benchmark": "yardstick", "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(),
           "cpus": os.cpu_count(), "seconds": args.seconds, "folder": folder, "rounds": rows}
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
