"""Helpers shared by the label-efficiency and compare tests: finished tiny runs in a store.

A tiny run (digits at 16 px, one epoch) is trained once per test process and configuration, then
copied into each test's store (checkpoint, embedding snapshots, metric rows and summary): the
store then holds a finished run exactly as the worker leaves one, for a fraction of the time.
"""

import atexit
import shutil
import tempfile
import time
from pathlib import Path

from conftest import tiny_config

_trained: dict = {}


def _train(**over):
    from sslviz.training import train
    from sslviz.training.train import Reporter

    key = repr(sorted(over.items()))
    if key not in _trained:
        path = Path(tempfile.mkdtemp(prefix="sslviz-labeleff-run-"))
        atexit.register(shutil.rmtree, path, True)
        cfg = tiny_config(**over)
        report = Reporter()
        summary = train.run(cfg, path, report)
        _trained[key] = (path, cfg, summary, report.rows)
    return _trained[key]


def finished_run(store, **over) -> str:
    """A completed copy of the tiny run of this configuration in `store`; returns its id."""
    path, cfg, summary, rows = _train(**over)
    run_id = store.create(cfg.to_dict(), status="running")
    for f in path.iterdir():
        if f.name == "checkpoint.pt" or f.name.startswith("embeddings_"):
            shutil.copy(f, store.run_dir(run_id) / f.name)
    store.add_metrics(run_id, rows)
    store.update(run_id, status="completed", summary=summary, progress=1.0, ended=time.time())
    return run_id


def wait_for(predicate, timeout: float = 120.0, poll: float = 0.3):
    """Poll until predicate() is truthy (returns it) or the timeout passes (returns the last value)."""
    deadline = time.time() + timeout
    value = predicate()
    while not value and time.time() < deadline:
        time.sleep(poll)
        value = predicate()
    return value
