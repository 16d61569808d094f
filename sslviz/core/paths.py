"""Where sslviz keeps its files: the run store (default ./runs) and caches inside it.

Order of precedence: an explicit argument (--runs-dir), then $SSLVIZ_HOME, then ./runs.
"""

from __future__ import annotations

import os
from pathlib import Path


def home(runs_dir: str | os.PathLike | None = None) -> Path:
    """The run store directory (created if missing)."""
    path = Path(runs_dir or os.environ.get("SSLVIZ_HOME") or "runs").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(runs_dir: str | os.PathLike | None = None) -> Path:
    """Cached datasets and other derived files that can always be rebuilt."""
    path = home(runs_dir) / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
