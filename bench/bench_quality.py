"""Quality bar of the foundation issue: does SimCLR learn, on this CPU, within the budget?

    python -m sslviz bench quality [--json] [--mnist-root ../shared/data/mnist] [--shapes-seconds 60] [--mnist-seconds 90]

1. SimCLR on `shapes` for 60 s (the demo's settings) vs raw pixels and the same backbone untrained.
2. SimCLR on MNIST (the 10,000 test images in ../shared/data/mnist, split 8,000/2,000; benchmark
   only, skipped with a note when the folder is missing) for 90 s, target kNN ≥ 0.97.
kNN here is the trainer's own monitor: weighted cosine kNN, k=20, on the held-out split.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def train(config: dict) -> dict:
    from sslviz.training import train as trainer
    from sslviz.training.config import RunConfig

    with tempfile.TemporaryDirectory() as tmp:
        return trainer.run(RunConfig.from_dict(config), Path(tmp))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sslviz bench quality")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--mnist-root", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--shapes-seconds", type=float, default=60)
    ap.add_argument("--mnist-seconds", type=float, default=90)
    args = ap.parse_args(argv)
    from sslviz.ui.run_views import DEMO

    rows = []
    demo = {k: v for k, v in DEMO.items() if k != "name"}
    demo.update(time_budget=args.shapes_seconds, epochs=10_000, device="cpu")
    rows.append({"case": f"simclr shapes {args.shapes_seconds:.0f}s (demo settings)", **train(demo)})
    if Path(args.mnist_root).exists():
        # 28 px is MNIST's own size: the 32 px default upsamples it and costs 30% more per image
        for backbone, size in (("small-cnn", 32), ("small-cnn-grid", 32), ("small-cnn-grid", 28)):
            cfg = dict(method="simclr", dataset="mnist", data_root=args.mnist_root, time_budget=args.mnist_seconds,
                       epochs=10_000, batch_size=128, device="cpu", backbone=backbone, image_size=size)
            rows.append({"case": f"simclr mnist {args.mnist_seconds:.0f}s {backbone} {size}px", **train(cfg)})
    else:
        print(f"note: {args.mnist_root} not found; MNIST case skipped", file=sys.stderr)
    keep = ("case", "epochs", "seconds", "images_per_second", "knn_accuracy", "knn_pixels", "knn_random_init")
    table = [{k: (round(r[k], 4) if isinstance(r.get(k), float) else r.get(k)) for k in keep} for r in rows]
    for r in table:
        print(f"{r['case']:<40} kNN {r['knn_accuracy']:.3f}  pixels {r['knn_pixels']:.3f}  untrained "
              f"{r['knn_random_init']:.3f}  {r['epochs']} epochs  {r['images_per_second']:.0f} img/s")
    out = {"benchmark": "quality", "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), "results": table}
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
