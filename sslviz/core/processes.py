"""Is a process still the one we started? Its pid plus the kernel's start time tell."""

from __future__ import annotations

import os
from pathlib import Path


def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of a process (clock ticks since boot) on Linux, else None.

    Stored with the pid, it tells a live worker from an unrelated process that reused its pid.
    """
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def process_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Is `pid` a live (not zombie) process, started at `start_ticks` when that is known?"""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        if Path("/proc/self/stat").exists():
            return False  # Linux, and no such process
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    if fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == int(start_ticks)
