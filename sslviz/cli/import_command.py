"""`python -m sslviz import embeddings PATH ...`: an embedding file made elsewhere becomes an entry of
the run store (sslviz/embeddings/imported.py), which the Embeddings, Compare and Label Efficiency pages
list beside the trained runs.

    python -m sslviz import embeddings feats.npz                       # arrays embeddings/features, labels
    python -m sslviz import embeddings feats.npy --metadata meta.csv --labels species
    python -m sslviz import embeddings table.parquet --labels label --paths file
    python -m sslviz import embeddings tensors.tsv --metadata metadata.tsv   # the Embedding Projector's pair
    python -m sslviz import embeddings test_feats.npy --dataset digits    # rows = digits' test images

A file that cannot be imported prints one line naming it and the problem and exits 2; the store is
unchanged. --json prints one JSON object: the entry's id, name, sizes, split and papers' figures.
"""

from __future__ import annotations

import json


def add_parser(sub, add_store) -> None:
    p = sub.add_parser("import", help="import an embedding file (npy, npz, csv, parquet, Projector TSV) as an entry")
    p.add_argument("what", choices=("embeddings",))
    p.add_argument("path", metavar="PATH")
    p.add_argument("--labels", default=None, metavar="COL",
                   help="the label column (default: label, labels, class, y, target); for a .npy, a column number")
    p.add_argument("--metadata", default=None, metavar="PATH",
                   help="a table of labels and other columns, row i for embedding i (csv, tsv, parquet, 1-D .npy)")
    p.add_argument("--name", default=None, help="default: 'imported: <file name>'")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="the rows are this sslviz dataset's test images (row i = test image i, or an 'index' column)")
    p.add_argument("--paths", default=None, metavar="COL", help="a column of image files (thumbnails; default: path, file, ...)")
    p.add_argument("--split", default=None, metavar="COL",
                   help="a train/test column (default: 'split' if present, else a seeded 80/20 split per class)")
    p.add_argument("--no-score", action="store_true", help="skip the papers' kNN and linear probe at import")
    p.add_argument("--json", action="store_true")
    add_store(p)


def cli_import(args) -> int:
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
