"""The measured search behind sslviz/training/recipes.py: train variants of a recipe, print one JSON line each.

    python bench/recipe_search.py --dataset mnist-10k --method simclr --epochs 3 \
        --grid '{"method_params.temperature": [0.1, 0.2, 0.5], "lr": [1e-3, 2e-3]}' [--base '{...}']

Variants are scored on a validation split: a stratified fifth of the training images held out, the
run trained on the other four fifths (RunConfig holdout="validation"), so the test images that
BENCHMARKS.md and the zoo report are never seen by the choice. --holdout test scores on the test
split instead, for comparing with older searches only.

Each variant is the method's current recipe for the data (sslviz.training.recipes.resolve) with the named
fields replaced ("method_params.NAME" and "pipeline.NAME" reach inside). Variants are compared
at a fixed number of epochs, so the accuracy does not depend on what else the machine is doing;
images/s is printed too, for the time-budget view (measure it on a quiet machine). The winners
and their figures are copied by hand into the table in sslviz/training/recipes.py, with the date.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def apply(config: dict, key: str, value) -> None:
    if "." in key:
        outer, inner = key.split(".", 1)
        config[outer] = dict(config.get(outer) or {})
        if outer == "pipeline" and not config[outer]:
            raise SystemExit("pipeline.* needs a resolved pipeline")
        config[outer][inner] = value
    else:
        config[key] = value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="recipe_search")
    ap.add_argument("--dataset", default="mnist-10k")
    ap.add_argument("--method", default="simclr")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=None, help="a time budget instead of epochs")
    ap.add_argument("--grid", default="{}")
    ap.add_argument("--base", default="{}", help="fields set on every variant")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--holdout", choices=("validation", "test"), default="validation",
                    help="what the variants are scored on (default: a validation split of the training images)")
    args = ap.parse_args(argv)
    from sslviz.training import train
    from sslviz.training.config import RunConfig
    from sslviz.training.recipes import resolve

    grid = json.loads(args.grid)
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg = {"method": args.method, "dataset": args.dataset, "epochs": args.epochs, "seed": seed,
                   "device": "cpu",
                   "holdout": args.holdout, **json.loads(args.base)}
            if args.seconds:
                cfg.update(time_budget=args.seconds, epochs=10_000)
            cfg = resolve(RunConfig.from_dict(cfg)).to_dict()
            for k, v in zip(keys, values):
                apply(cfg, k, v)
            with tempfile.TemporaryDirectory() as tmp:
                s = train.run(RunConfig.from_dict(cfg), Path(tmp))
            row = {"variant": dict(zip(keys, values)), "seed": seed, "holdout": args.holdout, **{k: s.get(k) for k in (
                "epochs", "seconds", "images_per_second", "knn_accuracy", "knn_pixels", "knn_random_init",
                "few_label_linear", "few_label_pixels", "few_label_random_init")}}
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
