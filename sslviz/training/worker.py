"""Background jobs: a queue in the run store, each run trained in its own process.

    submit(config)  -> a queued row in the store, then schedule()
    schedule()      -> claims queued runs while fewer than `max_running` run, starts one process
                       each: `python -m sslviz worker <run_id>`
    execute(run_id) -> what that process does: train, report into the store, mark the outcome,
                       then schedule() again so the queue keeps moving with no daemon
    cancel(run_id)  -> a queued run is cancelled at once; a running one stops at its next report

A lane's slots count only "running" jobs: a shipped pretrained run being copied into the store is
"installing" (sslviz/teaching/pretrained/install.py) and never holds up a user's run.

Jobs have a type: "train" runs go through `train.run`; every other type (label-efficiency
experiments, ...) names its function in JOB_TYPES. Types are grouped in lanes, each with its
own limit, so that a short analysis job never waits behind an hour of training. The store keeps
a job's type in its `kind` column (run["kind"], RunStore's kind= arguments): that stored name stays.

Nothing here imports Streamlit. The trainer never runs in a Streamlit script thread: a run
survives browser reloads and other sessions, and a crash marks only its own run failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from sslviz.core.errors import SslvizError
from sslviz.core.files import remove_temp_files
from sslviz.core.logs import setup_logging
from sslviz.core.processes import process_start_ticks

from .config import RunConfig
from .runs import RunStore

# job type -> "module:function"; the function takes (config: dict, run_dir: Path, report) -> summary dict
JOB_TYPES = {
    "train": "sslviz.training.train:run_job",
    "eval": "sslviz.experiments.label_efficiency:run_job",
    "papers": "sslviz.training.final_scores:run_job",  # a stored run scored by the papers' protocol
    "import-model": "sslviz.embeddings.model_import:run_job",  # a model made elsewhere embeds a dataset
}
# lane -> the job types it serves; each lane runs at most max_running(lane) jobs at once
LANES = {"train": ("train",), "analysis": tuple(t for t in JOB_TYPES if t != "train")}


def max_running(lane: str = "train") -> int:
    """Jobs of a lane that may run at once (settings max_running / max_analysis, default 1)."""
    from sslviz.core.settings import load_settings

    s = load_settings()
    return max(1, s.max_running if lane == "train" else s.max_analysis)


def _job_function(job_type: str):
    import importlib

    if job_type not in JOB_TYPES:
        raise SslvizError(f"job type: unknown '{job_type}'")
    module, name = JOB_TYPES[job_type].split(":")
    return getattr(importlib.import_module(module), name)


class StoreReporter:
    """A trainer Reporter that buffers metrics and writes them to the store about once a second."""

    def __init__(self, store: RunStore, run_id: str, interval: float = 1.0):
        self.store, self.run_id, self.interval = store, run_id, interval
        self.buffer: list = []
        self.last_flush = time.monotonic()
        self.stop = False

    def metrics(self, step, epoch, elapsed, values):
        self.buffer += [(step, epoch, elapsed, k, float(v)) for k, v in values.items() if v is not None]
        if time.monotonic() - self.last_flush > self.interval:
            self.flush()

    def progress(self, fraction, eta, message=""):
        self.store.update(self.run_id, progress=float(min(1.0, fraction)), eta=eta, message=message)

    def info(self, values: dict):
        """Device, precision, ... as soon as the run starts: the app shows them while it trains."""
        self.store.update(self.run_id, summary={**self.store.get(self.run_id)["summary"], **values})

    def resolved(self, config: dict):
        """The config as the recipe completed it: what the run really trains with."""
        self.store.set_config(self.run_id, config)

    def should_stop(self) -> bool:
        self.stop = self.stop or self.store.stop_requested(self.run_id)
        return self.stop

    def flush(self):
        self.store.add_metrics(self.run_id, self.buffer)
        self.buffer = []
        self.last_flush = time.monotonic()


def submit(config: RunConfig, store: RunStore, start: bool = True) -> str:
    """Queue a training run (validated first) and start it if a slot is free; returns its id."""
    config.validate()
    return submit_job("train", config.to_dict(), store, start)


def submit_job(job_type: str, config: dict, store: RunStore, start: bool = True) -> str:
    """Queue a background job of any registered type (JOB_TYPES); returns its id."""
    _job_function(job_type)  # fail now on an unknown type
    check_limits(store, config.get("owner", ""))
    run_id = store.create(config, kind=job_type)  # the store's column for it is `kind`
    setup_logging(store.root).getChild("worker").info("queued %s %s (owner %s)", job_type, run_id,
                                                      config.get("owner") or "-")
    if start:
        schedule(store)
    return run_id


class QueueFull(SslvizError):
    """The server's queue, or one user's share of it, is full."""


def check_limits(store: RunStore, owner: str = "") -> None:
    """Refuse a new job when the queue is full or this owner already has max_per_owner active jobs."""
    from sslviz.core.settings import load_settings

    s = load_settings()
    active = [r for r in store.list(kind=None) if r["status"] in ("queued", "running")]
    queued = sum(r["status"] == "queued" for r in active)
    if queued >= s.max_queued:
        raise QueueFull(f"queue: full ({queued} jobs waiting, limit max_queued = {s.max_queued}); try again later")
    if owner:
        mine = sum(r["owner"] == owner for r in active)
        if mine >= s.max_per_owner:
            raise QueueFull(f"queue: you already have {mine} jobs queued or running "
                            f"(limit max_per_owner = {s.max_per_owner}); stop one or wait for it to finish")


def queue_position(store: RunStore, run_id: str) -> int | None:
    """1 for the next job to start in its lane, 2 for the one after, ...; None when not queued."""
    run = store.get(run_id)
    if run["status"] != "queued":
        return None
    lane = next((types for types in LANES.values() if run["kind"] in types), (run["kind"],))
    return store.queue_order(lane).index(run_id) + 1


_children: list[subprocess.Popen] = []


def schedule(store: RunStore, force: bool = False) -> list[str]:
    """Start queued runs while slots are free; returns the ids started.

    A server with the setting launch_workers = 0 only queues (force=True is the worker loop of
    another machine, e.g. a GPU box sharing the store)."""
    global _children
    _children = [p for p in _children if p.poll() is None]  # reap finished children (no zombies)
    log = setup_logging(store.root).getChild("worker")
    for run_id in store.reconcile():
        log.warning("%s: its process is gone; marked interrupted", run_id)
    from sslviz.core.settings import load_settings

    if not force and not load_settings().launch_workers:
        return []
    started = []
    for lane, job_types in LANES.items():
        if job_types:
            started += store.claim_queued(max_running(lane), job_types)
    for run_id in started:
        launch(store, run_id)
    return started


def launch(store: RunStore, run_id: str) -> subprocess.Popen:
    """Start the worker process of a claimed run, detached from the caller's session."""
    log = open(store.run_dir(run_id) / "worker.log", "ab")
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sslviz", "worker", run_id, "--runs-dir", str(store.root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    log.close()
    store.update(run_id, pid=proc.pid, pid_start=process_start_ticks(proc.pid))
    setup_logging(store.root).getChild("worker").info("started %s in process %d", run_id, proc.pid)
    _children.append(proc)
    return proc


def execute(store: RunStore, run_id: str, chain: bool = True, operator: bool = False) -> dict:
    """Run a claimed job (or the command line's foreground run) in this process; record its outcome.

    operator=True: the command line's own foreground run, which reads any folder its user can;
    every other job reads folders only inside the allowed data roots (sslviz/core/access.py)."""
    log = setup_logging(store.root).getChild("worker")
    run = store.get(run_id)
    store.update(run_id, status="running", started=time.time(), pid=os.getpid(),
                 pid_start=process_start_ticks(os.getpid()), host=_host())
    log.info("%s: %s job running (pid %d)", run_id, run["kind"], os.getpid())
    reporter = StoreReporter(store, run_id)

    def on_term(signum, frame):  # SIGTERM / Ctrl-C: stop at the next report, keep the checkpoint
        reporter.stop = True

    previous = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGINT)}
    remove_temp_files(store.run_dir(run_id))  # left by a predecessor that was killed mid-write
    try:
        from sslviz.core.access import check_job_config

        if not operator:
            check_job_config(run["config"], store.root)  # a folder outside the allowed roots never opens
        job = _job_function(run["kind"])
        summary = job(run["config"], store.run_dir(run_id), reporter)
        status = "cancelled" if summary.get("stopped_by") == "user" else "completed"
        store.update(run_id, status=status, ended=time.time(), summary=summary, progress=1.0,
                     message="stopped by the user" if status == "cancelled" else "")
    except SslvizError as exc:
        reporter.flush()
        summary = {"error": str(exc)}
        store.update(run_id, status="failed", ended=time.time(), message=str(exc).splitlines()[0],
                     error=traceback.format_exc())
    except Exception as exc:  # a crash: the run is failed with its traceback, nothing else is touched
        reporter.flush()
        summary = {"error": f"{type(exc).__name__}: {exc}"}
        store.update(run_id, status="failed", ended=time.time(),
                     message=f"crashed: {type(exc).__name__}: {exc}".splitlines()[0], error=traceback.format_exc())
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    final = store.get(run_id)
    if final["status"] == "failed":
        log.error("%s: failed: %s\n%s", run_id, final["message"], final["error"])
    else:
        log.info("%s: %s %s", run_id, final["status"], final["message"])
    if chain:
        from sslviz.core.settings import load_settings

        schedule(store, force=not load_settings().launch_workers)  # the machine that trained keeps going
    return {"run_id": run_id, "status": store.get(run_id)["status"], **summary}


def worker_loop(store: RunStore, poll: float = 2.0, once: bool = False) -> None:
    """Train queued jobs of a (shared) run store on this machine until interrupted."""
    while True:
        schedule(store, force=True)
        if once:
            return
        time.sleep(poll)


def resume(store: RunStore, run_id: str, start: bool = True) -> None:
    """Queue an interrupted / cancelled / failed run again; it continues from its last checkpoint."""
    store.requeue(run_id)
    if start:
        schedule(store)


def cancel(store: RunStore, run_id: str) -> str:
    """Cancel a queued run or ask a running one to stop; returns the status it had or now has."""
    status = store.request_stop(run_id)
    setup_logging(store.root).getChild("worker").info("%s: stop requested (%s)", run_id, status)
    return status


def _host() -> str:
    import socket

    return socket.gethostname()
