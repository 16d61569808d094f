"""Security: no pickled code runs, uploads stay under the store, folder: paths stay inside the
allowed roots, deleting needs the teacher password, and nothing but Streamlit listens."""

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import ROOT, _free_port, tiny_config
from conftest import png_bytes as _png
from conftest import zip_bytes as _zip
from PIL import Image

from sslviz.core import access
from sslviz.server import uploads
from sslviz.training import train, worker


class _TouchOnLoad:
    """Pickles to 'call open(marker, "w")': unpickling it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 1, "payload": _TouchOnLoad(marker)}, path)
    return path


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path):
    # positive control: the file really does run code when loaded the unsafe way
    control = tmp_path / "control-marker"
    torch.load(_malicious_checkpoint(tmp_path / "control.pt", control), weights_only=False)
    assert control.exists()

    marker = tmp_path / "marker"
    evil = _malicious_checkpoint(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(train.CheckpointError) as err:
        train.load_checkpoint(evil)
    message = str(err.value)
    assert "refused" in message and str(evil) in message and "weights_only" in message and "\n" not in message
    assert not marker.exists()


def test_a_resumed_run_with_a_malicious_checkpoint_fails_without_running_it(store, tmp_path):
    run_id = store.create(tiny_config(labels_per_class=8, batch_size=32, eval_train_max=100, eval_test_max=50,
                                      epochs=2).to_dict(), status="running")
    marker = tmp_path / "marker"
    _malicious_checkpoint(store.run_dir(run_id) / "checkpoint.pt", marker)
    result = worker.execute(store, run_id, chain=False)  # run_job resumes from checkpoint.pt
    run = store.get(run_id)
    assert result["status"] == "failed" and "refused" in run["message"] and "\n" not in run["message"]
    assert not marker.exists()


def test_every_torch_load_in_sslviz_is_weights_only():
    calls = []
    for path in (ROOT / "sslviz").rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            calls.append((path.relative_to(ROOT), text[m.start():i]))
    assert calls  # the checkpoint loader at least
    unsafe = [(str(p), c) for p, c in calls if "weights_only=True" not in c]
    assert not unsafe, unsafe




def _tree(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")}


@pytest.mark.parametrize("evil", ["../escape.png", "../../escape.png", "cat/../../escape.png",
                                  "..\\escape.png", "/ABS/escape.png", "C:/escape.png", "\\\\host\\share\\escape.png"])
def test_uploads_never_write_outside_the_store(tmp_path, evil):
    store_root = tmp_path / "deep" / "runs"
    uploads.uploads_dir(store_root)
    evil = evil.replace("/ABS", str(tmp_path))
    before = _tree(tmp_path)
    data = _zip([("cat/a.png", _png(1)), ("dog/b.png", _png(2)), (evil, _png(3))])
    with pytest.raises(uploads.UploadError, match="nothing was extracted") as err:
        uploads.extract_zip(data, "evil.zip", store_root)
    assert "evil.zip" in str(err.value) and evil in str(err.value)
    assert _tree(tmp_path) == before  # not one file or folder more, anywhere (no partial extraction either)


def test_a_good_upload_lands_only_under_the_store_uploads_folder(tmp_path):
    store_root = tmp_path / "runs"
    link = zipfile.ZipInfo("dog/link.png")
    link.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
    data = _zip([("pets/cat/a.png", _png(1)), ("pets/cat/b.png", _png(2)), ("pets/dog/c.png", _png(3)),
                 ("pets/dog/d.png", _png(4)), (link, "/etc/passwd")])
    uploads.uploads_dir(store_root)
    before = _tree(tmp_path)
    record = uploads.extract_zip(data, "pets.zip", store_root)
    base = (store_root / "uploads").resolve()
    new = _tree(tmp_path) - before
    assert new and all(Path(p).resolve().is_relative_to(base) for p in new)
    assert not any(Path(p).is_symlink() for p in new)
    assert record["dataset"] == f"folder:{base / record['id'] / 'pets'}"
    assert {s["path"] for s in record["skipped_files"]} == {"dog/link.png"}
    access.check_dataset(record["dataset"], store_root)  # an upload is inside the allowed roots


def test_folder_paths_outside_the_allowed_roots_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store_root = tmp_path / "runs"
    outside = tmp_path / "elsewhere"
    (outside / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(outside / "cat" / "a.png")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sneaky").symlink_to(outside)  # a link inside ./data pointing out
    for spec in (f"folder:{outside}", "folder:/etc", "folder:data/../elsewhere", "folder:data/sneaky",
                 f"folder:{store_root}/../elsewhere"):
        with pytest.raises(access.AccessError, match="outside the allowed data folders") as err:
            access.check_dataset(spec, store_root)
        assert spec.split(":", 1)[1] in str(err.value) and "\n" not in str(err.value)
    access.check_dataset("digits", store_root)  # named datasets are not paths
    (tmp_path / "data" / "mine").mkdir()
    access.check_dataset("folder:data/mine", store_root)  # ./data is allowed
    monkeypatch.setenv("SSLVIZ_DATA_ROOTS", str(outside))  # and so is what the operator lists
    access.check_dataset(f"folder:{outside}", store_root)


def test_the_worker_refuses_a_folder_outside_the_roots_before_opening_it(store, monkeypatch, tmp_path):
    from sslviz.data import folder as folder_mod

    opened = []
    monkeypatch.setattr(folder_mod, "load_folder", lambda *a, **k: opened.append(a) or 1 / 0)
    outside = tmp_path / "secret"
    outside.mkdir()
    run_id = store.create(tiny_config(dataset=f"folder:{outside}").to_dict(), status="running")
    result = worker.execute(store, run_id, chain=False)
    run = store.get(run_id)
    assert result["status"] == "failed" and "outside the allowed data folders" in run["message"]
    assert str(outside) in run["message"] and not opened


def test_the_train_page_refuses_a_folder_outside_the_roots(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60).run()
    at.sidebar.selectbox[0].select("folder:…")
    at.sidebar.text_input[0].input("/etc")
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert any("outside the allowed data folders" in e.value for e in at.sidebar.error)
    assert store.list() == []


def _finished_run(store) -> str:
    run_id = store.create(tiny_config().to_dict())
    store.update(run_id, status="completed")
    (store.run_dir(run_id) / "checkpoint.pt").write_bytes(b"weights")
    return run_id


def test_deleting_a_run_needs_the_teacher_password_when_one_is_set(store, monkeypatch):
    run_id = _finished_run(store)
    monkeypatch.setenv("SSLVIZ_TEACHER_PASSWORD", "s3cret")
    for given, needle in ((None, "needs the teacher password"), ("", "needs the teacher password"),
                          ("wrong", "wrong password"), ("S3CRET", "wrong password")):
        with pytest.raises(access.AccessError, match=needle):
            access.delete_run(store, run_id, given)
        assert store.get(run_id)["status"] == "completed" and (store.run_dir(run_id) / "checkpoint.pt").exists()
    access.delete_run(store, run_id, "s3cret")
    assert store.list() == [] and not store.run_dir(run_id).exists()
    monkeypatch.delenv("SSLVIZ_TEACHER_PASSWORD")
    other = _finished_run(store)
    access.delete_run(store, other)  # no password set: anyone may delete a finished run
    assert store.list() == []


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    except OSError:
        pass
    return out


def _listening() -> dict[str, tuple[str, str]]:
    """inode -> (protocol, local address) of every listening TCP socket and bound UDP socket."""
    out = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if proto.startswith("tcp") and f[3] != "0A":  # 0A = LISTEN
                continue
            out[f[9]] = (proto, f[1])
    return out


def _descendants(pid: int) -> set[int]:
    kids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for c in map(int, children):
            if c not in kids:
                kids.add(c)
                todo.append(c)
    return kids


def test_a_training_worker_opens_no_listening_socket(store):
    run_id = worker.submit(tiny_config(labels_per_class=8, batch_size=32, eval_train_max=100, eval_test_max=50,
                                       epochs=3), store)
    samples = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        run = store.get(run_id)
        if run["status"] not in ("queued", "running"):
            break
        if run["pid"]:
            pids = {run["pid"]} | _descendants(run["pid"])
            listening = _listening()
            mine = {ino for p in pids for ino in _socket_inodes(p)}
            assert not (mine & set(listening)), [listening[i] for i in mine & set(listening)]
            samples += 1
        time.sleep(0.2)
    assert store.get(run_id)["status"] == "completed", store.get(run_id)["message"]
    assert samples >= 3  # looked while it was importing, loading and training


def test_streamlit_listens_only_where_its_config_says(tmp_path):
    """`streamlit run app.py` with no address flag binds only to the loopback address of
    .streamlit/config.toml, and the app's process opens no other listening socket."""
    import tomllib
    import urllib.error
    import urllib.request

    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["server"]["address"] == "127.0.0.1" and conf["browser"]["gatherUsageStats"] is False
    port = _free_port()
    env = dict(os.environ, SSLVIZ_HOME=str(tmp_path / "runs"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                             f"--server.port={port}", "--server.fileWatcherType=none"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("streamlit did not start")
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()  # a page view
        # static serving (the map's thumbnail sheets) serves static/ and nothing outside it
        assert b"thumbs" in urllib.request.urlopen(f"http://127.0.0.1:{port}/app/static/README.md", timeout=10).read()
        for outside in ("..%2F.streamlit%2Fconfig.toml", "%2E%2E/app.py", "..%2F..%2Fetc%2Fpasswd"):
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/app/static/{outside}", timeout=10).status
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status in (400, 403, 404), f"/app/static/{outside}: HTTP {status}"
        listening = _listening()
        pids = {proc.pid} | _descendants(proc.pid)
        mine = [listening[i] for p in pids for i in _socket_inodes(p) if i in listening]
        assert mine, "the server's listening socket was not found"
        for proto, local in mine:
            addr, hexport = local.split(":")
            assert int(hexport, 16) == port, (proto, local)  # nothing but the configured port
            assert addr in ("0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"), \
                f"{proto} {local}: bound beyond loopback"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
