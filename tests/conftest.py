import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba-cache"))
os.environ["SSLVIZ_PRETRAINED"] = "0"  # a test's store holds only the runs the test made (tests that want them install)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty run store for one test; child processes see it through SSLVIZ_HOME."""
    path = tmp_path / "runs"
    monkeypatch.setenv("SSLVIZ_HOME", str(path))
    return path


@pytest.fixture
def store(runs_dir):
    from sslviz.training.runs import RunStore

    return RunStore(runs_dir)


def tiny_config(**over):
    """A run that takes a second or two on 2 CPU cores: digits at 16 px, one epoch."""
    from sslviz.training.config import RunConfig

    base = dict(method="simclr", dataset="digits", epochs=1, batch_size=128, image_size=16,
                eval_train_max=500, eval_test_max=200, device="cpu", final_scores=False)  # tests/test_paper_protocol.py: on
    base.update(over)
    return RunConfig.from_dict(base)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_server(tmp_path):
    """`streamlit run app.py` on a free loopback port with its own run store; yields (url, runs_dir)."""
    import subprocess
    import time
    import urllib.request

    runs = tmp_path / "browser-runs"
    port = _free_port()
    env = dict(os.environ, SSLVIZ_HOME=str(runs), PYTHONPATH=str(ROOT))
    env.pop("SSLVIZ_NO_LIVE", None)
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
    try:
        yield url, runs
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        # stop any trainer the test left behind
        from sslviz.training.runs import RunStore

        store = RunStore(runs)
        for run in store.list(kind=None):
            if run["status"] in ("queued", "running"):
                store.request_stop(run["id"])
                if run["pid"]:
                    try:
                        os.kill(run["pid"], signal.SIGTERM)
                    except OSError:
                        pass


@pytest.fixture
def browser():
    """Debian's chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def trained_tiny_run(tmp_path_factory):
    """One real tiny training run per test session (digits at 16 px, 2 epochs: snapshots at epochs
    0, 1 and 2): (run directory, RunConfig, summary). Copy it into a store with `add_finished_run`."""
    from sslviz.training import train

    path = tmp_path_factory.mktemp("trained-tiny-run")
    config = tiny_config(epochs=2, final_scores=True)  # with the papers' figures (tests/test_paper_protocol.py)
    summary = train.run(config, path)
    return path, config, summary


@pytest.fixture
def add_finished_run(trained_tiny_run):
    """A function store -> run id: registers a completed copy of the session's tiny run in `store`."""
    import shutil
    import time

    def add(store, **config_over) -> str:
        path, config, summary = trained_tiny_run
        run_id = store.create({**config.to_dict(), **config_over}, status="running")
        for f in path.glob("embeddings_*.npz"):
            shutil.copy(f, store.run_dir(run_id) / f.name)
        store.update(run_id, status="completed", progress=1.0, summary=summary, ended=time.time())
        return run_id

    return add


# ---- small shared builders and fixtures ----------------------------------------------------------


def png_bytes(seed: int = 0, size: int = 10) -> bytes:
    """A small random RGB PNG."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def zip_bytes(entries, compression=None) -> bytes:
    """A zip archive in memory; entries: [(name or ZipInfo, bytes)] (duplicates allowed)."""
    import io
    import warnings
    import zipfile

    compression = zipfile.ZIP_DEFLATED if compression is None else compression
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": a bad-input case wants one
        for name, blob in entries:
            if isinstance(name, zipfile.ZipInfo):
                name.compress_type = compression
            z.writestr(name, blob)
    return buf.getvalue()


@pytest.fixture
def one_torch_thread():
    """Tiny networks: one thread is faster, and on a shared machine far faster (no oversubscription)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
