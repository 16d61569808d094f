import pytest
from conftest import tiny_config

from sslviz.core.errors import ConfigError
from sslviz.core.settings import load_settings
from sslviz.training import worker


def test_defaults_file_and_environment(tmp_path, monkeypatch):
    assert load_settings(tmp_path / "none.toml").max_running == 1
    cfg = tmp_path / "sslviz.toml"
    cfg.write_text('[sslviz]\nmax_running = 2\nmax_per_owner = 3\ndata_roots = ["/data/a"]\n')
    s = load_settings(cfg)
    assert (s.max_running, s.max_per_owner, s.data_roots) == (2, 3, ("/data/a",))
    monkeypatch.setenv("SSLVIZ_MAX_RUNNING", "4")
    assert load_settings(cfg).max_running == 4  # the environment wins


@pytest.mark.parametrize("text,needle", [
    ("[sslviz]\nmax_running = -1\n", "max_running"),
    ("[sslviz]\nbogus = 1\n", "bogus"),
    ("[sslviz]\njournal = 'fast'\n", "journal"),
    ("[sslviz\n", "cannot read"),
])
def test_bad_settings_are_named(tmp_path, text, needle):
    cfg = tmp_path / "sslviz.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg)


def test_queue_limits_per_server_and_per_owner(store, monkeypatch):
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")  # only queue: nothing starts in this test
    monkeypatch.setenv("SSLVIZ_MAX_PER_OWNER", "2")
    monkeypatch.setenv("SSLVIZ_MAX_QUEUED", "3")
    worker.submit(tiny_config(owner="ann"), store)
    worker.submit(tiny_config(owner="ann"), store)
    with pytest.raises(worker.QueueFull, match="max_per_owner"):
        worker.submit(tiny_config(owner="ann"), store)
    third = worker.submit(tiny_config(owner="bob"), store)
    with pytest.raises(worker.QueueFull, match="max_queued"):
        worker.submit(tiny_config(owner="cid"), store)
    assert worker.queue_position(store, third) == 2  # fair order: bob's first run before ann's second
    assert len(store.list()) == 3


def test_a_queue_only_server_leaves_jobs_to_a_worker_loop(store, monkeypatch):
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")
    run_id = worker.submit(tiny_config(), store)
    assert worker.schedule(store) == [] and store.get(run_id)["status"] == "queued"
    worker.worker_loop(store, once=True)  # what `python -m sslviz worker-loop` does on the GPU box
    assert store.get(run_id)["status"] == "running"
    import time

    deadline = time.time() + 180
    while store.get(run_id)["status"] == "running" and time.time() < deadline:
        time.sleep(0.3)
    assert store.get(run_id)["status"] == "completed"


def test_background_trainers_leave_one_core_to_the_server(monkeypatch):
    from sslviz.core.settings import Settings

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Settings().threads() == 1  # the other core is the app server's
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert Settings().threads() == 7
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert Settings().threads() == 1
    assert Settings(torch_threads=3).threads() == 3  # an explicit setting wins
