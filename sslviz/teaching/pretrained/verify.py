"""The zoo proves its figures when it installs (issue 25, point 2).

Two checks, so that a stale or swapped checkpoint can neither install silently nor teach figures
its weights do not have:

1. **The weights are the ones the sidecar describes.** Each `<name>.json` records the full sha256 of
   its `<name>.pt` (`weights_sha256`, written by `build` and by `python -m sslviz pretrained stamp`
   for entries built before it). The installer checks it before it reads anything else; a mismatch,
   or a sidecar without one, leaves that entry out with one line naming the file and both hashes'
   first 12 digits, and the other entries install.
2. **The recorded figures are re-scored.** The installer scores the installed network with the
   trainer's own Monitor, on the data the figures were recorded on: the same seeded bank (eval_train_max
   training images) and test subset (eval_test_max test images), weighted kNN with k = 20, and the
   linear probe on 10 labelled images per class over the trainer's fixed draws. `check` compares those
   with the sidecar's summary; a figure further than TOLERANCE from its record flags the run. The run's
   summary then carries the re-scored figures (what every page shows) and `zoo_check`: recorded,
   re-scored, tolerance, verdict and, when flagged, the flag in words with both numbers.

Re-scoring costs nothing the install did not already pay: the Monitor's pass over the trained
network (its embedding of bank and test images, kNN, the few-label probe) was there to write the
run's snapshot; the hash reads each file once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sslviz.core.errors import SslvizError

from . import CATALOG, available, info_path, weights_path

HASH_KEY = "weights_sha256"

# How far a re-scored figure may sit from the recorded one and still count as reproduced. Re-scoring
# on another CPU or BLAS, or from the int8 weights that ship rather than the float32 ones the build
# scored, changes the last digits: installing all 38 shipped entries (2026-12-07, this 2-core machine,
# loaded) re-scored every one within 0.0055 of its record in kNN (cpc-shapes; one test image is 0.0005)
# and within 0.0018 on the 10-labels-per-class probe. A stale or swapped checkpoint moves them by points;
# 0.02 is four times the largest gap measured. (Another entry's weights on the same data can land within
# a point, SimCLR and VICReg on MNIST record 0.966 and 0.974: that is what the hash is for.)
TOLERANCE = 0.02
FIGURES = {"knn_accuracy": "kNN", "few_label_linear": "10 labels per class"}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_weights(name: str, folder: Path | None = None) -> None:
    """Raise SslvizError (one line: the file, the expected and the found hash's first 12 digits) unless
    <name>.pt is the file its sidecar's weights_sha256 names."""
    weights, sidecar = weights_path(name, folder), info_path(name, folder)
    try:
        expected = json.loads(sidecar.read_text()).get(HASH_KEY)
        found = sha256_of(weights)
    except (OSError, ValueError, AttributeError) as exc:
        raise SslvizError(f"pretrained {name}: cannot read its files ({exc})") from None
    if not expected:
        raise SslvizError(f"pretrained {name}: {sidecar.name} records no {HASH_KEY} for {weights.name} (expected "
                          f"none, found {found[:12]}); not installed: run `python -m sslviz pretrained stamp`")
    if found != expected:
        raise SslvizError(f"pretrained {name}: {weights.name} is not the file {sidecar.name} describes "
                          f"(sha256 expected {expected[:12]}, found {found[:12]}); not installed")


def check(recorded: dict, rescored: dict, tolerance: float = TOLERANCE) -> dict:
    """The comparison stored with an installed run (its summary's zoo_check): recorded and re-scored
    figures, the tolerance, the verdict ("ok" or "flagged") and, when flagged, the flag in words."""
    rec = {k: recorded.get(k) for k in FIGURES if recorded.get(k) is not None}
    new = {k: rescored.get(k) for k in FIGURES if rescored.get(k) is not None}
    off = [k for k in rec if k in new and abs(float(new[k]) - float(rec[k])) > tolerance]
    off += [k for k in rec if k not in new]  # recorded but no longer measurable: not reproduced either
    out = {"recorded": rec, "rescored": new, "tolerance": tolerance, "verdict": "flagged" if off else "ok"}
    if off:
        parts = [f"{FIGURES[k]} {new[k]:.3f} re-scored, {rec[k]:.3f} recorded" if k in new
                 else f"{FIGURES[k]} not re-scored, {rec[k]:.3f} recorded" for k in off]
        out["flag"] = "figures not reproduced: " + "; ".join(parts)
    return out


def last_rows_rescored(rows: list, rescored: dict) -> list:
    """The metric rows with each figure's last row (the end of the curve) holding its re-scored value."""
    rows = [tuple(r) for r in rows]
    for key in FIGURES:
        last = max((i for i, r in enumerate(rows) if r[3] == key), default=None)
        if last is not None and rescored.get(key) is not None:
            rows[last] = (*rows[last][:4], rescored[key])
    return rows


def stamp(names: list[str] | None = None, folder: Path | None = None) -> dict[str, str]:
    """Write each entry's weights_sha256 into its sidecar (nothing else changes in it; the .pt is only
    read). Returns {name: "stamped" | "unchanged"}."""
    from sslviz.core.files import atomic_write_text

    out = {}
    for name in names or available(folder):
        if name not in CATALOG:
            raise SslvizError(f"pretrained stamp: unknown checkpoint '{name}'; known: {', '.join(CATALOG)}")
        sidecar = info_path(name, folder)
        try:
            info = json.loads(sidecar.read_text())
            digest = sha256_of(weights_path(name, folder))
        except (OSError, ValueError) as exc:
            raise SslvizError(f"pretrained stamp: cannot read {name}'s files ({exc})") from None
        if info.get(HASH_KEY) == digest:
            out[name] = "unchanged"
            continue
        atomic_write_text(sidecar, dump_info(with_hash(info, digest)))
        out[name] = "stamped"
    return out


def with_hash(info: dict, digest: str) -> dict:
    """The sidecar's dict with weights_sha256 placed before its summary (where a reader looks first)."""
    out = {k: v for k, v in info.items() if k not in (HASH_KEY, "summary", "metrics")}
    out[HASH_KEY] = digest
    out.update({k: v for k, v in info.items() if k in ("summary", "metrics")})
    return out


def dump_info(info: dict) -> str:
    """A sidecar's text, as build writes it (compact, one line)."""
    return json.dumps(info, separators=(",", ":")) + "\n"
