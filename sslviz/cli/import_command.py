"""`python -m sslviz import embeddings PATH ...`: an embedding file made elsewhere becomes an entry of
the run store (sslviz/embeddings/imported.py), which the Embeddings, Compare and Label Efficiency pages
list beside the trained runs.

    python -m sslviz import embeddings feats.npz                       # arrays embeddings/features, labels
    python -m sslviz import embeddings feats.npy --metadata meta.csv --labels species
    python -m sslviz import embeddings table.parquet --labels label --paths file
    python -m sslviz import embeddings tensors.tsv --metadata metadata.tsv   # the Embedding Projector's pair
    python -m sslviz import embeddings test_feats.npy --dataset digits    # rows = digits' test images
    python -m sslviz import model simclr.ckpt --dataset stl10 [--arch auto|resnet18|resnet50|torchscript]
                                  [--image-size 96] [--normalise imagenet|none] [--background]

`import model` checks the checkpoint, queues the embedding as a worker job (sslviz/embeddings/model_import.py)
and, unless --background, runs it here in the foreground (the operator's: any folder this user can read),
printing a progress line as it goes; Ctrl-C stops it after the current chunk, and
`python -m sslviz resume ID` continues from there.

A file that cannot be imported prints one line naming it and the problem and exits 2; the store is
unchanged. --json prints one JSON object: the entry's id, name, sizes, split and papers' figures.
"""

from __future__ import annotations

import json


def add_parser(sub, add_store) -> None:
    p = sub.add_parser("import", help="import an embedding file (npy, npz, csv, parquet, Projector TSV) or a model "
                                      "checkpoint (ResNet-18/50 state dict, lightly, solo-learn, TorchScript) as an entry")
    p.add_argument("what", choices=("embeddings", "model"))
    p.add_argument("path", metavar="PATH")
    p.add_argument("--labels", default=None, metavar="COL",
                   help="the label column (default: label, labels, class, y, target); for a .npy, a column number")
    p.add_argument("--metadata", default=None, metavar="PATH",
                   help="a table of labels and other columns, row i for embedding i (csv, tsv, parquet, 1-D .npy)")
    p.add_argument("--name", default=None, help="default: 'imported: <file name>'")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="embeddings: the rows are this sslviz dataset's test images (row i = test image i, or an "
                        "'index' column); model: the dataset to embed (a name or folder:PATH)")
    p.add_argument("--arch", default="auto", choices=("auto", "resnet18", "resnet50", "torchscript"),
                   help="model: the architecture (default: read off the keys)")
    p.add_argument("--image-size", type=int, default=None, metavar="N",
                   help="model: pixels (default: what the backbone wants: 32 for a CIFAR stem, else 96 or 224)")
    p.add_argument("--normalise", default="imagenet", choices=("imagenet", "none"), help="model: input normalisation")
    p.add_argument("--background", action="store_true", help="model: queue the job and return its id")
    p.add_argument("--paths", default=None, metavar="COL", help="a column of image files (thumbnails; default: path, file, ...)")
    p.add_argument("--split", default=None, metavar="COL",
                   help="a train/test column (default: 'split' if present, else a seeded 80/20 split per class)")
    p.add_argument("--no-score", action="store_true", help="skip the papers' kNN and linear probe at import")
    p.add_argument("--json", action="store_true")
    add_store(p)


def cli_import(args) -> int:
    if args.what == "model":
        return cli_import_model(args)
    from sslviz.embeddings.imported import import_file
    from sslviz.training.runs import RunStore

    store = RunStore(args.runs_dir)
    run_id = import_file(store, args.path, name=args.name, labels=args.labels, metadata=args.metadata,
                         dataset=args.dataset, paths=args.paths, split=args.split, score=not args.no_score)
    run = store.get(run_id)
    info = run["summary"].get("import", {})
    papers = run["summary"].get("papers")
    if args.json:
        print(json.dumps({"id": run_id, "name": run["name"], "kind": run["kind"], "status": run["status"],
                          "run_dir": str(store.run_dir(run_id)), **info, "papers": papers, "message": run["message"]}))
        return 0
    print(f"{run_id}: {run['message']}")
    print(f"  labels: {info.get('labels') or 'none'} · train/test: {info['train']:,}/{info['test']:,} ({info['split']})")
    if papers:
        print(f"  papers' protocol on its test rows: kNN k=20 {papers['knn20']:.3f}, k=200 {papers['knn200']:.3f}, "
              f"linear {papers['linear']:.3f}")
    print("  open it on the Embeddings page (streamlit run app.py), or compare it on Compare and Label Efficiency")
    return 0


def cli_import_model(args) -> int:
    import threading

    from sslviz.core.errors import ConfigError
    from sslviz.embeddings import model_import
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    if not args.dataset:
        raise ConfigError("import model: --dataset NAME is needed (the images the model embeds)")
    store = RunStore(args.runs_dir)
    job_id = model_import.submit(store, args.path, args.dataset, arch=args.arch, image_size=args.image_size,
                                 normalise=args.normalise, name=args.name, start=False)
    if args.background:
        worker.schedule(store)
        print(job_id if not args.json else json.dumps({"id": job_id, "status": store.get(job_id)["status"]}))
        return 0
    store.update(job_id, status="running")  # this process runs it; no scheduler claims it
    done = threading.Event()

    def show() -> None:  # a progress line whenever the job's message changes
        last = None
        while not done.wait(1.0):
            run = store.get(job_id)
            if run["message"] != last and not args.json:
                last = run["message"]
                print(f"  {run['progress']:4.0%} {last}", flush=True)

    printer = threading.Thread(target=show, daemon=True)
    printer.start()
    try:
        result = worker.execute(store, job_id, chain=False, operator=True)
    finally:
        done.set()
        printer.join()
    run = store.get(job_id)
    if result["status"] != "completed":
        raise ConfigError(f"{args.path}: the embedding job {job_id} {run['status']}: {run['message']}"
                          + (f" (continue it: python -m sslviz resume {job_id})" if run["status"] != "failed" else ""))
    info, papers = run["summary"].get("import", {}), run["summary"].get("papers")
    if args.json:
        print(json.dumps({"id": job_id, "name": run["name"], "kind": run["kind"], "status": run["status"],
                          "run_dir": str(store.run_dir(job_id)), **info, "papers": papers}))
        return 0
    print(f"{job_id}: {model_import.describe(run)}")
    if papers:
        print(f"  papers' protocol ({info['train']:,} train images as the bank, {info['test']:,} test images): "
              f"kNN k=20 {papers['knn20']:.3f}, k=200 {papers['knn200']:.3f}, linear {papers['linear']:.3f}")
    print("  open it on the Embeddings page (streamlit run app.py), or compare it on Compare and Label Efficiency")
    return 0
