"""The label-efficiency experiment over the shipped runs on `shapes`, precomputed and shipped, so that
the Label Efficiency page opens on curves instead of on an empty form.

    python -m sslviz pretrained experiment     build it (build_experiment): install the shipped shapes
                                               runs into a temporary run store, run the experiment
                                               with sslviz.experiments.label_efficiency, write experiment-shapes.json
    install (sslviz/teaching/pretrained/install.py)     adds it to a store as a finished "eval" job over the
                                               runs installed there (install_experiment), once

The file refers to runs by catalogue name ("simclr-shapes"), never by run id (ids are drawn per
store); install maps the names to that store's runs. Each entry's weights file is fingerprinted
(sha256 of <name>.pt) at build: an entry rebuilt since then is left out of the installed experiment
(its numbers would no longer be its run's), and so is an entry the store does not hold.

What it measures (EXPERIMENT): kNN and linear probe at 1, 10 and 100 labels per class and all
labels, 3 seeds (the same labelled images for every subject), beside raw pixels and the untrained
network; the deliberate counter-examples (COUNTER_EXAMPLES) are left out, as on the Compare page.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from sslviz.core.errors import SslvizError

from . import CATALOG, COUNTER_EXAMPLES, available, weights_path

FORMAT = 1
DATASET = "shapes"
MARKER_KEY = f"experiment-{DATASET}"  # its entry in the store's pretrained.json: the experiment's job id
EXPERIMENT = dict(labels_per_class=[1, 10, 100, "all"], protocols=["knn", "linear"], seeds=3,
                  baselines=["pixels", "random-init"], device="cpu", owner="pretrained",
                  name="Label efficiency of the pretrained runs on shapes (shipped with sslviz)")


def experiment_path(folder: Path | None = None) -> Path:
    from . import FOLDER  # read at call time, as weights_path does

    return (folder or FOLDER) / f"experiment-{DATASET}.json"


def fingerprint(name: str, folder: Path | None = None) -> str:
    return hashlib.sha256(weights_path(name, folder).read_bytes()).hexdigest()[:16]


def zoo_entries(folder: Path | None = None) -> list[str]:
    """Shipped entries on shapes, counter-examples left out, in catalogue order."""
    return [n for n in available(folder) if CATALOG[n]["dataset"] == DATASET and n not in COUNTER_EXAMPLES]


# ---- ids <-> catalogue names -------------------------------------------------------------------


def remap(results: dict, mapping: dict[str, str]) -> dict:
    """A copy of an experiment's results with every run reference (config runs, subjects, result and
    savings rows: run_id and key) passed through `mapping`; rows of runs not in it are dropped."""
    out = json.loads(json.dumps(results))
    cfg = out.get("config", {})
    cfg["runs"] = [mapping[r] for r in cfg.get("runs", []) if r in mapping]

    def keep(rows: list[dict]) -> list[dict]:
        kept = []
        for r in rows:
            if r.get("run_id") is not None:
                if r["run_id"] not in mapping:
                    continue
                r["run_id"] = mapping[r["run_id"]]
                if r.get("key") is not None:
                    r["key"] = r["run_id"]
            kept.append(r)
        return kept

    for part in ("subjects", "results", "savings"):
        out[part] = keep(out.get(part, []))
    out["cells_done"] = len(out["results"])
    if out.get("status") == "completed":
        out["cells_total"] = out["cells_done"]
    return out


# ---- build ---------------------------------------------------------------------------------------


def build_experiment(out: Path | None = None, names: list[str] | None = None, folder: Path | None = None,
                     echo=None, **over) -> dict:
    """Install the shipped shapes entries (`names`, default zoo_entries()) into a temporary run store,
    run EXPERIMENT on them (fields in `over` replace its fields, e.g. seeds=1 for a quick look) and
    write the result to `out` (a .json path, or a folder; default this package's folder). Returns
    the written document."""
    from sslviz.core.files import atomic_write_text
    from sslviz.experiments.label_efficiency import run_experiment
    from sslviz.training.runs import RunStore

    from .install import install

    names = list(names or zoo_entries(folder))
    missing = [n for n in names if n not in available(folder)]
    if not names or missing:
        raise SslvizError(f"pretrained experiment: no shipped files for {', '.join(missing) or 'any shapes entry'}")
    wrong = [n for n in names if CATALOG[n]["dataset"] != DATASET]
    if wrong:
        raise SslvizError(f"pretrained experiment: {', '.join(wrong)} not trained on {DATASET}")
    entries = {n: fingerprint(n, folder) for n in names}  # the files measured (a rebuild changes them)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sslviz-zoo-experiment-") as tmp:
        store = RunStore(Path(tmp) / "runs")
        errors: list[str] = []
        ids = install(store, names, folder, log=errors.append, experiment=False)
        if errors:
            raise SslvizError(f"pretrained experiment: {errors[0]}")
        cfg = {**EXPERIMENT, **over, "runs": [ids[n] for n in names]}
        t1 = time.perf_counter()
        results = run_experiment(cfg, store, None, echo=echo)
    seconds = time.perf_counter() - t1
    doc = {
        "format": FORMAT,
        "dataset": DATASET,
        "entries": entries,
        "built": time.strftime("%Y-%m-%d %H:%M"),
        "seconds": {"install": round(t1 - t0, 1), "experiment": round(seconds, 1)},
        "machine": f"{platform.machine()}, {_threads()} torch threads",
        "results": remap(results, {ids[n]: n for n in names}),
    }
    path = Path(out) if out is not None else experiment_path(folder)
    if path.suffix != ".json":
        path = experiment_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=0) + "\n")
    return doc


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main(args) -> int:
    """`python -m sslviz pretrained experiment [--only NAME ...] [--out PATH]`."""
    t0 = time.perf_counter()
    doc = build_experiment(Path(args.out) if args.out else None, args.only or None,
                           echo=lambda line: print(line, file=sys.stderr))
    res = doc["results"]
    print(f"experiment over {len(doc['entries'])} runs: {res['cells_done']} results in "
          f"{time.perf_counter() - t0:.0f} s (install {doc['seconds']['install']} s, experiment "
          f"{doc['seconds']['experiment']} s)")
    if getattr(args, "json", False):
        print(json.dumps({"entries": list(doc["entries"]), "seconds": doc["seconds"]}))
    return 0


# ---- install -------------------------------------------------------------------------------------


def load_shipped_experiment(folder: Path | None = None) -> dict | None:
    """The shipped document, None when there is none; a damaged one raises a one-line SslvizError."""
    path = experiment_path(folder)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or not isinstance(doc.get("entries"), dict) or "results" not in doc:
            raise ValueError("not an experiment file of this version")
    except (OSError, ValueError) as exc:
        raise SslvizError(f"pretrained experiment {path.name}: cannot read it ({exc})") from None
    return doc


def install_experiment(store, folder: Path | None = None) -> str | None:
    """Add the shipped experiment to `store` as a completed "eval" job over the runs installed there
    (its id), once: recorded in the store's marker (pretrained.json) like the runs, and never added
    again (not even after the user deleted it). None when there is nothing to add. The caller holds
    the install lock (install.install)."""
    from sslviz.core.files import atomic_write_text
    from sslviz.experiments.label_efficiency import RESULTS_FILE, ExperimentConfig

    from .install import MARKER, installed

    done = installed(store)
    if MARKER_KEY in done:
        return None
    doc = load_shipped_experiment(folder)
    if doc is None:
        return None
    mapping = {}
    for name, sha in doc["entries"].items():
        run_id = done.get(name)
        if run_id is None or not (store.run_dir(run_id) / "checkpoint.pt").exists():
            continue
        try:
            if fingerprint(name, folder) != sha:
                continue  # rebuilt since the experiment was measured
            store.get(run_id)
        except (OSError, SslvizError):
            continue
        mapping[name] = run_id
    if not mapping:
        return None  # none of its runs here (yet): nothing to show, nothing recorded
    results = remap(doc["results"], mapping)
    try:
        cfg = ExperimentConfig.from_dict(results["config"]).to_dict()
    except SslvizError as exc:
        raise SslvizError(f"pretrained experiment: its config no longer fits this version ({exc})") from None
    results["config"] = cfg
    exp_id = store.create(cfg, kind="eval", status="installing")  # not a running job: the analysis lane stays free
    try:
        atomic_write_text(store.run_dir(exp_id) / RESULTS_FILE, json.dumps(results, indent=1))
        now = time.time()
        store.update(exp_id, status="completed", progress=1.0, eta=0.0, started=now, ended=now,
                     summary={"results": RESULTS_FILE, "cells_done": results["cells_done"],
                              "cells_total": results["cells_total"], "seconds": results.get("seconds"),
                              "dataset": results.get("dataset"), "pretrained": MARKER_KEY},
                     message=f"label-efficiency experiment shipped with sslviz (built {doc.get('built', '')})")
    except BaseException:
        store.update(exp_id, status="failed")
        store.delete(exp_id)
        raise
    done[MARKER_KEY] = exp_id
    atomic_write_text(store.root / MARKER, json.dumps(done, indent=2))
    return exp_id


def experiment_pending(store, folder: Path | None = None) -> bool:
    """Is there a shipped experiment this store has not had yet (install would add it)?"""
    from .install import installed

    return MARKER_KEY not in installed(store) and experiment_path(folder).exists()


def zoo_experiment(store) -> str | None:
    """The id of the shipped experiment in this store, when it was installed and still exists."""
    from .install import installed

    exp_id = installed(store).get(MARKER_KEY)
    if not exp_id:
        return None
    try:
        store.get(exp_id)
    except SslvizError:
        return None
    return exp_id
