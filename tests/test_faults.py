"""Faults: trainers killed at random moments, a server restart, a full disk, a read-only run folder
and a diverging run. Each ends with a clear state and nothing else lost.

Real worker processes and a real SQLite store; runs are tiny (80 digits at 16 px) so that twenty
kills fit in well under a minute.
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_config

from sslviz.core import files as files_mod
from sslviz.core.processes import process_alive
from sslviz.training import train, worker
from sslviz.training.runs import RunStore


def fast_config(**over):
    """About half a second per epoch on 2 busy cores: 80 training images, 2 steps an epoch."""
    return tiny_config(**{**dict(labels_per_class=8, batch_size=32, eval_train_max=100, eval_test_max=50), **over})


def foreground(store, cfg) -> str:
    """Train in this process, as `python -m sslviz train` does; returns the run id."""
    run_id = store.create(cfg.to_dict(), status="running")
    worker.execute(store, run_id, chain=False)
    return run_id


def wait_status(store, run_id, statuses, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = store.get(run_id)
        if run["status"] in statuses:
            return run
        time.sleep(0.1)
    log = store.run_dir(run_id) / "worker.log"
    raise AssertionError(f"{run_id} stayed {store.get(run_id)['status']}:\n"
                         + (log.read_text(errors="replace")[-3000:] if log.exists() else ""))


def check_run_files(store, run_id) -> int | None:
    """Every file of the run is whole: no temp file left, config/snapshots/checkpoint load.
    Returns the checkpoint's epoch (None when there is none yet)."""
    run_dir = store.run_dir(run_id)
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, f"half-written files left in {run_dir}: {leftovers}"
    assert json.loads((run_dir / "config.json").read_text())["method"]
    for snap in run_dir.glob("embeddings_*.npz"):
        with np.load(snap, allow_pickle=False) as z:
            assert len(z["features"]) == len(z["labels"]) == len(z["index"]) > 0, snap
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        return None
    state = train.load_checkpoint(ckpt)  # weights_only=True
    assert state["model"] and state["epoch"] >= 0
    return int(state["epoch"])


def snapshot(folder: Path) -> dict:
    """Every file under folder with its bytes (to prove nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _wait_pid(store, run_id) -> tuple[int, float]:
    """The pid of the run's worker process, and when it was first seen (about its launch)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        run = store.get(run_id)
        if run["pid"] and run["status"] == "running":
            return run["pid"], time.time()
        assert run["status"] in ("queued", "running"), run["message"]
        time.sleep(0.02)
    raise AssertionError(f"{run_id}: no worker process started")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.time() + 10
    while process_alive(pid) and time.time() < deadline:
        time.sleep(0.02)


def test_twenty_sigkills_at_random_moments_then_resume_to_the_end(store):
    """The first kill lands just after the first checkpoint; the other nineteen at seeded random
    moments over a worker's life (start-up, data loading, training, evaluation, checkpointing),
    measured in units of how long the first worker took to its first checkpoint, so that the
    moments fall in the same phases on a fast or a busy machine."""
    rng = random.Random(7)
    epochs = 12
    run_id = worker.submit(fast_config(epochs=epochs), store)
    pid, launched = _wait_pid(store, run_id)
    ckpt = store.run_dir(run_id) / "checkpoint.pt"
    while not ckpt.exists():
        assert store.get(run_id)["status"] == "running", store.get(run_id)["message"]
        time.sleep(0.01)
    life = time.time() - launched  # launch -> first checkpoint
    _kill(pid)
    kills, finished, last_epoch, delays = 1, [], {run_id: -1}, []
    while True:
        worker.schedule(store)  # what any page poll does: reap, reconcile, start queued work
        run = store.get(run_id)
        epoch = check_run_files(store, run_id)
        assert store.integrity_ok()
        if run["status"] == "completed":  # it finished before the kill landed: go on with a new run
            assert epoch == epochs and run["summary"]["epochs"] == epochs
            finished.append(run_id)
            run_id = worker.submit(fast_config(epochs=epochs, seed=len(finished)), store)
            last_epoch[run_id] = -1
        else:
            assert run["status"] == "interrupted", (run["status"], run["message"])
            assert "ended without finishing" in run["message"]
            if epoch is not None:
                assert epoch >= last_epoch[run_id], "a resumed run started again from scratch"
                last_epoch[run_id] = epoch
            if kills == 20:
                break
            worker.resume(store, run_id)
        pid, launched = _wait_pid(store, run_id)
        delays.append(rng.uniform(0.05, 1.3) * life)
        time.sleep(max(0.0, launched + delays[-1] - time.time()))
        _kill(pid)
        kills += store.get(run_id)["status"] != "completed"
    assert kills == 20 and len(delays) >= 19
    assert max(last_epoch.values()) >= 1  # a resumed run went on from a checkpoint
    worker.resume(store, run_id)
    run = wait_status(store, run_id, ("completed", "failed", "interrupted"), timeout=180)
    assert run["status"] == "completed", run["message"]
    assert run["summary"]["epochs"] == epochs and check_run_files(store, run_id) == epochs
    knn_epochs = {m["epoch"] for m in store.metrics(run_id, ["knn_accuracy"])}
    assert set(range(epochs + 1)) <= knn_epochs  # every epoch was scored, across all the resumed legs
    assert store.integrity_ok()
    for done in finished:
        assert store.get(done)["status"] == "completed" and check_run_files(store, done) == epochs


def test_a_server_restart_loses_nothing(runs_dir):
    from sslviz.experiments import label_efficiency as experiments

    store = RunStore(runs_dir)
    done = foreground(store, fast_config(epochs=2))
    half = foreground(store, fast_config(epochs=2, seed=1))
    exp_config, _ = experiments.prepare({"runs": [done], "labels_per_class": [1, 5], "protocols": ["knn"],
                                         "seeds": 2, "device": "cpu"}, store)
    exp = store.create(exp_config, kind="eval", status="running")
    assert worker.execute(store, exp, chain=False)["status"] == "completed"
    results = experiments.load_results(store, exp)
    assert results and results["results"]
    # the server (and the trainer it had started) died while `half` was training
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update(half, status="running", pid=dead.pid, pid_start=None, ended=None)
    before = {r["id"]: (r["status"], len(store.metrics(r["id"]))) for r in store.list(kind=None)}

    script = r"""
import json, sys
from sslviz.training.runs import RunStore
from sslviz.training import train, worker
from sslviz.embeddings.embedding import load_snapshot, snapshot_epochs
from sslviz.experiments.label_efficiency import experiments, load_results
store = RunStore(sys.argv[1])
worker.schedule(store)   # the first page poll after the restart
out = {"integrity": store.integrity_ok(), "runs": {}, "jobs": [r["id"] for r in store.list(kind=None)],
       "experiments": {e["id"]: load_results(store, e["id"]) for e in experiments(store)}}
for r in store.list(kind="train"):
    d = store.run_dir(r["id"])
    ckpt = train.load_checkpoint(d / "checkpoint.pt")
    epochs = snapshot_epochs(d)
    feats, labels, index = load_snapshot(d, epochs[-1])
    out["runs"][r["id"]] = {"status": r["status"], "metrics": len(store.metrics(r["id"])),
                            "ckpt_epoch": ckpt["epoch"], "snapshots": epochs, "features": list(feats.shape),
                            "knn": r["summary"].get("knn_accuracy")}
print(json.dumps(out))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script, str(runs_dir)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert after["integrity"]
    assert set(after["jobs"]) == set(before) == {done, half, exp}
    assert set(after["runs"]) == {done, half}
    assert after["experiments"] == {exp: results}  # listed, and its results read back whole
    del before[exp]
    for run_id, (status, n_metrics) in before.items():
        got = after["runs"][run_id]
        assert got["metrics"] == n_metrics and got["ckpt_epoch"] == 2 and got["snapshots"] == [0, 1, 2]
        assert got["features"][0] == 50
    assert after["runs"][done]["status"] == "completed" and after["runs"][done]["knn"] is not None
    assert after["runs"][half]["status"] == "interrupted"  # and so it can be resumed
    store.requeue(half, status="running")  # resume it in this process: it has nothing left to train
    assert worker.execute(store, half, chain=False)["status"] == "completed"


@contextmanager
def full_disk_after_first_checkpoint(run_dir: Path):
    """Every fsync of a file in run_dir fails with ENOSPC once checkpoint.pt exists.

    No tmpfs can be mounted for a test on every machine, so the kernel's answer is simulated at the
    point where a full disk reports it for our writes (the fsync of the temporary file); the rest is
    the real code path: atomic_write_bytes, the trainer, the worker's error handling."""
    real_fsync = os.fsync

    def fsync(fd):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if path.startswith(str(run_dir)) and (run_dir / "checkpoint.pt").exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    saved = os.fsync
    os.fsync = fsync
    try:
        yield
    finally:
        os.fsync = saved


def test_a_full_disk_fails_the_run_clearly_and_keeps_everything_else(store):
    other = foreground(store, fast_config(epochs=1))
    other_files, other_metrics = snapshot(store.run_dir(other)), store.metrics(other)
    run_id = store.create(fast_config(epochs=4, seed=3).to_dict(), status="running")
    with full_disk_after_first_checkpoint(store.run_dir(run_id)):
        result = worker.execute(store, run_id, chain=False)
    run = store.get(run_id)
    assert result["status"] == "failed" and run["status"] == "failed"
    assert "cannot write" in run["message"] and "disk is full" in run["message"] and "\n" not in run["message"]
    assert str(store.run_dir(run_id)) in run["message"]  # it names the file
    assert check_run_files(store, run_id) == 1  # the checkpoint written before the disk filled is whole
    assert snapshot(store.run_dir(other)) == other_files and store.metrics(other) == other_metrics
    assert store.integrity_ok()
    store.requeue(run_id, status="running")  # space freed: resume from the kept checkpoint
    assert worker.execute(store, run_id, chain=False)["status"] == "completed"
    assert check_run_files(store, run_id) == 4


@contextmanager
def read_only(folder: Path):
    """Make folder read-only for this process, root included.

    chmod does not stop root, so the folder is made immutable (chattr +i: even root cannot create
    files in it) where the file system allows; elsewhere (no chattr, no CAP_LINUX_IMMUTABLE) the
    kernel's answer is simulated at the one place run files are created, tempfile.mkstemp in
    sslviz.core.files.atomic_write_bytes, with EROFS."""
    immutable = _has("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    if immutable:
        try:
            (folder / "probe").touch()
            immutable = False  # the attribute did not stop the write: fall back to simulating
            (folder / "probe").unlink()
        except OSError:
            pass
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_mkstemp(*args, dir=dir, **kwargs)

    if not immutable:
        files_mod.tempfile.mkstemp = mkstemp
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            files_mod.tempfile.mkstemp = real_mkstemp


def _has(cmd: str) -> bool:
    import shutil

    return shutil.which(cmd) is not None


def test_a_read_only_run_folder_fails_the_run_clearly_and_keeps_everything_else(store):
    other = foreground(store, fast_config(epochs=1))
    other_files = snapshot(store.run_dir(other))
    run_id = store.create(fast_config(epochs=2, seed=4).to_dict(), status="running")
    with read_only(store.run_dir(run_id)):
        worker.execute(store, run_id, chain=False)
    run = store.get(run_id)
    assert run["status"] == "failed", run["message"]
    assert "cannot write" in run["message"] and "read-only" in run["message"] and "\n" not in run["message"]
    assert check_run_files(store, run_id) is None  # nothing half-written; config.json intact
    assert snapshot(store.run_dir(other)) == other_files and store.get(other)["status"] == "completed"
    assert store.integrity_ok()
    store.requeue(run_id, status="running")  # writable again: the run trains
    assert worker.execute(store, run_id, chain=False)["status"] == "completed"


def test_a_diverging_run_stops_itself_and_keeps_its_last_good_checkpoint(store):
    run_id = foreground(store, fast_config(epochs=6, lr=1e6))  # AdamW at lr 1e6: NaN within a few steps
    run = store.get(run_id)
    assert run["status"] == "failed"
    message = run["message"]
    assert "NaN" in message or "nan" in message or "inf" in message, message
    assert "training stopped" in message and "last good checkpoint (epoch" in message and "lower lr" in message
    assert "\n" not in message
    state = train.load_checkpoint(store.run_dir(run_id) / "checkpoint.pt")
    assert 1 <= state["epoch"] < 6  # it stopped itself before the budget, with an earlier epoch kept
    assert f"(epoch {state['epoch']})" in message
    for name, value in state["model"].items():
        if torch.is_tensor(value) and value.is_floating_point():
            assert torch.isfinite(value).all(), f"non-finite weights kept in {name}"
    check_run_files(store, run_id)


@pytest.fixture(autouse=True)
def _no_stray_trainers(store):
    """Stop any trainer a failing test left behind."""
    yield
    for run in store.list(kind=None):
        if run["status"] in ("queued", "running"):
            store.request_stop(run["id"])
            if run["pid"] and run["pid"] != os.getpid():
                try:
                    os.kill(run["pid"], signal.SIGKILL)
                except OSError:
                    pass


def test_a_writer_killed_mid_write_leaves_the_old_file_and_its_temp_file_is_cleared(store):
    """The moment a random kill rarely hits, made certain: a trainer died inside atomic_write_bytes,
    after the temporary file was half written and before the rename."""
    run_id = store.create(fast_config().to_dict())
    store.claim_queued(1)
    run_dir = store.run_dir(run_id)
    files_mod.atomic_write_bytes(run_dir / "checkpoint.pt", b"old, whole")
    (run_dir / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half of a new che")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update(run_id, pid=dead.pid, pid_start=None)
    assert store.reconcile() == [run_id] and store.get(run_id)["status"] == "interrupted"
    assert (run_dir / "checkpoint.pt").read_bytes() == b"old, whole"
    assert not list(run_dir.glob("*.tmp"))
