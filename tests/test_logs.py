"""Logs survive several processes: each writes and rotates its own file, so two processes writing
at once past several rotations lose no line, and the store's reader puts them back together."""

import subprocess
import sys
import textwrap

from sslviz.core import logs

WRITER = textwrap.dedent("""
    import sys
    from sslviz.core.logs import setup_logging
    root, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    log = setup_logging(root, max_bytes=4_000, backups=200, name=name)
    for i in range(n):
        log.info("%s line %05d %s", name, i, "x" * 40)
""")


def test_two_processes_writing_past_rotations_lose_no_line(tmp_path):
    n = 2_000  # about 100 bytes a line: each file rotates some 50 times
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, str(n)]) for name in ("alpha", "beta")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    files = logs.log_files(tmp_path)
    assert len(files) > 20 and {f.name.split("-")[0] for f in files} == {"alpha", "beta"}  # rotated, one set each
    text = logs.read_logs(tmp_path)
    for name in ("alpha", "beta"):
        got = sorted(int(line.split(f"{name} line ")[1][:5]) for line in text.splitlines() if f"{name} line " in line)
        assert got == list(range(n)), f"{name}: {n - len(set(got))} lines lost, {len(got) - len(set(got))} doubled"


def test_each_process_has_its_own_file_named_for_its_role(tmp_path):
    log = logs.setup_logging(tmp_path, name="server")
    log.info("hello from the server")
    assert logs.log_path(tmp_path, name="server").read_text().endswith("hello from the server\n")
    assert logs.log_path(tmp_path, name="server").name.startswith("server-")


def test_files_of_ended_processes_are_pruned_beyond_the_newest(tmp_path):
    folder = tmp_path / logs.LOG_DIR
    folder.mkdir()
    dead = [subprocess.Popen([sys.executable, "-c", "pass"]) for _ in range(3)]
    for p in dead:
        p.wait()
    for i, p in enumerate(dead):
        (folder / f"worker-{p.pid}.log").write_text(f"old {i}\n")
        (folder / f"worker-{p.pid}.log.1").write_text("older\n")
    logs.prune(folder, keep=1)
    assert len(logs.log_files(tmp_path)) == 2  # the newest ended process's file and its rotated copy


def test_a_read_only_store_means_no_log_file_and_no_error(tmp_path):
    store = tmp_path / "ro"
    store.mkdir()
    (store / logs.LOG_DIR).write_text("not a folder")  # the log folder cannot be made
    logs.setup_logging(store).info("still fine")
