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

Nothing outlives the server (issue 25):
- The child ends when the server ends, however it ends (`processes.exit_with_parent`: on Linux
  the kernel's parent-death signal, SIGKILL, which stops a numba loop that holds the GIL; everywhere
  a thread in the child that watches os.getppid()). The parent-death signal fires when the *thread*
  that started the child ends, so the child is started from one daemon thread that lasts as long as
  the server (`_in_lasting_thread`), never from a page script's thread or a passing job thread.
  Measured before: 20 s after a server was killed with SIGKILL its child still ran (1.8 s of CPU
  in the next 10 s, on 2 busy cores), its parent now init.
- When the server exits normally (Ctrl-C, SIGTERM), the child is killed as the interpreter begins
  to exit, before concurrent.futures joins the pool's manager thread, which would otherwise wait
  for the job in hand (measured: the exit waited 17 s for a warm-up, the zoo installing, 2 busy cores).
  The job in hand is thrown away (its caller is going too). `shutdown()` does the same on demand.
- The child does not run the server's __main__ (a page script, under Streamlit) again: see
  `_without_main`.
- Pass functions of importable modules, not of a script run as __main__ (the child cannot find those).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .errors import SslvizError
from .processes import exit_with_parent

NICE = 5
SPAWNER = "sslviz-compute-spawner"  # the thread that starts the child (see _in_lasting_thread)
_ctx = multiprocessing.get_context("spawn")  # the server has many threads: never fork it
_lock = threading.Lock()
_state: dict = {"pool": None, "spawner": None, "exit_hook": False}
_callbacks: dict[str, object] = {}
_child_queue = None  # in the child: where report() writes


def _init_child(progress_queue, nice: int, parent_pid: int) -> None:
    global _child_queue
    _child_queue = progress_queue
    exit_with_parent(parent_pid)  # kernel signal too: started from _in_lasting_thread
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


def _without_main(get_preparation_data):
    """multiprocessing's spawn runs the parent's __main__ module again in the child. In the server,
    Streamlit makes the page script it runs the __main__ module (app.py or a page), so the child ran
    a page in bare mode: seen, the home page's 99 "missing ScriptRunContext" warnings in the log and a
    second zoo install thread and warm-up inside the child. The child needs nothing from __main__ (its
    functions live in importable modules), so the children the spawner thread starts skip it."""

    @functools.wraps(get_preparation_data)
    def prepared(name):
        data = get_preparation_data(name)
        if threading.current_thread().name == SPAWNER:
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    return prepared


def _in_lasting_thread(fn):
    """fn() in one daemon thread that lives as long as this process; returns its result (or raises)."""
    if _state["spawner"] is None:  # with _lock held
        from multiprocessing import spawn

        spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
        requests: queue.SimpleQueue = queue.SimpleQueue()

        def serve() -> None:
            while True:
                work, done = requests.get()
                try:
                    done.set_result(work())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    done.set_exception(exc)

        threading.Thread(target=serve, name=SPAWNER, daemon=True).start()
        _state["spawner"] = requests
    done: Future = Future()
    _state["spawner"].put((fn, done))
    return done.result()


def _pool() -> ProcessPoolExecutor:
    with _lock:
        if _state["pool"] is None:
            progress_queue = _ctx.Queue()
            pool = ProcessPoolExecutor(max_workers=1, mp_context=_ctx, initializer=_init_child,
                                       initargs=(progress_queue, NICE, os.getpid()))
            _in_lasting_thread(lambda: pool.submit(int))  # the first job starts the child, in that thread
            _state["pool"] = pool
            threading.Thread(target=_listen, args=(progress_queue,), name="sslviz-compute-progress",
                             daemon=True).start()
            if not _state["exit_hook"]:
                _at_exit_before_joins(shutdown)
                _state["exit_hook"] = True
        return _state["pool"]


def _at_exit_before_joins(fn) -> None:
    """fn() when the interpreter starts to exit, before concurrent.futures joins its threads (those
    hooks run last-registered first, and concurrent.futures.process registered its own on import,
    above). threading._register_atexit is how concurrent.futures itself does it; where it is missing,
    a plain atexit hook, which runs after those joins."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(fn)
            return
    except RuntimeError:  # the interpreter is already exiting
        return
    import atexit

    atexit.register(fn)


def shutdown() -> None:
    """Stop the child now (SIGKILL: its job in hand is thrown away, and that job's caller gets the
    one-line error of a stopped child). The next call starts a fresh child."""
    with _lock:
        pool, _state["pool"] = _state["pool"], None
    if pool is None:
        return
    pid = next(iter(getattr(pool, "_processes", None) or {}), None)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    pool.shutdown(wait=False, cancel_futures=True)


class ChildStopped(SslvizError):
    """The child died with this job in hand (killed, out of memory): asking again starts a fresh one."""


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs) in the child process; blocks until it returns.

    A child that died while idle (killed, or stopped with the process that shared it) leaves a broken
    pool behind; the next call finds it so at submit and starts a fresh child for its job instead of
    failing. Only the job in hand when a child dies fails (with one line)."""
    pool = _pool()
    try:
        job = pool.submit(fn, *args, **kwargs)  # raises RuntimeError once shut down
    except (BrokenProcessPool, RuntimeError) as exc:
        if not isinstance(exc, BrokenProcessPool) and not str(exc).startswith("cannot schedule new futures"):
            raise
        _forget(pool)
        pool = _pool()
        job = pool.submit(fn, *args, **kwargs)
    try:
        return job.result()
    except (BrokenProcessPool, RuntimeError) as exc:
        if not isinstance(exc, BrokenProcessPool) and not str(exc).startswith("cannot schedule new futures"):
            raise  # the function's own RuntimeError, raised in the child
        _forget(pool)
        raise ChildStopped("the background computation process stopped (out of memory?); try again") from None


def _forget(pool) -> None:
    """Drop a broken or shut-down pool; the next _pool() starts a fresh child."""
    with _lock:
        if _state["pool"] is pool:
            _state["pool"] = None
    pool.shutdown(wait=False, cancel_futures=True)


def child_pid() -> int | None:
    """The child's process id, once it has started."""
    pool = _state["pool"]
    procs = getattr(pool, "_processes", None) or {}
    return next(iter(procs), None)
