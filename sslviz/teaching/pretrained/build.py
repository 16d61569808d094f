"""Build the shipped checkpoints with the project's own trainer (`python -m sslviz pretrained build`).

Each catalogue entry is trained by `sslviz.training.train.run` exactly as the UI or the CLI would train it
(same RunConfig, same augmentation engine, same monitor), into a temporary run directory. Its
checkpoint is then slimmed: the optimiser state and random-generator states are dropped (a
shipped run is finished, never resumed) and the weights are stored small (storage.py: int8 weight
matrices with a scale per output channel, float16 for the rest). The
metric rows the trainer reported go into the JSON sidecar with the summary, and the sha256 of the
weights file (verify.py: the install refuses a .pt that is not the one its sidecar describes).

Budgets are wall-clock (``time_budget``), so a build on a busy machine trains fewer steps; rebuild
on a quiet machine for the best checkpoints (``--time-budget`` overrides every entry's budget).
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import CATALOG, FOLDER, config_for, info_path, weights_path

FORMAT = 3  # 1: float16 weights; 2: storage.pack_state (int8 weights + scales); 3: the same, zlib-compressed


class _Collect:
    """A trainer Reporter that keeps every metric row and prints progress now and then."""

    def __init__(self, name: str):
        self.name, self.rows, self._last = name, [], 0.0

    def metrics(self, step, epoch, elapsed, values):
        self.rows += [(step, epoch, elapsed, k, v) for k, v in values.items() if v is not None]

    def progress(self, fraction, eta, message=""):
        if time.monotonic() - self._last > 10:
            print(f"  {self.name}: {fraction:.0%} {message}", file=sys.stderr)
            self._last = time.monotonic()

    def should_stop(self) -> bool:
        return False

    def flush(self) -> None:
        pass


# Parts of a trained method that no page uses, left out of the shipped file (installed runs get them
# at their initial values; a shipped run is finished, never resumed): momentum copies, queues,
# predictors and the GAN's generator. Projection heads stay (the contrastive game on the Pretext
# page compares views with them), and so do the pretext tasks' heads (their answers).
def _not_shipped() -> dict[str, tuple[str, ...]]:
    """method -> its parts left out, as its class declares them (`not_shipped`, sslviz/methods/base.py)."""
    from sslviz.methods import method_classes

    return {n: cls.not_shipped for n, cls in method_classes().items() if cls.not_shipped}


NOT_SHIPPED = _not_shipped()


def slim_state(state: dict, method: str = "") -> dict:
    """What ships of a trained method's state, packed small (storage.pack_state), without the parts
    NOT_SHIPPED for this method."""
    from .storage import pack_state

    drop = NOT_SHIPPED.get(method, ())
    return pack_state({k: v for k, v in state.items() if k.split(".", 1)[0] not in drop})


def _save(payload: dict, path: Path) -> int:
    """Write a shipped checkpoint's payload (compressed: storage.save_payload); returns its size in bytes."""
    from .storage import save_payload

    return save_payload(payload, path)


def compact_rows(rows: list) -> list:
    """The metric rows as the sidecar keeps them: values to 5 significant digits (the curves the pages
    draw; the summary keeps its figures exact), times to the millisecond."""
    return [[int(r[0]), round(float(r[1]), 4), round(float(r[2]), 3), r[3], float(f"{float(r[4]):.5g}")]
            for r in rows if r[4] is not None]


def write_entry(name: str, ckpt: dict, summary: dict, rows: list, out: Path | None = None) -> int:
    """Write <name>.pt (slimmed weights, the resolved config, counters) and <name>.json (summary and
    metric rows) from a finished run's checkpoint; returns the size of the .pt in bytes."""
    payload = {
        "format": FORMAT,
        "name": name,
        "config": ckpt["config"],  # as the recipe resolved it: what the weights were trained with
        "model": slim_state(ckpt["model"], ckpt["config"].get("method", "")),
        "epoch": int(ckpt.get("epoch", summary.get("epochs", 0))),
        "step": int(ckpt.get("step", summary.get("steps", 0))),
        "elapsed": float(ckpt.get("elapsed", summary.get("seconds", 0.0))),
    }
    out = Path(out or FOLDER)
    out.mkdir(parents=True, exist_ok=True)
    size = _save(payload, weights_path(name, out))
    from .verify import HASH_KEY, dump_info, sha256_of

    info = {
        "name": name,
        "built": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        HASH_KEY: sha256_of(weights_path(name, out)),  # the install refuses any other .pt under this name
        "summary": summary,
        "metrics": compact_rows(rows),
    }
    info_path(name, out).write_text(dump_info(info))
    return size


def build_one(name: str, out: Path | None = None, time_budget: float | None = None) -> dict:
    """Train one catalogue entry and write <name>.pt and <name>.json into `out`; returns the summary."""
    from sslviz.training.config import RunConfig
    from sslviz.training.train import load_checkpoint, run

    cfg = config_for(name)
    if time_budget:
        cfg["time_budget"] = float(time_budget)
    config = RunConfig.from_dict(cfg)
    report = _Collect(name)
    with tempfile.TemporaryDirectory(prefix=f"sslviz-pretrained-{name}-") as tmp:
        summary = run(config, Path(tmp), report)
        ckpt = load_checkpoint(Path(tmp) / "checkpoint.pt")
    size = write_entry(name, ckpt, summary, report.rows, out)
    return {"name": name, "bytes": size, **summary}


def resolved_config(name: str, time_budget: float | None = None) -> dict:
    """The config an entry trains with: its catalogue fields completed by the recipe for its data."""
    from sslviz.training.config import RunConfig
    from sslviz.training.recipes import resolve

    cfg = config_for(name)
    if time_budget:
        cfg["time_budget"] = float(time_budget)
    return resolve(RunConfig.from_dict(cfg)).to_dict()


def up_to_date(name: str, out: Path | None = None, time_budget: float | None = None) -> bool:
    """Were this entry's files built with the config the recipe gives it now?"""
    import json as _json

    from .storage import load_payload

    try:
        payload = load_payload(weights_path(name, out or FOLDER))
        _json.loads(info_path(name, out or FOLDER).read_text())
    except (OSError, ValueError, RuntimeError):
        return False
    from sslviz.core.errors import SslvizError
    from sslviz.training.config import RunConfig

    try:  # a field added to RunConfig since the build reads as its default (e.g. final_scores, which trains nothing)
        stored = RunConfig.from_dict(payload.get("config") or {}).to_dict()
    except SslvizError:
        return False
    return stored == resolved_config(name, time_budget)


def repack(name: str, out: Path | None = None) -> bool:
    """Store an entry built in an older FORMAT in the current one, without retraining (its recorded
    figures still hold: the install re-scores it and tests/test_zoo.py compares). True if rewritten."""
    from .storage import load_payload, pack_state, unpack_state

    path = weights_path(name, out or FOLDER)
    payload = load_payload(path)
    if payload.get("format", 1) >= FORMAT:
        return False
    if payload.get("format", 1) < 2:  # float16 weights: pack them (format 2 is packed, only not compressed)
        payload["model"] = pack_state(unpack_state(payload["model"]))
    payload["format"] = FORMAT
    _save(payload, path)
    from .verify import stamp

    stamp([name], out)  # new bytes, new hash: the sidecar follows
    return True


def build(names: list[str] | None = None, out: Path | None = None, time_budget: float | None = None,
          force: bool = False) -> list[dict]:
    """Build the named entries (default: all), one after the other; an entry already built with its
    current recipe is skipped (force=True rebuilds it), so a long build can run in parts."""
    results = []
    for name in names or list(CATALOG):
        config_for(name)  # unknown name: fail before anything trains
    for name in names or list(CATALOG):
        if not force and up_to_date(name, out, time_budget):
            note = "; stored in the current format" if repack(name, out) else ""
            print(f"{name}: already built with its current recipe; skipped (--force rebuilds it){note}", file=sys.stderr)
            continue
        print(f"building {name} ...", file=sys.stderr)
        results.append(build_one(name, out, time_budget))
        r = results[-1]
        print(f"  {name}: kNN {r.get('knn_accuracy')} (raw pixels {r.get('knn_pixels')}, untrained "
              f"{r.get('knn_random_init')}); 10 labels per class {r.get('few_label_linear')} (raw pixels "
              f"{r.get('few_label_pixels')}, untrained {r.get('few_label_random_init')}) after {r.get('epochs')} "
              f"epochs, {r.get('seconds')} s, {r['bytes'] / 1e6:.2f} MB", file=sys.stderr)
    return results
