"""The server's compute child: work runs in another process, errors and progress come back,
and a dead child is replaced with a one-line error instead of a hung page."""

import os
import signal
import time

import numpy as np
import pytest

from sslviz.core import compute_pool
from sslviz.core.errors import SslvizError


def whoami(x):
    return os.getpid(), x * 2


def refuse(message):
    raise SslvizError(message)


def count_to(key, n):
    for i in range(1, n + 1):
        compute_pool.report(key, i, n)
    return n


def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


def test_work_runs_in_a_child_process_and_keeps_it_between_calls():
    pid, doubled = compute_pool.call(whoami, 21)
    assert doubled == 42 and pid != os.getpid()
    assert compute_pool.call(whoami, 1)[0] == pid == compute_pool.child_pid()  # warm: the same child
    assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, os.getpid()) + compute_pool.NICE


def test_errors_come_back_in_their_own_words():
    with pytest.raises(SslvizError, match="fewer points than n_neighbors"):
        compute_pool.call(refuse, "fewer points than n_neighbors")


def test_progress_reaches_the_server():
    seen = []
    compute_pool.on_progress("job-1", lambda done, total: seen.append((done, total)))
    assert compute_pool.call(count_to, "job-1", 3) == 3
    deadline = time.time() + 10
    while len(seen) < 3 and time.time() < deadline:
        time.sleep(0.05)
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_killed_child_fails_its_job_with_one_line_and_is_replaced():
    from concurrent.futures import ThreadPoolExecutor

    compute_pool.call(whoami, 0)
    old = compute_pool.child_pid()
    with ThreadPoolExecutor(1) as ex:
        job = ex.submit(compute_pool.call, sleep_for, 30)
        time.sleep(1.0)
        os.kill(old, signal.SIGKILL)
        with pytest.raises(SslvizError, match="background computation process stopped"):
            job.result(timeout=30)
    pid, _ = compute_pool.call(whoami, 0)
    assert pid != old


def test_a_child_that_died_while_idle_is_replaced_for_the_next_job():
    """No job was running when the child died (killed, or gone with a process that shared it): the next
    call must not inherit that death as its own error; it runs in a fresh child."""
    compute_pool.call(whoami, 0)
    old = compute_pool.child_pid()
    os.kill(old, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and not getattr(compute_pool._state["pool"], "_broken", False):
        time.sleep(0.05)  # the executor notices the death (as it will have long before a user's next click)
    assert compute_pool._state["pool"]._broken
    pid, doubled = compute_pool.call(whoami, 21)
    assert pid != old and doubled == 42


def test_a_job_that_failed_because_the_child_died_is_asked_again():
    """The page's one line says "try again": asking again for the same key runs the job afresh, where
    any other failure (bad input) stays the answer until retry=True."""
    from concurrent.futures import Future

    from sslviz.embeddings.projection_jobs import Jobs, wait

    q = Jobs()
    died = q.submit("k-died", lambda: (_ for _ in ()).throw(compute_pool.ChildStopped("stopped; try again")))
    bad = q.submit("k-bad", lambda: (_ for _ in ()).throw(SslvizError("bad input")))
    assert wait(died, 10) and wait(bad, 10)
    again = q.submit("k-died", int)
    assert again is not died and wait(again, 10) and again.result() == 0
    assert q.submit("k-bad", int) is bad and isinstance(bad, Future)


def test_a_projection_job_runs_in_the_child(tmp_path):
    from sslviz.embeddings.projection import ProjectionParams, project
    from sslviz.embeddings.projection_jobs import jobs, wait

    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    params = ProjectionParams(method="pca")
    job = jobs().submit_to_child(f"test-child-{tmp_path}", project, x, params, cache=tmp_path / "p.npz")
    assert wait(job, 60) and job.exception() is None
    assert (tmp_path / "p.npz").exists()  # written by the child
    np.testing.assert_allclose(job.result().coords, project(x, params).coords, atol=1e-5)


def test_an_evolution_sequence_reports_progress_then_forgets_its_callback(tmp_path):
    from sslviz.embeddings.projection import ProjectionParams
    from sslviz.embeddings.projection_jobs import jobs, submit_sequence, wait

    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(120, 8)).astype(np.float32) for _ in range(3)]
    key = f"test-sequence-{tmp_path}"
    job = submit_sequence(key, feats, ProjectionParams(n_neighbors=8, n_epochs=20),
                          [tmp_path / f"s{i}.npz" for i in range(3)])
    assert wait(job, 120) and job.exception() is None and len(job.result()) == 3
    deadline = time.time() + 10
    while jobs().progress(key) != (3, 3) and time.time() < deadline:  # the last report crosses a queue
        time.sleep(0.05)
    assert jobs().progress(key) == (3, 3)
    assert key not in compute_pool._callbacks  # forgotten with the last report: nothing kept for the server's life


def test_forget_drops_a_finished_job_but_never_a_running_one():
    import threading

    from sslviz.embeddings.projection_jobs import Jobs, wait

    j = Jobs()
    gate = threading.Event()
    running = j.submit("running", gate.wait, 30)
    j.forget("running")
    assert j.get("running") is running
    gate.set()
    assert wait(running, 30)
    j.forget("running")
    assert j.get("running") is None and j.submit("running", lambda: 1) is not running
