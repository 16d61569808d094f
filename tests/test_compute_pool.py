"""The server's compute child: work runs in another process, errors and progress come back,
and a dead child is replaced with a one-line error instead of a hung page."""

import os
import signal
import time

import numpy as np
import pytest

from sslviz import compute_pool
from sslviz.errors import SslvizError


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


def test_a_projection_job_runs_in_the_child(tmp_path):
    from sslviz.projection import ProjectionParams, project
    from sslviz.projection_jobs import jobs, wait

    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    params = ProjectionParams(method="pca")
    job = jobs().submit_to_child(f"test-child-{tmp_path}", project, x, params, cache=tmp_path / "p.npz")
    assert wait(job, 60) and job.exception() is None
    assert (tmp_path / "p.npz").exists()  # written by the child
    np.testing.assert_allclose(job.result().coords, project(x, params).coords, atol=1e-5)
