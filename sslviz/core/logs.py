"""Logs in the run store: one rotating file per process (logs/<role>-<pid>.log, 2 MB, 4 old copies).

Why one file per process: the server and every worker write at the same time, and Python's
RotatingFileHandler cannot rotate a file that another process also writes (the other keeps writing
into the renamed copy, and lines are lost or land out of place). A process only ever rotates its
own file, so nothing is lost. `read_logs(root)` puts them back together for a reader (the doctor,
the tests); each line carries its process id and time.

`setup_logging(root)` attaches the process's handler to the "sslviz" logger, replacing the handler
of a store the process used before (tests open many stores in one process; a server or a worker
uses one). A read-only store means no log file, never an error. Files of processes that have
ended are pruned beyond the newest KEEP_FILES.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_DIR = "logs"
MAX_BYTES = 2_000_000
BACKUPS = 4
KEEP_FILES = 50  # log files (with their rotated copies) of ended processes kept in the store
_handler: RotatingFileHandler | None = None


def role() -> str:
    """What this process is, for its log file's name: server, worker or cli."""
    argv = " ".join(sys.argv)
    if "streamlit" in argv:
        return "server"
    if " worker " in f" {argv} ":
        return "worker"
    return "cli"


def log_path(root: str | os.PathLike, pid: int | None = None, name: str | None = None) -> Path:
    return (Path(root) / LOG_DIR / f"{name or role()}-{pid or os.getpid()}.log").resolve()


def setup_logging(root: str | os.PathLike, level: int = logging.INFO, max_bytes: int = MAX_BYTES,
                  backups: int = BACKUPS, name: str | None = None) -> logging.Logger:
    """Log to this process's own file in <root>/logs from now on (idempotent per store); the logger."""
    global _handler
    log = logging.getLogger("sslviz")
    path = log_path(root, name=name)
    if _handler is not None and Path(_handler.baseFilename) == path:
        return log
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError:
        return log  # a read-only store: logging must never stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    if _handler is not None:
        log.removeHandler(_handler)
        _handler.close()
    log.addHandler(handler)
    log.setLevel(level)
    _handler = handler
    prune(path.parent, keep=KEEP_FILES, own=path)
    return log


def log_files(root: str | os.PathLike) -> list[Path]:
    """Every log file in the store (rotated copies included), oldest change first."""
    folder = Path(root) / LOG_DIR
    try:
        files = [p for p in folder.iterdir() if p.is_file() and ".log" in p.name]
    except OSError:
        return []
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def read_logs(root: str | os.PathLike) -> str:
    """All the store's log files as one text (a reader's view: file by file, oldest first)."""
    out = []
    for p in log_files(root):
        try:
            out.append(p.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            pass
    return "".join(out)


def prune(folder: Path, keep: int, own: Path | None = None) -> None:
    """Remove the files of ended processes beyond the newest `keep` (never this process's)."""
    from .processes import process_alive

    groups: dict[str, list[Path]] = {}
    try:
        for p in folder.iterdir():
            base = p.name.split(".log")[0]
            groups.setdefault(base, []).append(p)
    except OSError:
        return
    ended = []
    for base, files in groups.items():
        pid = base.rsplit("-", 1)[-1]
        if (own is not None and base == own.name.split(".log")[0]) or (pid.isdigit() and process_alive(int(pid))):
            continue
        try:
            ended.append((max(f.stat().st_mtime for f in files), files))
        except OSError:
            continue
    for _, files in sorted(ended, key=lambda t: t[0], reverse=True)[keep:]:
        for f in files:
            try:
                f.unlink()
            except OSError:
                pass
