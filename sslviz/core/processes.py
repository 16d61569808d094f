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


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def exit_with_parent(parent_pid: int, kernel_signal: bool = True, poll: float = 0.25) -> str:
    """In a child process: end this process (its current work included) when `parent_pid` ends,
    however it ends (a clean exit, SIGKILL, a crash). Returns how it is watched.

    Two guards. On Linux, prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills this process the moment
    its parent goes, even in the middle of a numba loop that holds the GIL. The kernel sends it when
    the parent *thread* that started this process ends, so pass kernel_signal=True only when that
    thread lasts as long as its process (sslviz.core.compute_pool starts its child from such a
    thread). Everywhere, a daemon thread that checks os.getppid() every `poll` seconds: a child whose
    parent died is handed to another process (init, or a subreaper), so the id changes; it then
    ends the process with os._exit (no cleanup: its work was for the parent alone).
    """
    import signal
    import sys
    import threading
    import time

    how = "getppid"
    if kernel_signal and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl+getppid"
        except (OSError, AttributeError):  # no libc with prctl here: the thread below still watches
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent went before the guards were set
        os._exit(1)
    threading.Thread(target=watch, name="sslviz-parent-watch", daemon=True).start()
    return how
