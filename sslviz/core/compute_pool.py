"""One long-lived child process for the server's own numeric work: projections, factor probes,
clusterings and few-shot colourings, and the first computation of a baseline embedding.

Why a child process and not a thread: numba loops and scikit-learn's solvers hold Python's GIL
for much of their run, and a randomised PCA of raw pixels runs many small torch steps; in a
thread of the Streamlit server they compete with every browser session's script. Profiled
under the classroom load test (30 sessions, py-spy on the server): the projection and probe
threads took 31% of the server's samples, and page runs queued behind them. In a child, they run
beside the server instead of inside it.

Why one child that lives as long as the server: importing torch and scikit-learn and loading
numba's compiled functions costs seconds, paid once (the warm-up runs there) and then kept
between jobs.

- `call(fn, *args, **kwargs)` runs a module-level function in the child and returns its result
  (or raises its exception, e.g. a one-line SslvizError). It blocks: call it from a background
  thread (`projection_jobs.Jobs.submit_to_child`), never from a page script.
- `report(key, done, total)`, called inside the child, reaches `on_progress(key, callback)`
  callbacks in the server (progress bars of multi-step jobs).
- A child that dies (killed, out of memory) is replaced on the next call; the job that was
  running fails with one line.
- The child uses one core (one torch, numba and OpenMP thread) at a lower priority (nice +5;
  trainers run at +10) than the server, so the server's page scripts always have a core to run on:
  with the child on two threads, every page stalled while a UMAP ran.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .errors import SslvizError

NICE = 5
_ctx = multiprocessing.get_context("spawn")  # the server has many threads: never fork it
_lock = threading.Lock()
_state: dict = {"pool": None}
_callbacks: dict[str, object] = {}
_child_queue = None  # in the child: where report() writes


def _init_child(progress_queue, nice: int) -> None:
    global _child_queue
    _child_queue = progress_queue
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # read when numba / scikit-learn / torch load, which is after this
    try:
        os.nice(nice)
    except OSError:
        pass


def report(key: str, done: int, total: int) -> None:
    """In the child: tell the server how far job `key` is (a no-op outside the child)."""
    if _child_queue is not None:
        _child_queue.put((key, done, total))


def on_progress(key: str, callback) -> None:
    """In the server: callback(done, total) for each report(key, ...) the child sends, until the
    last one (done == total) or `forget_progress(key)`."""
    _callbacks[key] = callback


def forget_progress(key: str) -> None:
    """Stop calling back for `key` (its job failed before its last report)."""
    _callbacks.pop(key, None)


def _listen(progress_queue) -> None:
    while True:
        try:
            key, done, total = progress_queue.get()
        except (EOFError, OSError, ValueError):
            return
        callback = _callbacks.pop(key, None) if done >= total else _callbacks.get(key)  # the last report: forget
        if callback is not None:
            callback(done, total)


def _pool() -> ProcessPoolExecutor:
    with _lock:
        if _state["pool"] is None:
            progress_queue = _ctx.Queue()
            _state["pool"] = ProcessPoolExecutor(max_workers=1, mp_context=_ctx, initializer=_init_child,
                                                 initargs=(progress_queue, NICE))
            threading.Thread(target=_listen, args=(progress_queue,), name="sslviz-compute-progress",
                             daemon=True).start()
        return _state["pool"]


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs) in the child process; blocks until it returns."""
    pool = _pool()
    try:
        return pool.submit(fn, *args, **kwargs).result()
    except BrokenProcessPool:
        with _lock:
            if _state["pool"] is pool:
                _state["pool"] = None
        pool.shutdown(wait=False, cancel_futures=True)
        raise SslvizError("the background computation process stopped (out of memory?); try again") from None


def child_pid() -> int | None:
    """The child's process id, once it has started."""
    pool = _state["pool"]
    procs = getattr(pool, "_processes", None) or {}
    return next(iter(procs), None)
