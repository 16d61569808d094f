"""When the Streamlit server stops (Ctrl-C, SIGTERM), its process ends at once.

Measured before (issue 25; 2 busy cores, a fresh store, the zoo installing, SIGTERM 8 s after
the home page opened): 20.5, 21.4 and 31.0 s from the signal to the exit, two of them ending in
"terminate called without an active exception" (SIGABRT, exit status -6). What held it, in order:
1. concurrent.futures joined the compute pool's manager thread, which waited for the child's job
   in hand (the numba warm-up, 17 s) - sslviz.core.compute_pool now kills its child as the
   interpreter starts to exit (in every process that used it);
2. the interpreter's finalisation then ran full garbage collections over the server's ~370,000
   objects (torch, scikit-learn, plotly, the datasets): 1 to 3.5 s on busy cores;
3. the zoo install's daemon thread, inside a torch operation when finalisation began, was ended
   by the interpreter in C++ code that may not be unwound: std::terminate, SIGABRT.
So `exit_promptly_when_stopped()` (called by every page, cheap after the first call) registers a
hook that runs as the interpreter starts to exit, before any thread is joined. When Streamlit's
runtime says it has stopped, the hook stops the compute child, runs multiprocessing's exit
finalizers (unlinks its semaphores: no "leaked semaphore" warning), flushes the logs and the standard streams
and ends the process with os._exit(0). Nothing of the server is needed once its runtime stopped,
and what it was writing stays whole: SQLite rolls back an unfinished transaction, files are
written by rename, and an entry half-installed is removed by the next install. Training runs are
processes of their own session (sslviz.training.worker.launch) and keep running.
Any other exit (an error at start-up, with its own status; a test process; AppTest, which has no
runtime) takes Python's normal path.
"""

from __future__ import annotations

import os
import sys
import threading

_state = {"registered": False}


def server_stopped() -> bool:
    """Is this a `streamlit run` server whose runtime has stopped?"""
    try:
        from streamlit.runtime import Runtime, RuntimeState
    except ImportError:
        return False
    return Runtime.exists() and Runtime.instance().state == RuntimeState.STOPPED


def _exit_now() -> None:
    if not server_stopped():
        return
    import logging

    from sslviz.core import compute_pool

    compute_pool.shutdown()
    try:
        import multiprocessing.util

        multiprocessing.util._run_finalizers(0)  # as at a normal exit: the queues' semaphores unlinked
    except Exception:  # noqa: BLE001 - a private function: never let it keep the server alive
        pass
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def exit_promptly_when_stopped() -> None:
    """Once per process: end it as soon as the interpreter starts to exit after the server stopped."""
    if _state["registered"]:
        return
    import concurrent.futures.process  # noqa: F401 - their exit hooks (which join threads) are
    import concurrent.futures.thread  # noqa: F401 - registered first, so they run after this one

    register = getattr(threading, "_register_atexit", None)  # how concurrent.futures does it
    if register is None:
        return
    try:
        register(_exit_now)
    except RuntimeError:  # the interpreter is already exiting
        return
    _state["registered"] = True
