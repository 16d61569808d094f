"""Label-efficiency benchmarks of issue 5.

    python -m sslviz bench labeleff [--json] [--part speed|mnist|both] [--mnist-root ../shared/data/mnist]
                                    [--seconds 180] [--seeds 5] [--backbone small-cnn] [--quick]

speed  (target: ≤ 15 s on the 2-core development machine) the kNN and linear protocols over 8 label
       budgets (1, 2, 5, 10, 20, 50, 100, all) × 5 seeds on 10,000 embeddings: the MNIST images in
       --mnist-root (its 10,000 test images, split 8,000 pool / 2,000 test by the loader) embedded by
       an untrained small-cnn, or, without the folder, synthetic 10,000 × 256 features (10 Gaussian
       classes). Timed: exactly what an experiment does per budget and seed (the stratified draw,
       the weighted kNN vote with k = labels per class, the inner validation of C and the final
       logistic-regression fit, both scored on the 2,000 test points; a seed that draws the same
       labelled set as an earlier one, as 'all' does, is not refitted). Feature extraction is not
       timed (an experiment caches features per checkpoint).
mnist  (issue 5 point 5) SimCLR trained for --seconds (≤ 180) on MNIST, then a label-efficiency
       experiment through the app's own runner: linear probe at 1, 5 and 10 labels per class, 5 seeds,
       against raw pixels, the same backbone untrained (random-init) and supervised training from
       scratch on the same labels. Target: linear probe ≥ 90% at 10 labels per class, clearly above
       the three baselines at 1, 5 and 10. Prints the table, whatever the numbers are.

--quick proves the script works in about a minute: 20 s of SimCLR, 2 seeds, a short from-scratch
schedule (the speed part is unchanged: it is the measurement).
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

BUDGETS = (1, 2, 5, 10, 20, 50, 100, "all")


def speed_features(mnist_root: str | None, device: str):
    """(pool features, pool labels, test features, test labels, source) for the speed part."""
    import numpy as np

    if mnist_root and Path(mnist_root).exists():
        import torch

        from sslviz.data import load_dataset
        from sslviz.evaluation.protocols import extract_features
        from sslviz.methods.models import build_backbone, pick_device

        data = load_dataset("mnist", image_size=32, data_root=mnist_root, seed=0)
        torch.manual_seed(0)
        dev = pick_device(device)
        net = build_backbone("small-cnn", data.channels).to(dev, memory_format=torch.channels_last).eval()
        pool = extract_features(net, data.train.images, dev).numpy()
        test = extract_features(net, data.test.images, dev).numpy()
        return pool, data.train.labels.numpy(), test, data.test.labels.numpy(), \
            f"MNIST {len(pool) + len(test):,} images, untrained small-cnn (256-d)"
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 10_000)
    centres = rng.normal(size=(10, 256)).astype(np.float32)
    x = (centres[y] * 0.5 + rng.normal(size=(10_000, 256))).astype(np.float32)
    from sslviz.data.split import stratified_split

    tr, te = stratified_split(y, 0.2, 0)
    return x[tr], y[tr], x[te], y[te], "synthetic 10,000 × 256 (10 Gaussian classes)"


def bench_speed(mnist_root: str | None, seeds: int = 5, device: str = "cpu") -> dict:
    import hashlib

    from sslviz.evaluation import protocols as evaluate
    from sslviz.evaluation.fewshot_stats import mean_ci, stratified_draw

    pool_f, pool_y, test_f, test_y, source = speed_features(mnist_root, device)
    t0 = time.perf_counter()
    pool_s, test_s = evaluate.standardise(pool_f, test_f)
    table, fits = {}, 0
    for budget in BUDGETS:
        knn, lin, seen = [], [], set()
        for seed in range(seeds):
            idx = stratified_draw(pool_y, budget, seed)
            sig = hashlib.sha1(idx.tobytes()).hexdigest()
            if sig in seen:
                continue
            seen.add(sig)
            knn.append(evaluate.knn_protocol(pool_f[idx], pool_y[idx], test_f, test_y, 10))
            C, _ = evaluate.choose_c(pool_s[idx], pool_y[idx], seed)
            lin.append(evaluate.linear_probe(pool_s[idx], pool_y[idx], test_s, test_y, C=C, seed=seed)[0])
            fits += 1
        table[str(budget)] = {"knn": mean_ci(knn)[0], "linear": mean_ci(lin)[0], "evaluations": len(knn)}
    seconds = time.perf_counter() - t0
    return {"part": "speed", "source": source, "pool": int(len(pool_y)), "test": int(len(test_y)),
            "budgets": len(BUDGETS), "seeds": seeds, "evaluations": fits, "seconds": round(seconds, 2),
            "target_seconds": 15.0, "met": seconds <= 15.0,
            "accuracy": {b: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                         for b, r in table.items()}}


def bench_mnist(mnist_root: str, seconds: float, seeds: int, backbone: str, device: str, quick: bool) -> dict:
    from sslviz.experiments.label_efficiency import run_experiment
    from sslviz.training import worker
    from sslviz.training.config import RunConfig
    from sslviz.training.runs import RunStore

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        cfg = RunConfig(method="simclr", dataset="mnist", data_root=mnist_root, time_budget=float(seconds),
                        epochs=10_000, batch_size=128, backbone=backbone, device=device)
        run_id = store.create(cfg.to_dict(), status="running")
        trained = worker.execute(store, run_id, chain=False)
        if trained["status"] != "completed":
            raise SystemExit(f"SimCLR run {trained['status']}: {store.get(run_id)['message']}")
        t0 = time.perf_counter()
        out_dir = Path(tmp) / "experiment"
        out_dir.mkdir()
        results = run_experiment(dict(runs=[run_id], labels_per_class=[1, 5, 10], protocols=["linear"], seeds=seeds,
                                      baselines=["pixels", "random-init", "supervised"], device=device,
                                      finetune_max_steps=60 if quick else 300), store, out_dir,
                                 echo=lambda line: print(line, file=sys.stderr, flush=True))
        eval_seconds = time.perf_counter() - t0
    rows = {(r["method"] if r["run_id"] is None else "simclr", r["labels_per_class"]): r for r in results["results"]}
    table = [{"method": m, **{f"@{b}": _cell(rows.get((m, b))) for b in (1, 5, 10)}}
             for m in ("simclr", "pixels", "random-init", "supervised")]
    simclr = {b: rows[("simclr", b)]["mean"] for b in (1, 5, 10)}
    beats = {b: all(simclr[b] > rows[(m, b)]["mean"] for m in ("pixels", "random-init", "supervised"))
             for b in (1, 5, 10)}
    return {"part": "mnist", "simclr_seconds": trained.get("seconds"), "simclr_epochs": trained.get("epochs"),
            "simclr_images_per_second": trained.get("images_per_second"), "backbone": backbone, "seeds": seeds,
            "eval_seconds": round(eval_seconds, 1), "table": table,
            "linear_at_10": round(simclr[10], 4), "target_linear_at_10": 0.90, "met_linear_at_10": simclr[10] >= 0.90,
            "beats_all_baselines": {str(b): v for b, v in beats.items()},
            "savings": [s["text"] for s in results["savings"] if s["run_id"] is not None]}


def _cell(row) -> dict | None:
    if row is None:
        return None
    return {"mean": round(row["mean"], 4), "ci95": None if row["ci95"] is None else round(row["ci95"], 4),
            "n_seeds": row["n_seeds"]}


def _print_speed(r: dict) -> None:
    print(f"speed: kNN + linear, {r['budgets']} budgets × {r['seeds']} seeds on {r['source']} "
          f"({r['pool']:,} pool / {r['test']:,} test): {r['evaluations']} evaluations in {r['seconds']:.2f} s "
          f"(target ≤ {r['target_seconds']:.0f} s: {'met' if r['met'] else 'NOT met'})")
    for b, acc in r["accuracy"].items():
        print(f"  {b:>4} per class: kNN {acc['knn']:.3f}  linear {acc['linear']:.3f}")


def _print_mnist(r: dict) -> None:
    print(f"mnist: SimCLR {r['backbone']} trained {r['simclr_seconds']} s ({r['simclr_epochs']} epochs, "
          f"{r['simclr_images_per_second']} img/s); linear probe, {r['seeds']} seeds, mean ± 95% interval")
    print(f"  {'method':<12} {'1 per class':>16} {'5 per class':>16} {'10 per class':>16}")
    for row in r["table"]:
        cells = []
        for b in ("@1", "@5", "@10"):
            c = row[b]
            cells.append(f"{'-':>16}" if c is None else
                         f"{c['mean'] * 100:>9.1f}" + (f" ± {c['ci95'] * 100:4.1f}" if c["ci95"] else " " * 7))
        print(f"  {row['method']:<12} " + " ".join(cells))
    print(f"  linear @10 = {r['linear_at_10']:.3f} (target ≥ 0.90: {'met' if r['met_linear_at_10'] else 'NOT met'}); "
          f"above every baseline at 1/5/10: {r['beats_all_baselines']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sslviz bench labeleff")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--part", choices=("speed", "mnist", "both"), default="both")
    ap.add_argument("--mnist-root", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--seconds", type=float, default=180.0, help="SimCLR training budget (mnist part)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--backbone", default="small-cnn-grid", help="small-cnn-grid (default: the stronger MNIST backbone, see BENCHMARKS.md) or small-cnn")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="20 s of SimCLR, 2 seeds: proves the script works")
    args = ap.parse_args(argv)
    out = {"benchmark": "labeleff", "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
           "quick": args.quick, "results": []}
    have_mnist = Path(args.mnist_root).exists()
    if args.part in ("speed", "both"):
        r = bench_speed(args.mnist_root if have_mnist else None, device=args.device)
        _print_speed(r)
        out["results"].append(r)
    if args.part in ("mnist", "both"):
        if not have_mnist:
            print(f"note: {args.mnist_root} not found; the MNIST part is skipped", file=sys.stderr)
        else:
            seconds = 20.0 if args.quick else min(args.seconds, 180.0)
            r = bench_mnist(args.mnist_root, seconds, 2 if args.quick else args.seeds, args.backbone, args.device,
                            args.quick)
            _print_mnist(r)
            out["results"].append(r)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
