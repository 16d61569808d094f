"""`python -m sslviz ...`: the headless, scriptable face of the app. Same code path as the UI.

    train     train a run (in this process, or queued for the background worker)
    runs      list runs                 methods   list methods      datasets  list datasets
    cancel    stop a queued or running run
    eval      label-efficiency experiment on trained runs (see sslviz/experiments/label_efficiency.py)
    export    a run's embeddings and projections as CSV, .npy or Embedding-Projector files
    import    an embedding file made elsewhere, as an entry (see sslviz/cli/import_command.py)
    bench     measure speed (see sslviz/cli/bench_step.py and bench/)
    pretrained build / install / list / stamp the small shipped checkpoints (sslviz/teaching/pretrained/)
    worker    (internal) the process the queue starts for one run

Errors a user can fix print one line and exit 2; nothing prints a bare traceback unless --debug.
"""

from __future__ import annotations

import argparse
import json
import sys

from sslviz.core.errors import SslvizError


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", help="run store folder (default $SSLVIZ_HOME or ./runs)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sslviz", description="Self-supervised learning, visualised.")
    ap.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a run")
    t.add_argument("--method", default="simclr")
    t.add_argument("--dataset", default="shapes")
    t.add_argument("--epochs", type=int, default=None, help="epoch budget (default 10, or unlimited with --time-budget)")
    t.add_argument("--time-budget", type=float, default=None, metavar="SECONDS", help="wall-clock budget")
    t.add_argument("--backbone", default=None, help="default: small-cnn-grid for mnist and fashion-mnist, else small-cnn")
    t.add_argument("--batch-size", type=int, default=None, help="default: the recipe's (256 unless it says otherwise)")
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--precision", default="auto", help="auto (mixed precision on a GPU) | fp32 | bf16 | fp16")
    t.add_argument("--compile", action="store_true", help="torch.compile the backbone (opt-in; helps on GPUs)")
    t.add_argument("--image-size", type=int, default=None,
                   help="working size in pixels (default: the recipe's: 28 for centred greyscale, else 32)")
    t.add_argument("--data-root", default=None)
    t.add_argument("--labels-per-class", type=int, default=None)
    t.add_argument("--holdout", choices=("test", "validation"), default="test",
                   help="score on the test split (default), or on a stratified fifth of the training images "
                        "held out (train on the rest): to choose a budget or a recipe without seeing the test images")
    t.add_argument("--pipeline", default=None, help="augmentation preset name or JSON object (default: per dataset)")
    t.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method hyper-parameter")
    t.add_argument("--name", default="")
    t.add_argument("--background", action="store_true", help="queue it for the background worker and return")
    t.add_argument("--json", action="store_true", help="last line: one JSON object with the result")
    _add_store(t)

    for name, help_ in (("runs", "list runs"), ("methods", "list methods"), ("datasets", "list datasets")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--json", action="store_true")
        if name == "runs":
            _add_store(p)

    c = sub.add_parser("cancel", help="cancel a queued or running run")
    c.add_argument("run_id")
    _add_store(c)

    r = sub.add_parser("resume", help="continue an interrupted, cancelled or failed run from its checkpoint")
    r.add_argument("run_id")
    r.add_argument("--background", action="store_true", help="queue it and return")
    r.add_argument("--json", action="store_true")
    _add_store(r)

    wl = sub.add_parser("worker-loop", help="train queued jobs of a (shared) run store on this machine")
    wl.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the queue")
    _add_store(wl)

    d = sub.add_parser("doctor", help="check the installation and the run store")
    d.add_argument("--json", action="store_true")
    _add_store(d)

    e = sub.add_parser("eval", help="label-efficiency experiment: accuracy vs labels per class")
    e.add_argument("--run", type=lambda v: [r for r in v.split(",") if r], default=[], metavar="ID[,ID...]")
    e.add_argument("--labels-per-class", default="1,2,5,10,20,50,100,all", metavar="N[,N...|all]")
    e.add_argument("--protocol", default="knn,linear", metavar="knn,linear,finetune,self-training",
                   help="or 'papers': score the runs by the papers' protocol (whole splits) into their summaries")
    e.add_argument("--seeds", type=int, default=5)
    e.add_argument("--baselines", type=lambda v: [b for b in v.split(",") if b], default=[],
                   metavar="pixels,pca,random-init,supervised")
    e.add_argument("--dataset", default=None, help="for a baselines-only experiment")
    e.add_argument("--device", default=None)
    e.add_argument("--json", action="store_true", help="last line: one JSON object with a 'results' list")
    _add_store(e)

    x = sub.add_parser("export", help="export a run's embeddings (csv, npy, or TensorFlow Embedding Projector files)")
    x.add_argument("--run", required=True, metavar="ID")
    x.add_argument("--format", default="csv", choices=("csv", "npy", "projector"))
    x.add_argument("--out", required=True, metavar="DIR")
    x.add_argument("--epoch", type=int, default=None, help="snapshot epoch (default: the last)")
    x.add_argument("--source", default="run", choices=("run", "pixels", "random-init"))
    x.add_argument("--projection", default="none", choices=("none", "pca", "umap", "tsne"),
                   help="also export a projection (cached in the run directory)")
    x.add_argument("--dims", type=int, default=2, choices=(2, 3), help="dimensions of the projection")
    x.add_argument("--json", action="store_true")
    _add_store(x)

    b = sub.add_parser("bench", help="measure speed; prints ratios (see BENCHMARKS.md)")
    b.add_argument("what", nargs="?", default="step", help="step (default), or a script bench/bench_WHAT.py")
    b.add_argument("--json", action="store_true")
    b.add_argument("--seconds", type=float, default=8.0, help="time per measurement")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for a bench/ script")

    pt = sub.add_parser("pretrained", help="build, install or list the small shipped checkpoints")
    pt.add_argument("action", choices=("build", "install", "list", "experiment", "build-variants", "stamp", "papers"))
    pt.add_argument("--only", action="append", default=[], metavar="NAME", help="one checkpoint (repeatable)")
    pt.add_argument("--time-budget", type=float, default=None, metavar="SECONDS", help="build: override each budget")
    pt.add_argument("--out", default=None, metavar="DIR", help="build: where to write (default sslviz/teaching/pretrained/)")
    pt.add_argument("--force", action="store_true", help="build: rebuild entries already built with their recipe")
    pt.add_argument("--json", action="store_true")
    _add_store(pt)

    from .import_command import add_parser as add_import

    add_import(sub, _add_store)

    w = sub.add_parser("worker", help=argparse.SUPPRESS)
    w.add_argument("run_id")
    _add_store(w)
    return ap


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pipeline_arg(text: str | None) -> dict | None:
    from sslviz.augment.engine import PRESETS, Pipeline
    from sslviz.core.errors import ConfigError

    if text is None:
        return None
    if text in PRESETS:
        return PRESETS[text].to_dict()
    try:
        return Pipeline.from_dict(json.loads(text)).to_dict()
    except json.JSONDecodeError:
        raise ConfigError(f"--pipeline: '{text}' is neither a preset ({', '.join(PRESETS)}) nor a JSON object") from None


def config_from_args(args) -> "RunConfig":
    from sslviz.core.errors import ConfigError
    from sslviz.training.choices import config_from_choices

    params = {}
    for item in args.param:
        if "=" not in item:
            raise ConfigError(f"--param: expected NAME=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        params[key] = _parse_value(value)
    return config_from_choices(
        method=args.method, dataset=args.dataset, backbone=args.backbone, epochs=args.epochs,
        time_budget=args.time_budget, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        seed=args.seed, device=args.device, precision=args.precision, compile=args.compile,
        image_size=args.image_size, data_root=args.data_root,
        pipeline=_pipeline_arg(args.pipeline), method_params=params, labels_per_class=args.labels_per_class,
        name=args.name, holdout=args.holdout,
    )


def cmd_train(args) -> int:
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    config = config_from_args(args)
    store = RunStore(args.runs_dir)
    if args.background:
        # A background job is the worker's, which reads folders only inside the allowed data roots
        # (sslviz/core/access.py), as for every job the web UI starts. In the foreground the command
        # line is the operator's: it reads any folder its user can.
        from sslviz.core.access import AccessError, check_dataset

        try:
            check_dataset(config.dataset, store.root)
        except AccessError as exc:
            raise AccessError(f"{exc}; or train it in the foreground (without --background)") from None
        run_id = worker.submit(config, store)
        out = {"run_id": run_id, "status": store.get(run_id)["status"], "method": config.method, "dataset": config.dataset}
        print(json.dumps(out) if args.json else f"queued {run_id} ({out['status']})")
        return 0
    from sslviz.data import load_dataset
    from sslviz.training.recipes import DEFAULT_IMAGE_SIZE

    load_dataset(config.dataset, image_size=config.image_size or DEFAULT_IMAGE_SIZE, data_root=config.data_root,
                 seed=config.seed)  # fail fast
    from sslviz.core import distributed

    if distributed.launched_by_torchrun():  # torchrun --nproc_per_node=N -m sslviz train ...
        distributed.setup(config.device)
        run_id = distributed.broadcast_object(
            store.create(config.to_dict(), status="running") if distributed.is_main() else None)
        if not distributed.is_main():  # the other ranks train; only rank 0 reports and writes
            from sslviz.training import train

            train.run(config, store.run_dir(run_id))
            distributed.teardown()
            return 0
    else:
        run_id = store.create(config.to_dict(), status="running")
    print(f"run {run_id}: {config.method} on {config.dataset}", file=sys.stderr)
    result = worker.execute(store, run_id, chain=False, operator=True)
    distributed.teardown()
    curve = store.metrics(run_id, ["knn_accuracy"])
    for row in curve:
        print(f"  epoch {row['epoch']:.0f}: kNN accuracy {row['value']:.3f}", file=sys.stderr)
    out = {
        "run_id": run_id, "status": result["status"], "method": config.method, "dataset": config.dataset,
        "epochs": result.get("epochs"), "seconds": result.get("seconds"),
        "images_per_second": result.get("images_per_second"), "knn_accuracy": result.get("knn_accuracy"),
        "knn_pixels": result.get("knn_pixels"), "knn_random_init": result.get("knn_random_init"),
        "spread": result.get("spread"), "effective_rank": result.get("effective_rank"),
        "stopped_by": result.get("stopped_by"), "few_label_linear": result.get("few_label_linear"),
        "few_label_pixels": result.get("few_label_pixels"), "few_label_random_init": result.get("few_label_random_init"),
        "recipe": result.get("recipe"), "curve": [(round(r["elapsed"], 2), r["value"]) for r in curve],
        "knn_bank": result.get("knn_bank"), "knn_test": result.get("test_images_scored"),  # knn_accuracy's sizes
        "papers": result.get("papers"),  # the final figures by the papers' protocol (training/final_scores.py)
    }
    if result["status"] == "failed":
        out["error"] = store.get(run_id)["message"]
    if args.json:
        print(json.dumps(out))
    else:
        from sslviz.training.final_scores import estimate_label, papers_line

        print(f"{run_id} {out['status']}: kNN {out['knn_accuracy']} ({estimate_label(result)}) after "
              f"{out['epochs']} epochs, {out['seconds']} s")
        if papers_line(result):
            print(f"  {papers_line(result)}")
        if out["spread"] is not None:
            print(f"  collapse gauge: spread {out['spread']:.3f} (1 = all over the sphere, 0 = one point), "
                  f"effective rank {out['effective_rank']:.1f} (directions used)")
    from sslviz.evaluation.collapse_gauge import collapse_warnings, gauge_start

    start = gauge_start(result)
    for w in collapse_warnings({**out, "directions_95": result.get("directions_95")}, start):  # vs the untrained start
        print(f"warning: {w}", file=sys.stderr)
    if result["status"] == "failed":
        print(f"error: {out['error']}", file=sys.stderr)
        return 1
    return 0


def cmd_runs(args) -> int:
    from sslviz.training.runs import RunStore

    store = RunStore(args.runs_dir)
    store.reconcile()
    runs = store.list()
    if args.json:
        keep = ("id", "name", "method", "dataset", "status", "created", "started", "ended", "progress", "message", "summary")
        print(json.dumps([{k: r[k] for k in keep} for r in runs]))
        return 0
    for r in runs:
        knn, final = r["summary"].get("knn_accuracy"), (r["summary"].get("papers") or {}).get("knn20")
        print(f"{r['id']:<22} {r['status']:<11} {r['method']:<12} {r['dataset']:<14} "
              f"{'' if knn is None else f'kNN estimate {knn:.3f}'}"
              f"{'' if final is None else f', papers kNN k=20 {final:.3f}'}")
    return 0


def cmd_methods(args) -> int:
    from sslviz.methods import list_methods

    methods = list_methods()
    if args.json:
        print(json.dumps(methods))
    else:
        for m in methods:
            print(f"{m['name']:<14} {m['family']:<16} {m['target']}")
    return 0


def cmd_datasets(args) -> int:
    from sslviz.data import list_datasets

    sets = list_datasets()
    if args.json:
        print(json.dumps(sets))
    else:
        for d in sets:
            print(f"{d['name']:<14} {d['description']}")
    return 0


def cmd_cancel(args) -> int:
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    print(f"{args.run_id}: {worker.cancel(RunStore(args.runs_dir), args.run_id)}")
    return 0


def cmd_resume(args) -> int:
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    store = RunStore(args.runs_dir)
    if args.background:
        worker.resume(store, args.run_id)
        print(f"{args.run_id}: {store.get(args.run_id)['status']}")
        return 0
    store.requeue(args.run_id, status="running")
    result = worker.execute(store, args.run_id, chain=False, operator=True)  # the operator's own, in the foreground
    print(json.dumps(result) if args.json else f"{args.run_id} {result['status']}: kNN {result.get('knn_accuracy')}")
    return 0 if result["status"] != "failed" else 1


TRAINER_NICE = 10  # CFS weight 110 against the server's 1024: the server gets ~90% of a shared core


def cmd_worker(args) -> int:
    import os

    import torch

    from sslviz.core.settings import load_settings
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    torch.set_num_threads(load_settings().threads())
    try:
        os.nice(TRAINER_NICE)  # and let the UI win when both want the CPU
    except OSError:
        pass
    result = worker.execute(RunStore(args.runs_dir), args.run_id)
    return 0 if result["status"] != "failed" else 1


def cmd_worker_loop(args) -> int:
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    store = RunStore(args.runs_dir)
    print(f"training queued jobs of {store.root} on this machine; Ctrl-C to stop", file=sys.stderr)
    worker.worker_loop(store, poll=args.poll)
    return 0


def cmd_doctor(args) -> int:
    from sslviz.server import doctor

    return doctor.main(args)


def cmd_eval(args) -> int:
    from .eval_command import cli_eval

    return cli_eval(args)


def cmd_export(args) -> int:
    from sslviz.embeddings.export import cli_export

    return cli_export(args)


def cmd_import(args) -> int:
    from .import_command import cli_import

    return cli_import(args)


def cmd_pretrained(args) -> int:
    from sslviz.teaching.pretrained import main

    return main(args)


def cmd_bench(args) -> int:
    from . import bench_step as bench

    return bench.main(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = globals()[f"cmd_{args.command.replace('-', '_')}"]
    try:
        return handler(args)
    except SslvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1
