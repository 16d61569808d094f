"""Nothing outlives the server (issue 25): the compute child ends with its parent however the
parent ends, even in the middle of work that holds the GIL; Ctrl-C / SIGTERM ends a server that is
installing the zoo within 5 s; a server killed with SIGKILL leaves no compute child behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, _free_port

from sslviz.core.processes import process_alive, process_start_ticks


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is `pid` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            pass
    return out


def compute_children(pid: int) -> list[int]:
    return [p for p, cmd in children_of(pid) if "spawn_main" in cmd]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gone_within(pids_ticks: dict[int, int | None], seconds: float) -> list[int]:
    """The pids still alive (same process, not a zombie) after waiting up to `seconds`."""
    deadline = time.time() + seconds
    while True:
        alive = [p for p, t in pids_ticks.items() if process_alive(p, t)]
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.1)


def kill_all(pids) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def python(code: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


# ---- a process standing in for the server (seconds) ----------------------------------------------


def test_a_killed_parent_takes_its_busy_compute_child_with_it():
    # the child sums a huge range: C code that holds the GIL for minutes, so only the kernel's
    # parent-death signal can stop it (a watcher thread in the child could not run)
    server = python("""
        import threading, time
        from sslviz.core import compute_pool
        threading.Thread(target=compute_pool.call, args=(sum, range(10 ** 13)), daemon=True).start()
        while compute_pool.child_pid() is None:
            time.sleep(0.05)
        print(compute_pool.child_pid(), flush=True)
        time.sleep(600)
    """)
    child = None
    try:
        child = int(server.stdout.readline())
        ticks = process_start_ticks(child)
        start = cpu_seconds(child)
        deadline = time.time() + 60
        while cpu_seconds(child) < start + 0.5 and time.time() < deadline:  # it is at work
            time.sleep(0.1)
        assert cpu_seconds(child) >= start + 0.5
        server.kill()
        server.wait(30)
        assert gone_within({child: ticks}, 5) == []
    finally:
        server.kill()
        if child:
            kill_all([child])


def test_a_training_run_started_by_the_server_outlives_it(store):
    from conftest import tiny_config

    run_id = store.create(tiny_config(epochs=200).to_dict())
    server = python(f"""
        import time
        from sslviz.core import compute_pool
        from sslviz.training import worker
        from sslviz.training.runs import RunStore
        compute_pool.call(int)
        store = RunStore({str(store.root)!r})
        assert worker.schedule(store, force=True) == [{run_id!r}]
        print(compute_pool.child_pid(), store.get({run_id!r})["pid"], flush=True)
        time.sleep(600)
    """)
    pids = []
    try:
        pids = [int(p) for p in server.stdout.readline().split()]
        child, trainer = pids
        ticks = {p: process_start_ticks(p) for p in pids}
        server.kill()
        server.wait(30)
        assert gone_within({child: ticks[child]}, 5) == []
        time.sleep(1)
        assert process_alive(trainer, ticks[trainer])  # its own session: it trains on
        store.request_stop(run_id)
        os.kill(trainer, signal.SIGTERM)
        assert gone_within({trainer: ticks[trainer]}, 60) == []
    finally:
        server.kill()
        kill_all(pids)


def test_the_portable_guard_ends_a_child_whose_parent_was_killed():
    # without the kernel signal: the child's watcher thread sees its parent id change
    parent = python("""
        import os, subprocess, sys, time
        code = ("import os, sys, time; from sslviz.core.processes import exit_with_parent; "
                "print(exit_with_parent(int(sys.argv[1]), kernel_signal=False), flush=True); time.sleep(600)")
        child = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())], stdout=subprocess.PIPE, text=True)
        how = child.stdout.readline().strip()
        print(child.pid, how, flush=True)
        time.sleep(600)
    """)
    child = None
    try:
        pid, how = parent.stdout.readline().split()
        child = int(pid)
        assert how == "getppid"
        ticks = process_start_ticks(child)
        assert process_alive(child, ticks)
        parent.kill()
        parent.wait(30)
        assert gone_within({child: ticks}, 5) == []
    finally:
        parent.kill()
        if child:
            kill_all([child])


def test_the_child_does_not_run_the_parents_main_script(tmp_path):
    # Streamlit makes each page script the __main__ module; spawn would run it again in the child
    marker = tmp_path / "ran"
    script = tmp_path / "page.py"
    script.write_text(textwrap.dedent(f"""
        import os
        with open({str(marker)!r}, "a") as fh:
            fh.write(f"{{os.getpid()}}\\n")
        if __name__ == "__main__":
            from sslviz.core import compute_pool
            print(compute_pool.call(os.getpid))
    """))
    out = subprocess.run([sys.executable, str(script)], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    child = int(out.stdout.split()[-1])
    ran = marker.read_text().split()
    assert child not in map(int, ran) and len(ran) == 1


# ---- the real server (tens of seconds each) ----------------------------------------------------


def start_server(tmp_path, browser, pretrained: bool):
    """`streamlit run app.py` on a fresh store, its home page opened once (which starts the warm-up
    in the compute child and, with pretrained, the zoo install); returns (process, store root, page)."""
    import urllib.request

    home = tmp_path / "home"
    port = _free_port()
    env = dict(os.environ, SSLVIZ_HOME=str(home), PYTHONPATH=str(ROOT), SSLVIZ_PRETRAINED="1" if pretrained else "0")
    env.pop("SSLVIZ_NO_LIVE", None)
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    page = browser.new_page()
    page.goto(url)
    return proc, home, page


def wait_for(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {seconds} s")


def stop_leftovers(proc, kids) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    kill_all(kids)


@pytest.mark.slow
def test_sigterm_while_the_zoo_installs_ends_the_server_within_5_s(tmp_path, browser):
    from sslviz.teaching.pretrained import available
    from sslviz.teaching.pretrained.install import installed
    from sslviz.training.runs import RunStore

    proc, home, _page = start_server(tmp_path, browser, pretrained=True)
    kids = []
    try:
        store = RunStore(home)
        wait_for(lambda: any(r["owner"] == "pretrained" for r in store.list(kind=None)), 120, "zoo install")
        kids = wait_for(lambda: compute_children(proc.pid), 60, "compute child")
        ticks = {p: process_start_ticks(p) for p in kids}
        assert len(installed(store)) < len(available())  # still installing
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("the server was still running 30 s after SIGTERM")
        took = time.monotonic() - t0
        assert took < 5, f"the server took {took:.1f} s to stop"
        assert proc.returncode == 0  # a clean stop, not an abort
        assert gone_within(ticks, 5) == []
    finally:
        stop_leftovers(proc, kids)


@pytest.mark.slow
def test_a_server_killed_outright_leaves_no_compute_child(tmp_path, browser):
    proc, _home, _page = start_server(tmp_path, browser, pretrained=False)
    kids = []
    try:
        kids = wait_for(lambda: compute_children(proc.pid), 90, "compute child")
        ticks = {p: process_start_ticks(p) for p in kids}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert gone_within(ticks, 5) == []
    finally:
        stop_leftovers(proc, kids)
