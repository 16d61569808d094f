import json
import os
import subprocess
import sys
import threading
import time

import pytest

from sslviz.core.errors import RunStoreError
from sslviz.core.files import atomic_write_text
from sslviz.core.processes import process_alive, process_start_ticks
from sslviz.training.runs import RunStore


def test_create_get_list_and_config_file(store):
    run_id = store.create({"method": "simclr", "dataset": "shapes", "name": "a"})
    run = store.get(run_id)
    assert run["status"] == "queued" and run["method"] == "simclr" and run["config"]["dataset"] == "shapes"
    assert json.loads((store.run_dir(run_id) / "config.json").read_text())["name"] == "a"
    second = store.create({"method": "rotation", "dataset": "digits"})
    assert [r["id"] for r in store.list()] == [second, run_id]  # newest first
    with pytest.raises(RunStoreError, match="no such run"):
        store.get("nope")


def test_store_uses_wal_and_passes_integrity_check(store):
    import sqlite3

    db = sqlite3.connect(store.db_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.integrity_ok()


def test_metrics_round_trip_in_order_and_filter(store):
    run_id = store.create({"method": "simclr"})
    store.add_metrics(run_id, [(1, 0.1, 0.5, "loss", 3.0), (2, 0.2, 1.0, "loss", 2.5), (2, 1.0, 1.1, "knn_accuracy", 0.4)])
    rows = store.metrics(run_id)
    assert [r["value"] for r in rows] == [3.0, 2.5, 0.4]
    assert [r["value"] for r in store.metrics(run_id, ["loss"])] == [3.0, 2.5]
    v1 = store.version()
    store.add_metrics(run_id, [(3, 0.3, 1.5, "loss", 2.0)])
    assert store.version() != v1


def test_claim_queued_respects_max_running_and_order(store):
    ids = [store.create({"method": "simclr"}) for _ in range(3)]
    assert store.claim_queued(1) == [ids[0]]
    assert store.claim_queued(1) == []  # one is running already
    store.update(ids[0], status="completed")
    assert store.claim_queued(2) == ids[1:]


def test_two_schedulers_never_claim_the_same_run(runs_dir):
    stores = [RunStore(runs_dir) for _ in range(4)]
    ids = [stores[0].create({"method": "simclr"}) for _ in range(6)]
    claimed: list[str] = []
    lock = threading.Lock()

    def grab(s):
        for _ in range(5):
            got = s.claim_queued(10)
            with lock:
                claimed.extend(got)

    threads = [threading.Thread(target=grab, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)  # each exactly once


def test_request_stop_cancels_queued_and_flags_running(store):
    queued = store.create({"method": "simclr"})
    assert store.request_stop(queued) == "cancelled"
    assert store.get(queued)["status"] == "cancelled"
    running = store.create({"method": "simclr"})
    store.claim_queued(1)
    assert store.request_stop(running) == "running"
    assert store.stop_requested(running)


def test_reconcile_marks_dead_processes_interrupted(store):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    run_id = store.create({"method": "simclr"})
    store.claim_queued(1)
    store.update(run_id, pid=proc.pid, pid_start=12345)
    assert store.reconcile() == [run_id]
    run = store.get(run_id)
    assert run["status"] == "interrupted" and "ended without finishing" in run["message"]


def test_reconcile_keeps_live_processes(store):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run_id = store.create({"method": "simclr"})
        store.claim_queued(1)
        store.update(run_id, pid=proc.pid, pid_start=process_start_ticks(proc.pid))
        assert store.reconcile() == []
        assert process_alive(proc.pid, process_start_ticks(proc.pid))
        assert not process_alive(proc.pid, 1)  # same pid, other start time: a reused pid
    finally:
        proc.kill()
        proc.wait()


def test_delete_refuses_active_runs_and_removes_finished(store):
    run_id = store.create({"method": "simclr"})
    with pytest.raises(RunStoreError, match="stop it"):
        store.delete(run_id)
    store.update(run_id, status="completed")
    store.delete(run_id)
    assert not store.run_dir(run_id).exists() and store.list() == []


def test_atomic_write_leaves_no_temp_files_and_replaces(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_read_only_store_gives_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        # root ignores file modes; use a path under a regular file instead, which no one can create
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(RunStoreError, match="cannot open"):
            RunStore(blocker / "runs")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(RunStoreError):
            RunStore(ro / "runs")


def test_requeue_only_for_runs_that_stopped_early(store):
    run_id = store.create({"method": "simclr"})
    with pytest.raises(RunStoreError, match="cannot resume"):
        store.requeue(run_id)  # still queued
    store.claim_queued(1)
    store.update(run_id, status="interrupted")
    store.requeue(run_id)
    run = store.get(run_id)
    assert run["status"] == "queued" and "resuming" in run["message"] and not run["stop_requested"]


def test_fair_order_serves_every_student_before_anyone_gets_a_second_turn():
    from sslviz.training.runs import fair_order

    queued = [("a1", "ann"), ("a2", "ann"), ("a3", "ann"), ("b1", "bob"), ("c1", "cat"), ("b2", "bob")]
    assert fair_order(queued, running_owners=[]) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    # a student whose run is already training waits behind those who have none
    assert fair_order(queued, running_owners=["ann"]) == ["b1", "c1", "a1", "b2", "a2", "a3"]
    assert fair_order([], ["ann"]) == []


def test_queue_position_follows_the_fair_order(store):
    from sslviz.training import worker

    ids = {}
    for name, owner in (("a1", "ann"), ("a2", "ann"), ("b1", "bob")):
        ids[name] = store.create({"method": "simclr", "dataset": "digits", "owner": owner, "name": name})
        time.sleep(0.01)
    assert [worker.queue_position(store, ids[n]) for n in ("a1", "a2", "b1")] == [1, 3, 2]
    assert store.claim_queued(1) == [ids["a1"]]
    assert worker.queue_position(store, ids["a1"]) is None
    # ann has a run going now, so bob's run is next, then ann's second
    assert [worker.queue_position(store, ids[n]) for n in ("b1", "a2")] == [1, 2]
