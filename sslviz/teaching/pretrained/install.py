"""Install the shipped checkpoints into a run store as completed runs.

What an installed run holds (the same files as a run the trainer finished):
  config.json            the RunConfig it was built with (owner "pretrained")
  checkpoint.pt          the weights back in float32, with the trainer's keys ("model", "config",
                         epoch, step; an empty optimiser state): every page and evaluator loads
                         it like any other checkpoint
  embeddings_0000.npz    the untrained network's test-set embedding, and
  embeddings_<E>.npz     the trained one's, both recomputed here by the trainer's own Monitor
                         (same seed, same test subset as the build), so projections, the factor
                         probe and label-efficiency work at once
  metrics in the store   the loss and kNN rows the build reported, so the curves are the real ones

Idempotent and safe: a marker file in the store (pretrained.json: name -> run id) records what
was installed, under a file lock so two sessions starting at once do not install twice. An
entry already in the marker is never installed again (not even when the user deleted that run:
deleting it is a choice), and nothing the user made is touched; runs get fresh ids from the store.
A checkpoint that no longer loads (the method's layers changed since it was built) is skipped
with a message, and its half-made run removed.

After the runs, the shipped label-efficiency experiment over the shapes runs (experiment.py) is
added as a finished eval job, once (its marker entry: "experiment-shapes" -> the job's id).
On first app start all this runs in a background thread; `install_progress` tells the pages how far
it is ("k of n"), so every page stays usable and shows a progress bar meanwhile.

The install gives way to what a user asked for (issue 23, the first minute of a class). Measured
before this (2 cores, fresh store, demo pressed 10 s after the home page): the demo's run sat queued
for 60 to 101 s, because each entry being installed was a "running" train row, which took the train
lane's one slot (worker.max_running) from one entry to the next; and the install thread ran at the
server's priority, ahead of the trainers (nice +10) and the compute child's UMAP (+5). Now:
- an entry being written has the status "installing" (sslviz/training/runs.py): the scheduler counts
  only "running" rows, so a user's run starts at once; the run list shows it as installing, with no
  Stop button and no time left;
- the background thread lowers its own priority to INSTALL_NICE (+15, below the trainers; on Linux
  a thread's nice is its own, and the torch/OpenMP threads it starts inherit it), so the kernel
  hands the cores to the user's trainer, the compute child and the server first;
- between entries and between the stages of one, it pauses (`give_way`, at most MAX_PAUSE seconds
  each time, so a busy class cannot stall it for good) while a user's job waits: one queued in
  the store, one whose process started less than STARTUP_SECONDS ago (still loading torch and its
  data), or a projection waiting for the compute child (sslviz.embeddings.projection_jobs).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from sslviz.core.errors import SslvizError

from . import available, info_path, weights_path
from .verify import HASH_KEY, check, check_weights, last_rows_rescored

MARKER = "pretrained.json"
INSTALLING = "installing"  # the status of an entry being written (never counted as a running job)
INSTALL_NICE = 15  # the server runs at 0, the compute child at +5, trainers at +10
STARTUP_SECONDS = 15.0  # a user's job this young is still loading: the install waits
MAX_PAUSE = 10.0  # the longest one pause lasts


@contextmanager
def _locked(root: Path):
    with open(root / ".pretrained.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def installed(store) -> dict[str, str]:
    """name -> run id of the checkpoints installed in this store (from its marker file)."""
    try:
        return dict(json.loads((store.root / MARKER).read_text()))
    except (OSError, ValueError):
        return {}


def pending(store, folder: Path | None = None) -> list[str]:
    """Shipped checkpoints not installed in this store yet."""
    done = installed(store)
    return [n for n in available(folder) if n not in done]


def load_shipped(name: str, folder: Path | None = None) -> tuple[dict, dict]:
    """(payload of <name>.pt with float32 weights, info of <name>.json)."""
    from .storage import load_payload, unpack_state

    try:
        payload = load_payload(weights_path(name, folder))
        info = json.loads(info_path(name, folder).read_text())
    except (OSError, ValueError, RuntimeError) as exc:
        raise SslvizError(f"pretrained {name}: cannot read its files ({exc})") from None
    payload["model"] = unpack_state(payload["model"])
    return payload, info


def load_shipped_state(method, state: dict, method_name: str) -> None:
    """Load shipped weights: every key must fit, and only the parts the build leaves out
    (build.NOT_SHIPPED: momentum copies, queues, predictors...) may be missing; they keep their
    initial values."""
    from .build import NOT_SHIPPED

    missing, unexpected = method.load_state_dict(state, strict=False)
    dropped = NOT_SHIPPED.get(method_name, ())
    missing = [k for k in missing if k.split(".", 1)[0] not in dropped]
    if missing or unexpected:
        raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")


def install_one(store, name: str, folder: Path | None = None) -> str:
    """Install one shipped checkpoint as a completed run; returns the new run id."""
    import torch

    from sslviz.core.files import atomic_write_bytes
    from sslviz.core.processes import process_start_ticks
    from sslviz.data import load_dataset
    from sslviz.training.config import RunConfig
    from sslviz.training.train import Monitor, build_method

    check_weights(name, folder)  # before anything else: a stale or swapped .pt never installs (verify.py)
    payload, info = load_shipped(name, folder)
    try:
        config = RunConfig.from_dict(payload["config"])
    except SslvizError as exc:
        raise SslvizError(f"pretrained {name}: its config no longer fits this version ({exc})") from None
    data = load_dataset(config.dataset, image_size=config.image_size, data_root=config.data_root, seed=config.seed)
    device = torch.device("cpu")
    torch.manual_seed(config.seed)  # the trainer's seeding: this is the network the run started from
    untrained = build_method(config, data, device)
    trained = build_method(config, data, device)
    try:
        load_shipped_state(trained, payload["model"], config.method)
    except RuntimeError as exc:
        raise SslvizError(f"pretrained {name}: the weights no longer fit the {config.method} model "
                          f"({str(exc).splitlines()[0][:120]}); rebuild with `python -m sslviz pretrained build`") from None

    _give_way()
    # "installing" while we write: no scheduler claims it or counts it as a running job (a user's run
    # starts beside it), and the run list shows it as installing, with no Stop button
    run_id = store.create(config.to_dict(), status=INSTALLING)
    now = time.time()
    store.update(run_id, started=now, pid=os.getpid(), pid_start=process_start_ticks(os.getpid()),
                 message="installing the pretrained checkpoint")
    run_dir = store.run_dir(run_id)
    try:
        epoch = int(payload.get("epoch", 1))
        buf = io.BytesIO()
        torch.save({"model": trained.state_dict(), "optimizer": {}, "config": config.to_dict(), "epoch": epoch,
                    "step": int(payload.get("step", 0)), "elapsed": float(payload.get("elapsed", 0.0)),
                    "pretrained": name}, buf)
        atomic_write_bytes(run_dir / "checkpoint.pt", buf.getvalue())
        g = torch.Generator().manual_seed(config.seed)  # the trainer's monitor subsets
        monitor = Monitor(data, config, run_dir, device, g)
        untrained.prepare(data.train.images)  # as the trainer does before its first evaluation
        _give_way()
        before = monitor(untrained, 0)
        _give_way()
        t0 = time.perf_counter()
        after = monitor(trained, epoch)  # the re-score: the build's bank, test images, k and few-label draws
        rescore_seconds = time.perf_counter() - t0
        rows = [tuple(r) for r in info.get("metrics", [])]
        if not any(r[3] == "spread" for r in rows):  # built before the gauge changed: measure it here
            gauge = ("spread", "effective_rank")
            rows += [(0, 0.0, 0.0, k, before.get(k)) for k in gauge]
            rows += [(int(payload.get("step", 0)), float(epoch), float(payload.get("elapsed", 0.0)), k, after.get(k))
                     for k in gauge]
        summary = dict(info.get("summary", {}))
        from sslviz.training.alignment_monitor import installed_rows  # alignment/uniformity, today's rank

        rows = installed_rows(rows, summary, before, after, int(payload.get("step", 0)), float(epoch),
                              float(payload.get("elapsed", 0.0)))
        store.add_metrics(run_id, last_rows_rescored(rows, after))  # the curves end on the re-scored figures
        summary.setdefault("spread", after.get("spread"))
        summary.setdefault("effective_rank", after.get("effective_rank"))
        zoo_check = check(summary, after)  # recorded vs re-scored; the pages show the re-scored figures
        zoo_check.update(seconds=round(rescore_seconds, 2), weights_sha256=info.get(HASH_KEY))
        summary.update(pretrained=name, knn_at_install=after.get("knn_accuracy"),
                       knn_random_init=summary.get("knn_random_init", before.get("knn_accuracy")),
                       zoo_check=zoo_check, **zoo_check["rescored"])
        store.update(run_id, status="completed", progress=1.0, eta=0.0, ended=time.time(), pid=None,
                     summary=summary, message=f"pretrained checkpoint shipped with sslviz ({info.get('built', '')})")
    except BaseException:
        store.update(run_id, status="failed", pid=None)
        store.delete(run_id)
        raise
    return run_id


def install(store, names: list[str] | None = None, folder: Path | None = None, log=None, progress=None,
            experiment: bool = True) -> dict[str, str]:
    """Install the shipped checkpoints this store does not have yet; returns {name: run id} of the new
    ones. Errors of one checkpoint are reported through `log` (default: ignored) and skip it.
    progress(done, total, name) is called before each checkpoint (name: the one starting) and once at
    the end (name None). experiment: also add the shipped label-efficiency experiment over the
    installed runs (sslviz/teaching/pretrained/experiment.py), once per store."""
    new: dict[str, str] = {}
    with _locked(store.root):
        for run in store.list(kind=None, status=INSTALLING):  # left by an install that was killed midway
            store.delete(run["id"])
        done = installed(store)
        # in catalogue order: its first entries are what the pages open on (SimCLR on shapes first),
        # so a class that opens the app during the install sees them within seconds
        todo = [n for n in (names or available(folder)) if n not in done]
        for k, name in enumerate(todo):
            if progress:
                progress(k, len(todo), name)
            try:
                new[name] = install_one(store, name, folder)
            except SslvizError as exc:
                if log:
                    log(str(exc))
                continue
            done[name] = new[name]
            from sslviz.core.files import atomic_write_text

            atomic_write_text(store.root / MARKER, json.dumps(done, indent=2))
        if experiment:
            from .experiment import install_experiment

            try:
                install_experiment(store, folder)
            except (SslvizError, OSError, KeyError, TypeError, ValueError) as exc:  # the runs stay installed
                if log:
                    log(str(exc) if isinstance(exc, SslvizError) else f"pretrained experiment: cannot install it "
                        f"({type(exc).__name__}: {exc})")
        if progress:
            progress(len(todo), len(todo), None)
    return new


# ---- giving way to the users: priority and pauses ------------------------------------------------

_hook = __import__("threading").local()  # the background thread's pause (install_one calls it)


def _give_way() -> None:
    """Between the stages of an install: pause while a user's job waits (only in the background
    thread, which sets the hook; the command line's install runs straight through)."""
    pause = getattr(_hook, "pause", None)
    if pause is not None:
        pause()


def lower_priority(nice: int = INSTALL_NICE) -> bool:
    """Lower the calling thread to `nice` (Linux: a thread's nice value is its own, and the torch /
    OpenMP worker threads it creates from now on inherit it). Returns whether it took effect."""
    import threading

    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        return os.getpriority(os.PRIO_PROCESS, tid) >= nice
    except (OSError, AttributeError):  # not Linux, or not allowed: the pauses still apply
        return False


def _projections_waiting() -> int:
    """Projections queued or running for this server's pages (0 where no page asked for one). The
    server's own numba warm-up is not one: nobody waits for it, and it runs at the compute child's
    priority anyway."""
    import sys

    module = sys.modules.get("sslviz.embeddings.projection_jobs")  # only where a page loaded it
    if module is None or module._jobs is None:
        return 0
    jobs = module.jobs()
    warm = jobs.get("warm-up")
    return jobs.pending() - (1 if warm is not None and not warm.done() else 0)


def user_waiting(store) -> str | None:
    """What a user asked for that the install should wait for now (in words), or None: a job of
    theirs queued in the store, one started less than STARTUP_SECONDS ago, a projection pending."""
    now = time.time()
    for run in store.list(kind=None, status="queued"):
        if run["owner"] != "pretrained":
            return f"{run['id']} is queued"
    for run in store.list(kind=None, status="running"):
        if run["owner"] != "pretrained" and now - (run["started"] or 0) < STARTUP_SECONDS:
            return f"{run['id']} is starting"
    if _projections_waiting():
        return "a projection is computing"
    return None


def give_way(store, max_pause: float = MAX_PAUSE, poll: float = 0.25, on_pause=None) -> float:
    """Wait while `user_waiting(store)` says so, at most max_pause seconds; returns the seconds waited.
    on_pause(reason or None) is told when a pause starts and ends (the progress bar shows it)."""
    t0 = time.monotonic()
    reason = user_waiting(store)
    if reason is None:
        return 0.0
    if on_pause:
        on_pause(reason)
    try:
        while reason is not None and time.monotonic() - t0 < max_pause:
            time.sleep(poll)
            reason = user_waiting(store)
    finally:
        if on_pause:
            on_pause(None)
    return time.monotonic() - t0


# ---- on first app start: once per store and process, in a background thread ------------------

_background: dict[str, "object"] = {}
_background_lock = __import__("threading").Lock()
_progress: dict[str, dict] = {}  # store root -> how far its background install is (this process)


def auto_install_enabled() -> bool:
    """False when SSLVIZ_PRETRAINED=0 (the test suite sets it, so that a test's store holds exactly
    the runs the test made; tests that want the pretrained runs call install())."""
    return os.environ.get("SSLVIZ_PRETRAINED", "1").strip().lower() not in ("0", "false", "no", "off")


def install_in_background(store):
    """Start installing what this store lacks, once per store per process; returns the Future (or
    None when there is nothing to do or auto-install is off). Cheap to call on every page load.
    While it runs, `install_progress(store)` says how far it is."""
    import threading
    from concurrent.futures import Future

    from .experiment import experiment_pending

    if not auto_install_enabled():
        return None
    key = str(store.root)
    with _background_lock:
        if key in _background:
            return _background[key]
        todo = pending(store)
        from .lite import pending as lite_pending

        if not todo and not experiment_pending(store) and not lite_pending(store):
            _background[key] = None
            return None
        future: Future = Future()
        _background[key] = future
        _progress[key] = {"done": 0, "total": len(todo), "current": None, "finished": False, "errors": [],
                          "paused": None, "nice": None}

    def report(done: int, total: int, name: str | None) -> None:
        with _background_lock:  # one consistent dict for the pages that read it
            _progress[key] = {**_progress[key], "done": done, "total": total, "current": name}

    def paused(reason: str | None) -> None:
        with _background_lock:
            _progress[key] = {**_progress[key], "paused": reason}

    def work():
        errors: list[str] = []
        lowered = lower_priority()  # before the first torch call: its thread pool inherits the nice
        with _background_lock:
            _progress[key] = {**_progress[key], "nice": INSTALL_NICE if lowered else None}
        _hook.pause = lambda: give_way(store, on_pause=paused)
        try:
            from .lite import install_locked  # the lessons' lite runs: files only, milliseconds, so first

            install_locked(store, log=errors.append)
            _hook.pause()  # a user who pressed a button at once goes first
            future.set_result({"installed": install(store, log=errors.append, progress=report), "errors": errors})
        except BaseException as exc:  # noqa: BLE001 - reported to the page that asks
            errors.append(str(exc) or type(exc).__name__)
            future.set_exception(exc)
        finally:
            with _background_lock:
                _progress[key] = {**_progress[key], "finished": True, "errors": errors}

    threading.Thread(target=work, name="sslviz-pretrained-install", daemon=True).start()
    return future


def install_progress(store) -> dict | None:
    """How far this process's background install into `store` is: {"done": k, "total": n, "current":
    the checkpoint being installed (None between them), "finished": bool, "errors": [...], "paused":
    what of a user's it waits for (None while it works), "nice": the thread's priority (None where it
    could not be lowered)}, or None when none was started here. Written by the installing thread, read
    by every page (a copy)."""
    with _background_lock:
        p = _progress.get(str(store.root))
        return dict(p) if p is not None else None
