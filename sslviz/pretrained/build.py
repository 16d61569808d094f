"""Build the shipped checkpoints with the project's own trainer (`python -m sslviz pretrained build`).

Each catalogue entry is trained by `sslviz.train.run` exactly as the UI or the CLI would train it
(same RunConfig, same augmentation engine, same monitor), into a temporary run directory. Its
checkpoint is then slimmed: the optimiser state and random-generator states are dropped (a
shipped run is finished, never resumed) and floating-point weights are stored as float16. The
metric rows the trainer reported go into the JSON sidecar with the summary.

Budgets are wall-clock (``time_budget``), so a build on a busy machine trains fewer steps; rebuild
on a quiet machine for the best checkpoints (``--time-budget`` overrides every entry's budget).
"""

from __future__ import annotations

import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import CATALOG, FOLDER, config_for, info_path, weights_path

FORMAT = 1


class _Collect:
    """A trainer Reporter that keeps every metric row and prints progress now and then."""

    def __init__(self, name: str):
        self.name, self.rows, self._last = name, [], 0.0

    def metrics(self, step, epoch, elapsed, values):
        self.rows += [[int(step), round(float(epoch), 4), round(float(elapsed), 3), k, float(v)]
                      for k, v in values.items() if v is not None]

    def progress(self, fraction, eta, message=""):
        if time.monotonic() - self._last > 10:
            print(f"  {self.name}: {fraction:.0%} {message}", file=sys.stderr)
            self._last = time.monotonic()

    def should_stop(self) -> bool:
        return False

    def flush(self) -> None:
        pass


def slim_state(state: dict) -> dict:
    """float16 copies of the floating-point tensors; integer buffers (e.g. BN counters) as they are."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def build_one(name: str, out: Path | None = None, time_budget: float | None = None) -> dict:
    """Train one catalogue entry and write <name>.pt and <name>.json into `out`; returns the summary."""
    from ..config import RunConfig
    from ..train import load_checkpoint, run

    cfg = config_for(name)
    if time_budget:
        cfg["time_budget"] = float(time_budget)
    config = RunConfig.from_dict(cfg)
    report = _Collect(name)
    with tempfile.TemporaryDirectory(prefix=f"sslviz-pretrained-{name}-") as tmp:
        summary = run(config, Path(tmp), report)
        ckpt = load_checkpoint(Path(tmp) / "checkpoint.pt")
    payload = {
        "format": FORMAT,
        "name": name,
        "config": config.to_dict(),
        "model": slim_state(ckpt["model"]),
        "epoch": int(ckpt.get("epoch", summary.get("epochs", 0))),
        "step": int(ckpt.get("step", summary.get("steps", 0))),
        "elapsed": float(ckpt.get("elapsed", summary.get("seconds", 0.0))),
    }
    out = Path(out or FOLDER)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(payload, buf)
    weights_path(name, out).write_bytes(buf.getvalue())
    info = {
        "name": name,
        "built": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "summary": summary,
        "metrics": report.rows,
    }
    info_path(name, out).write_text(json.dumps(info, indent=0) + "\n")
    return {"name": name, "bytes": len(buf.getvalue()), **summary}


def build(names: list[str] | None = None, out: Path | None = None, time_budget: float | None = None) -> list[dict]:
    """Build the named entries (default: all), one after the other."""
    results = []
    for name in names or list(CATALOG):
        config_for(name)  # unknown name: fail before anything trains
    for name in names or list(CATALOG):
        print(f"building {name} ...", file=sys.stderr)
        results.append(build_one(name, out, time_budget))
        r = results[-1]
        print(f"  {name}: kNN {r.get('knn_accuracy')} (raw pixels {r.get('knn_pixels')}, untrained "
              f"{r.get('knn_random_init')}) after {r.get('epochs')} epochs, {r.get('seconds')} s, "
              f"{r['bytes'] / 1e6:.2f} MB", file=sys.stderr)
    return results
