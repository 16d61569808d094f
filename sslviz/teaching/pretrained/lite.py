"""Shipped "lite" runs: the broken variants of the "find the collapse" exercise and SimCLR at three
temperatures (sslviz/teaching/variants.py), kept as what their lesson steps show and nothing more.

    python -m sslviz pretrained build-variants     train each with its catalogue config (about 45-60 s
                                                   each) and write its files here, in variants/
    python -m sslviz pretrained install            installs them with the zoo (install.py)

A lite run ships no weights (the zoo must stay near 30 MB): per run, ``variants/<name>.json`` (the
resolved RunConfig, the trainer's summary marked ``"lite": true``, its metric rows: loss, kNN, the
collapse gauge, alignment and uniformity every epoch) and ``variants/<name>.npz`` (the final
embedding of EMBED_POINTS held-out images, float16, with their labels and test indices: about
0.25 MB a run). Installed, it is a completed run with the trainer's snapshot file
``embeddings_<epoch>.npz`` (the format sslviz/embeddings/embedding.py reads; the untrained network's
embedding is rebuilt from the config's seed when a page asks for it, as for any run without an
epoch-0 snapshot) and no checkpoint.pt, so the Embeddings page, the factor probe and the curves work, and
pages that need weights (the pretext answers, the label-efficiency experiment, the temperature
explorer's batch) do not list it: they look for checkpoint.pt first.
"""

from __future__ import annotations

import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sslviz.core.errors import SslvizError

from . import FOLDER as ZOO_FOLDER

FOLDER = ZOO_FOLDER / "variants"
EMBED_POINTS = 500
MARKER = "pretrained-lite.json"  # name -> run id of the lite runs installed in a store


def names() -> list[str]:
    """Every lite run of the catalogue: the variants, their same-budget twins, the temperature runs."""
    from ..variants import TEMPERATURES, TWINS, VARIANTS

    return [v["name"] for v in VARIANTS + TWINS + TEMPERATURES]


def _paths(name: str, folder: Path | None) -> tuple[Path, Path]:
    folder = Path(folder or FOLDER)
    return folder / f"{name}.json", folder / f"{name}.npz"


def available(folder: Path | None = None) -> list[str]:
    """Catalogue names whose two files are present (built and committed)."""
    return [n for n in names() if all(p.exists() for p in _paths(n, folder))]


# ---- build ---------------------------------------------------------------------------------------


def build_one(name: str, out: Path | None = None, time_budget: float | None = None) -> dict:
    """Train one lite run with its catalogue config and write its two files; returns its summary."""
    from sslviz.embeddings.embedding import load_snapshot, snapshot_epochs
    from sslviz.training.config import RunConfig
    from sslviz.training.train import run

    from ..variants import readings, variant
    from .build import _Collect

    cfg = variant(name)["config"]
    if time_budget:
        cfg["time_budget"] = float(time_budget)

    class Collect(_Collect):
        resolved_config: dict = {}

        def resolved(self, config: dict) -> None:
            self.resolved_config = dict(config)

    report = Collect(name)
    with tempfile.TemporaryDirectory(prefix=f"sslviz-lite-{name}-") as tmp:
        summary = run(RunConfig.from_dict(cfg), Path(tmp), report)
        epoch = snapshot_epochs(tmp)[-1]
        features, labels, index = load_snapshot(tmp, epoch)
    summary = {**readings(summary, report.rows), "lite": True, "variant": name}
    size = write_files(name, out, report.resolved_config or cfg, summary, report.rows, features, labels, index, epoch)
    return {"name": name, "bytes": size, **summary}


def write_files(name: str, out: Path | None, config: dict, summary: dict, rows: list, features: np.ndarray,
                labels: np.ndarray, index: np.ndarray, epoch: int) -> int:
    """Write <name>.json and <name>.npz: the final snapshot (features N×D of the test images `index`),
    of which EMBED_POINTS (a seeded draw, in test-split order) are kept. Returns the bytes written."""
    import torch

    from .build import compact_rows

    keep = np.sort(np.random.default_rng(0).permutation(len(index))[:EMBED_POINTS])
    json_path, npz_path = _paths(name, out)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, features=features[keep].astype(np.float16), labels=labels[keep], index=index[keep],
                        epoch=np.array(int(epoch)))
    npz_path.write_bytes(buf.getvalue())
    json_path.write_text(json.dumps({
        "name": name, "built": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads", "torch": torch.__version__,
        "config": config, "summary": {**summary, "lite": True, "variant": name}, "metrics": compact_rows(rows),
    }, separators=(",", ":")) + "\n")
    return json_path.stat().st_size + npz_path.stat().st_size


def build(only: list[str] | None = None, out: Path | None = None, time_budget: float | None = None) -> list[dict]:
    """Build the named lite runs (default: all), one after the other."""
    from ..variants import variant

    todo = only or names()
    for name in todo:
        variant(name)  # an unknown name fails before anything trains
    results = []
    for name in todo:
        print(f"building lite run {name} ...", file=sys.stderr)
        r = build_one(name, out, time_budget)
        results.append(r)
        print(f"  {name}: kNN {r.get('knn_accuracy')} (untrained {r.get('knn_random_init')}), spread "
              f"{r.get('spread')}, effective rank {r.get('effective_rank')}, alignment {r.get('alignment')}, "
              f"uniformity {r.get('uniformity')} after {r.get('epochs')} epochs, {r.get('seconds')} s, "
              f"{r['bytes'] / 1e3:.0f} kB", file=sys.stderr)
    return results


# ---- install -------------------------------------------------------------------------------------


def installed(store) -> dict[str, str]:
    """name -> run id of the lite runs installed in this store."""
    try:
        return dict(json.loads((store.root / MARKER).read_text()))
    except (OSError, ValueError):
        return {}


def pending(store, folder: Path | None = None) -> list[str]:
    done = installed(store)
    return [n for n in available(folder) if n not in done]


def _snapshot(path: Path, features: np.ndarray, labels: np.ndarray, index: np.ndarray) -> None:
    from sslviz.core.files import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, features=features.astype(np.float16), labels=labels, index=index)
    atomic_write_bytes(path, buf.getvalue())


def install_one(store, name: str, folder: Path | None = None) -> str:
    """One lite run as a completed run without a checkpoint; returns its run id."""
    from sslviz.training.config import RunConfig

    json_path, npz_path = _paths(name, folder)
    try:
        info = json.loads(json_path.read_text())
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("features", "labels", "index", "epoch")}
    except (OSError, ValueError, KeyError) as exc:
        raise SslvizError(f"lite run {name}: cannot read its files ({exc})") from None
    try:
        config = RunConfig.from_dict(info["config"])
    except (SslvizError, KeyError, TypeError) as exc:
        raise SslvizError(f"lite run {name}: its config no longer fits this version ({exc})") from None
    run_id = store.create({**config.to_dict(), "owner": "pretrained"}, status="completed")
    try:
        run_dir = store.run_dir(run_id)
        epoch = int(arrays["epoch"])
        _snapshot(run_dir / f"embeddings_{epoch:04d}.npz", arrays["features"], arrays["labels"], arrays["index"])
        store.add_metrics(run_id, [tuple(r) for r in info.get("metrics", [])])
        # not "pretrained": the zoo's run choosers (sslviz/ui/run_choice.py) must not open on a broken variant
        summary = {**_untrained_start(info.get("metrics", [])), **info.get("summary", {}), "lite": True, "variant": name}
        now = time.time()
        store.update(run_id, progress=1.0, eta=0.0, started=now, ended=now, summary=summary,
                     message=f"shipped lite run ({info.get('built', '')}): curves, gauge and a {len(arrays['index'])}"
                             "-image embedding, no weights")
    except BaseException:
        store.delete(run_id)
        raise
    return run_id


def _untrained_start(rows: list) -> dict:
    """The gauge's epoch-0 readings of a sidecar's metric rows as summary keys ("directions_95_random_init"):
    lite runs built before the summary kept all three still judge their gauge against their start."""
    from sslviz.evaluation.collapse_gauge import GAUGE_KEYS

    return {f"{r[3]}_random_init": r[4] for r in rows if r[0] == 0 and r[1] == 0 and r[3] in GAUGE_KEYS and r[4] is not None}


def install(store, only: list[str] | None = None, folder: Path | None = None, log=None) -> dict[str, str]:
    """Install the lite runs this store lacks (milliseconds each: no network is run); returns
    {name: run id} of the new ones. The caller holds the store's install lock (install.install)."""
    from sslviz.core.files import atomic_write_text

    done = installed(store)
    new: dict[str, str] = {}
    for name in [n for n in (only or available(folder)) if n not in done]:
        try:
            new[name] = done[name] = install_one(store, name, folder)
        except SslvizError as exc:
            if log:
                log(str(exc))
            continue
        atomic_write_text(store.root / MARKER, json.dumps(done, indent=2))
    return new


def run_ids(store) -> dict[str, str]:
    """name -> run id of the installed lite runs that are still in the store (a user may delete one)."""
    out = {}
    for name, run_id in installed(store).items():
        try:
            store.get(run_id)
        except SslvizError:
            continue
        out[name] = run_id
    return out


def install_locked(store, log=None) -> dict[str, str]:
    """`install` under the store's install lock (what the app's background install and the CLI call)."""
    from .install import _locked

    with _locked(store.root):
        return install(store, log=log)
