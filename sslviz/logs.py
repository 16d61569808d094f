"""One rotating log file in the run store (logs/sslviz.log, 5 files of 2 MB) for the server,
the workers and the CLI. Each process calls `setup_logging` once."""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

_done: set[str] = set()


def setup_logging(root: str | os.PathLike, level: int = logging.INFO) -> logging.Logger:
    log = logging.getLogger("sslviz")
    folder = Path(root) / "logs"
    key = str(folder)
    if key in _done:
        return log
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / "sslviz.log", maxBytes=2_000_000, backupCount=4, encoding="utf-8")
    except OSError:
        return log  # a read-only store: logging must never stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    _done.add(key)
    return log
