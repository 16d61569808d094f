"""The papers' figures of every shipped entry, kept in its sidecar (issue 24, point 1).

    python -m sslviz pretrained papers [--only NAME ...]

Each entry is installed into a temporary run store as a user gets it and scored there with the
papers' protocol (sslviz/training/final_scores.py: kNN with the whole training split as the bank on
the whole test split, k = 20 and 200, and the linear probe on all training labels; raw pixels and the
untrained network the same way). The block goes into the sidecar's summary under "papers", with the
date and the machine; the install copies the summary, so an installed zoo run shows these figures
wherever a final accuracy is shown, without the scoring button. Only the sidecar changes: the .pt
and its sha256 stay as they are. Run it on a quiet machine (the protocol's timings are recorded).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from . import CATALOG, available, info_path


def score(names: list[str] | None = None, folder: Path | None = None, log=print) -> dict[str, dict]:
    """Score the entries and write each one's block into its sidecar; {name: block}."""
    import torch

    from sslviz.core.errors import SslvizError
    from sslviz.core.files import atomic_write_text
    from sslviz.training.final_scores import SUMMARY_KEY, score_stored_run
    from sslviz.training.runs import RunStore

    from .install import install_one
    from .verify import dump_info

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)  # one store: the baselines are scored once per dataset (its cache)
        for name in names or available(folder):
            if name not in CATALOG:
                raise SslvizError(f"pretrained papers: unknown checkpoint '{name}'; known: {', '.join(CATALOG)}")
            run_id = install_one(store, name, folder)
            block = dict(score_stored_run(store, run_id))
            block.update(scored=time.strftime("%Y-%m-%d %H:%M"),
                         machine=f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
            sidecar = info_path(name, folder)
            info = json.loads(sidecar.read_text())
            info["summary"] = {**info.get("summary", {}), SUMMARY_KEY: block}
            atomic_write_text(sidecar, dump_info(info))
            out[name] = block
            log(f"{name}: kNN k=20 {block['knn20']:.3f}, k=200 {block['knn200']:.3f}, linear {block['linear']:.3f} "
                f"({block['bank']:,} bank / {block['test']:,} test, {block['seconds']:.1f} s)")
    return out
