"""One rotating log file in the run store (logs/sslviz.log, 5 files of 2 MB) for the server,
the workers and the CLI.

Each process logs to the store it works with: `setup_logging(root)` attaches one rotating file
handler to the "sslviz" logger, replacing the handler of a store the process used before (tests
open many stores in one process; a server or a worker uses one). A read-only store means no log
file, never an error. Records carry the process id, so the server's lines and each worker's can
be told apart in the one file.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FILE = "logs/sslviz.log"
_handler: RotatingFileHandler | None = None


def setup_logging(root: str | os.PathLike, level: int = logging.INFO) -> logging.Logger:
    """Log to <root>/logs/sslviz.log from now on (idempotent per store); returns the logger."""
    global _handler
    log = logging.getLogger("sslviz")
    path = (Path(root) / LOG_FILE).resolve()
    if _handler is not None and Path(_handler.baseFilename) == path:
        return log
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=4, encoding="utf-8")
    except OSError:
        return log  # a read-only store: logging must never stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    if _handler is not None:
        log.removeHandler(_handler)
        _handler.close()
    log.addHandler(handler)
    log.setLevel(level)
    _handler = handler
    return log

