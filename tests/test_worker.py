"""The background trainer: real processes, real store."""

import os
import signal
import time

from conftest import tiny_config

from sslviz.core.logs import read_logs
from sslviz.training import worker


def wait_for(store, run_id, statuses, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = store.get(run_id)
        if run["status"] in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"{run_id} stayed {store.get(run_id)['status']}; log:\n"
                         + (store.run_dir(run_id) / "worker.log").read_text(errors="replace"))


def test_a_submitted_run_trains_in_its_own_process(store):
    run_id = worker.submit(tiny_config(epochs=2), store)
    run = wait_for(store, run_id, ("completed", "failed"))
    assert run["status"] == "completed", run["error"]
    assert run["pid"] != os.getpid()
    assert run["summary"]["epochs"] == 2 and run["summary"]["knn_accuracy"] > 0.1
    names = {m["name"] for m in store.metrics(run_id)}
    assert {"loss", "knn_accuracy", "spread", "effective_rank", "images_per_second", "lr"} <= names
    assert (store.run_dir(run_id) / "checkpoint.pt").exists()
    log = read_logs(store.root)  # the store's logs: the server's (this process) and the worker's files
    assert f"queued train {run_id}" in log and f"{run_id}: completed" in log
    assert f"{run_id}: train job running (pid {run['pid']})" in log  # the worker's own lines


def test_queue_runs_one_at_a_time_and_moves_on(store):
    a = worker.submit(tiny_config(), store)
    b = worker.submit(tiny_config(seed=1), store)
    assert store.get(b)["status"] == "queued"  # one slot on a 2-core machine
    wait_for(store, a, ("completed",))
    run_b = wait_for(store, b, ("completed",))  # started by a's worker when it finished
    assert run_b["started"] >= store.get(a)["ended"] - 1


def test_stop_a_running_run(store):
    run_id = worker.submit(tiny_config(epochs=500), store)
    wait_for(store, run_id, ("running",))
    while not store.metrics(run_id, ["loss"]):
        time.sleep(0.2)
    worker.cancel(store, run_id)
    run = wait_for(store, run_id, ("cancelled", "completed", "failed"), timeout=60)
    assert run["status"] == "cancelled" and run["summary"]["stopped_by"] == "user"
    assert (store.run_dir(run_id) / "checkpoint.pt").exists()


def test_a_crash_marks_the_run_failed_with_its_traceback(store):
    cfg = tiny_config(method_params={"temperature": "hot"})  # a string where a number belongs: TypeError
    run_id = worker.submit(cfg, store)
    run = wait_for(store, run_id, ("failed", "completed"))
    assert run["status"] == "failed"
    assert "TypeError" in run["message"] and "Traceback" in run["error"]
    log = read_logs(store.root)
    assert f"{run_id}: failed: crashed: TypeError" in log and "Traceback" in log


def test_a_bad_dataset_fails_with_a_one_line_message(store):
    run_id = worker.submit(tiny_config(dataset="folder:/no/such/folder"), store)
    run = wait_for(store, run_id, ("failed", "completed"))
    assert run["status"] == "failed" and "/no/such/folder" in run["message"] and "\n" not in run["message"]


def test_a_killed_worker_shows_as_interrupted(store):
    run_id = worker.submit(tiny_config(epochs=500), store)
    run = wait_for(store, run_id, ("running",))
    while not store.get(run_id)["pid_start"]:
        time.sleep(0.1)
    os.kill(store.get(run_id)["pid"], signal.SIGKILL)
    time.sleep(0.5)
    worker.schedule(store)  # any page poll does this
    assert store.get(run_id)["status"] == "interrupted"


def test_cancel_a_queued_run(store):
    a = worker.submit(tiny_config(epochs=500), store)
    b = worker.submit(tiny_config(), store)
    assert worker.cancel(store, b) == "cancelled"
    worker.cancel(store, a)
    wait_for(store, a, ("cancelled", "completed", "failed"), timeout=60)
    assert store.get(b)["status"] == "cancelled"


def test_a_killed_run_resumes_from_its_checkpoint(store):
    run_id = worker.submit(tiny_config(epochs=400), store)
    wait_for(store, run_id, ("running",))
    ckpt = store.run_dir(run_id) / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    os.kill(store.get(run_id)["pid"], signal.SIGKILL)
    time.sleep(0.5)
    worker.schedule(store)
    assert store.get(run_id)["status"] == "interrupted"
    from sslviz.training import train

    done = train.load_checkpoint(ckpt)["epoch"]
    assert done >= 1
    worker.resume(store, run_id)
    deadline = time.time() + 120
    while store.metrics(run_id, ["knn_accuracy"])[-1]["epoch"] <= done and time.time() < deadline:
        assert store.get(run_id)["status"] in ("queued", "running"), store.get(run_id)["message"]
        time.sleep(0.3)
    worker.cancel(store, run_id)
    run = wait_for(store, run_id, ("cancelled", "completed", "failed"), timeout=90)
    assert run["status"] == "cancelled" and run["summary"]["epochs"] > done  # it went on, not from zero
    assert store.integrity_ok()
