"""Projections for the server, computed beside it, and the numba warm-up.

Why not the worker queue: a projection takes a second or a few, and a fresh process would spend
longer starting and loading its libraries than the projection takes. Why not a plain thread:
umap-learn's numba loops and scikit-learn's t-SNE hold the GIL, which stalls every session's
page script. So a thread of
the server waits while the work runs in one long-lived child process (`sslviz.core.compute_pool`),
which keeps the compiled code warm between jobs.

- `jobs()` is one thread per process with a de-duplicating queue: many browser tabs asking for
  the same projection (same key, e.g. its cache path) share one computation. The thread is a
  daemon, so it never keeps a process (a test run, the CLI) alive. `submit_to_child` runs a
  module-level function in the child process; `submit` runs any callable in the thread.
- A failed job keeps its exception (a one-line SslvizError for bad input): the page shows it,
  and the same request is not retried on every poll; `submit(..., retry=True)` tries again. A job
  that failed only because the compute child died under it (compute_pool.ChildStopped) is asked
  again at the next request: its one line says "try again", and trying again works.
- `warm_up_in_background()` is called by every page (sslviz.ui.common.page) and starts the
  warm-up once per process: tiny UMAP fits (2D, 3D) and a PCA, which loads (or,
  the very first time, compiles and caches) every numba function a projection needs, in the
  child process. A page that asks for a projection meanwhile simply queues behind it.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np

_warm = {"started": False, "done": False, "seconds": None, "error": None}


def warm_up() -> float:
    """Compile (or load from numba's disk cache) everything a projection needs; returns seconds."""
    from .projection import ProjectionParams, project

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    for dims in (2, 3):
        project(x, ProjectionParams(method="umap", dims=dims, n_epochs=20, max_points=300))
    project(x, ProjectionParams(method="pca"))
    # not t-SNE: it would import scikit-learn (about 1 s) before a class's first UMAP, which
    # queues behind the warm-up; a t-SNE takes seconds anyway and pays that itself
    seconds = round(time.perf_counter() - t0, 3)
    _warm.update(done=True, seconds=seconds)
    return seconds


def warm_state() -> dict:
    """{'started', 'done', 'seconds', 'error'} of this process's warm-up."""
    return dict(_warm)


class Jobs:
    """One daemon thread running submitted callables in order, de-duplicated by key."""

    def __init__(self):
        self._queue: queue.PriorityQueue = queue.PriorityQueue()  # (priority, order, job): quick jobs first
        self._order = 0
        self._jobs: dict[str, Future] = {}
        self._progress: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sslviz-projection", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            _, _, (future, fn, args, kwargs) = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # kept on the future; the page shows it
                future.set_exception(exc)

    def submit(self, key: str, fn, *args, retry: bool = False, priority: int = 1, **kwargs) -> Future:
        """Queue fn(*args, **kwargs) under `key`, or return the job already known by that key.

        priority 0 goes before every queued priority-1 job (a PCA or a baseline embedding a page
        is waiting for should not queue behind a class's UMAPs); equal priorities run in order."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not ((retry or _child_stopped(job)) and job.done() and job.exception() is not None):
                return job
            if len(self._jobs) > 256:  # forget finished jobs (their results live in the cache files)
                for k in [k for k, f in self._jobs.items() if f.done()][:128]:
                    self._drop(k)
            job = Future()
            self._jobs[key] = job
            self._order += 1
            self._queue.put((priority, self._order, (job, fn, args, kwargs)))
            return job

    def submit_to_child(self, key: str, fn, *args, retry: bool = False, priority: int = 1, **kwargs) -> Future:
        """Like submit, but fn (a module-level function, with picklable arguments) runs in the
        compute child process (sslviz.core.compute_pool): its GIL is not the server's."""
        from sslviz.core import compute_pool

        return self.submit(key, compute_pool.call, fn, *args, retry=retry, priority=priority, **kwargs)

    def get(self, key: str) -> Future | None:
        return self._jobs.get(key)

    def forget(self, key: str) -> None:
        """Drop a finished job (its result is kept elsewhere, e.g. a large embedding in the page
        cache); a running or queued one stays."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.done():
                self._drop(key)

    def _drop(self, key: str) -> None:  # with self._lock held
        self._jobs.pop(key, None)
        self._progress.pop(key, None)

    def set_progress(self, key: str, done: int, total: int) -> None:
        self._progress[key] = (done, total)

    def progress(self, key: str) -> tuple[int, int] | None:
        return self._progress.get(key)

    def pending(self) -> int:
        """Jobs queued or running."""
        return sum(1 for f in list(self._jobs.values()) if not f.done())


_jobs: Jobs | None = None
_jobs_lock = threading.Lock()


def _child_stopped(job: Future) -> bool:
    """A job that failed only because the compute child died under it: asking again may simply work
    (the next call starts a fresh child), so it is not kept as this request's answer."""
    from sslviz.core.compute_pool import ChildStopped

    return job.done() and isinstance(job.exception(), ChildStopped)


def jobs() -> Jobs:
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            _jobs = Jobs()
        return _jobs


def warm_up_in_background() -> Future:
    """Start the warm-up once per process (idempotent and cheap after the first call)."""
    if _warm["started"]:
        return jobs().get("warm-up")

    def run():
        from sslviz.core import compute_pool

        try:
            seconds = compute_pool.call(warm_up)
            _warm.update(done=True, seconds=seconds)
            return seconds
        except Exception as exc:  # never fatal: the first projection then compiles itself
            _warm["error"] = f"{type(exc).__name__}: {exc}"
            return None

    _warm["started"] = True
    return jobs().submit("warm-up", run)


def project_sequence_job(key: str, feats: list, params, caches: list):
    """The aligned projections of a run's snapshots (for the compute child), reporting progress."""
    from sslviz.core import compute_pool

    from .alignment import project_sequence

    return project_sequence(feats, params, caches, progress=lambda d, t: compute_pool.report(key, d, t))


def submit_sequence(key: str, feats: list, params, caches: list) -> Future:
    """Queue `project_sequence_job` in the child; its progress shows in jobs().progress(key)."""
    from sslviz.core import compute_pool

    compute_pool.on_progress(key, lambda d, t: jobs().set_progress(key, d, t))
    job = jobs().submit_to_child(key, project_sequence_job, key, feats, params, caches)
    job.add_done_callback(lambda f: f.exception() is not None and compute_pool.forget_progress(key))
    return job


def wait(future: Future | None, timeout: float) -> bool:
    """True when the job finished (successfully or not) within `timeout` seconds."""
    if future is None:
        return False
    try:
        future.exception(timeout=timeout)
        return True
    except TimeoutError:
        return False
    except Exception:
        return True
