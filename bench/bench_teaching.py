"""`python -m sslviz bench teaching`: how long one live update of the teaching pages takes.

The Augmentations page redraws its grid on every control change: draw 8 images × 4 views with
the trainer's augmentation engine, lay them out in one picture with labels, encode it as PNG (what
Streamlit sends to the browser). The target is ≤ 300 ms per update on a laptop CPU. Also timed:
each pretext-task example of the Pretext page with an (untrained) method's answers, which is
what that page recomputes when the images change.

    python -m sslviz bench teaching            # 30 timed updates after a warm-up
    python -m sslviz bench teaching --quick    # 5 updates: checks that it runs
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time

import torch


def _time(fn, reps: int) -> list[float]:
    fn()  # warm-up (numba kernel from its cache, first allocations)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 1), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
            "max_ms": round(ms[-1], 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sslviz bench teaching")
    ap.add_argument("--quick", action="store_true", help="5 repetitions instead of 30")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv or [])
    reps = 5 if args.quick else 30

    from PIL import Image

    from sslviz.augment.engine import backend_for, warmup
    from sslviz.data import load_dataset
    from sslviz.plots.teaching import augmentation_grid
    from sslviz.teaching import answers
    from sslviz.training.config import RunConfig
    from sslviz.training.recipes import default_pipeline
    from sslviz.training.train import build_method

    warmup()
    data = load_dataset("shapes", image_size=32, seed=0)
    images = data.train.images[:8]
    pipeline = default_pipeline("shapes")
    seed = [0]

    def update():  # one slider move: new parameters for one op, same draws
        seed[0] += 1
        grid = augmentation_grid(images, (pipeline, pipeline), views=4, seed=seed[0], scale=3)
        Image.fromarray(grid).save(io.BytesIO(), format="PNG")

    result = {"benchmark": "teaching", "date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
              "augment_backend": backend_for("cpu"), "grid": "8 images x 4 views, shapes 32 px, shown at 96 px, PNG",
              "augmentation_update": _summary(_time(update, reps)), "target_ms": 300}
    result["augmentation_update_within_target"] = result["augmentation_update"]["p90_ms"] <= 300

    tasks = {}
    test = data.test.images[:6]
    for task, method_name in answers.tasks().items():
        torch.manual_seed(0)
        cfg = RunConfig(method=method_name, dataset="shapes", device="cpu")
        method = build_method(cfg, data, torch.device("cpu")).eval()
        method.generator = torch.Generator().manual_seed(0)
        if task == "contrastive":
            def fn(m=method):
                answers.contrastive(test, method=m)
        else:
            def fn(m=method, t=task):
                answers.example(t, test, m)
        tasks[task] = _summary(_time(fn, max(3, reps // 3)))["median_ms"]
    result["pretext_example_with_answers_median_ms"] = tasks

    print(f"augmentation update (8 images x 4 views): median {result['augmentation_update']['median_ms']} ms, "
          f"p90 {result['augmentation_update']['p90_ms']} ms (target <= 300 ms)")
    for task, ms in tasks.items():
        print(f"  pretext example + answers, {task:<18} {ms:>7} ms")
    if args.json:
        print(json.dumps(result))
    return 0
