"""Pages through streamlit.testing (live refresh off: SSLVIZ_NO_LIVE=1)."""

import time
from pathlib import Path

import pytest
from conftest import tiny_config
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_live(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")


def test_home_page_renders_with_demo_button():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert "self-supervised" in at.title[0].value.lower()
    assert any("demo" in b.label.lower() for b in at.button)


def test_train_page_lists_runs_and_shows_curves(store):
    from sslviz.training import train
    from sslviz.training.worker import StoreReporter

    run_id = store.create(tiny_config().to_dict())
    store.claim_queued(1)
    summary = train.run(tiny_config(), store.run_dir(run_id), StoreReporter(store, run_id))
    store.update(run_id, status="completed", summary=summary, progress=1.0)

    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert run_id in text and "completed" in text
    assert "on cpu" in text  # the device the run trained on
    assert any(m.label == "kNN accuracy, estimate (bank 500, test 200)" for m in at.metric)  # the monitor, labelled


def test_the_curves_figure_is_shared_between_sessions_and_follows_new_metrics(store):
    """Sessions showing the same run's curves share one figure object; a new metric row makes a new one."""
    import json

    from sslviz.ui import common

    run_id = store.create(tiny_config().to_dict())
    store.add_metrics(run_id, [(0, 0, 0.0, "loss", 2.0), (1, 0, 1.0, "loss", 1.5)])

    def curves():
        at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        return next(c for c in charts if any(t.get("name") == "loss" for t in c["data"]))

    first = curves()
    shared = [f for k, f in common._shared.items() if k[0] == "curves" and k[2] == run_id]
    assert len(shared) == 1
    assert curves() == first  # a second session: the same figure ...
    assert [f for k, f in common._shared.items() if k[0] == "curves" and k[2] == run_id] == shared  # ... not rebuilt
    store.add_metrics(run_id, [(2, 1, 2.0, "loss", 1.2)])
    loss = next(t for t in curves()["data"] if t.get("name") == "loss")
    assert loss["y"] == [2.0, 1.5, 1.2]  # the new row is drawn, not a stale shared figure


def test_train_page_form_starts_a_run_and_bad_input_is_shown(store):
    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60).run()
    assert not at.exception
    at.sidebar.selectbox[0].select("digits")
    at.sidebar.number_input[0].set_value(1)  # epochs
    at.sidebar.button[0].click().run()
    assert not at.exception
    runs = store.list()
    assert len(runs) == 1 and runs[0]["dataset"] == "digits" and runs[0]["config"]["epochs"] == 1
    assert runs[0]["config"]["backbone"] == "auto"  # the recipe completes it from the images, explained beside the form
    assert any("Recipe for simclr on digits: greyscale" in c.value and "small-cnn-grid" in c.value
               for c in at.sidebar.caption)
    from sslviz.training import worker

    worker.cancel(store, runs[0]["id"])
    # a folder run without a path: a clear message, no new run
    at.sidebar.selectbox[0].select("folder:…")
    at.sidebar.button[0].click().run()
    assert any("folder path" in e.value for e in at.sidebar.error)
    assert len(store.list()) == 1
    deadline = time.time() + 60
    while store.get(runs[0]["id"])["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.3)


def test_shared_builds_once_per_key_and_keeps_only_what_it_is_told_to():
    from sslviz.ui import common

    calls = []

    def build(v):
        calls.append(v)
        return {"value": v, "ready": v != "waiting"}

    a = common.shared(("test-shared", 1), lambda: build(1))
    assert common.shared(("test-shared", 1), lambda: build(99)) is a and calls == [1]
    assert common.shared(("test-shared", 2), lambda: build(2))["value"] == 2  # another key, another value
    ready = lambda v: v["ready"]  # noqa: E731
    common.shared(("test-shared", 3), lambda: build("waiting"), keep=ready)
    common.shared(("test-shared", 3), lambda: build("waiting"), keep=ready)
    assert calls.count("waiting") == 2  # not remembered: built again until it is ready
    for i in range(common.SHARED_ENTRIES + 5):
        common.shared(("test-shared-fill", i), lambda: build("x"))
    assert ("test-shared", 1) not in common._shared and len(common._shared) <= common.SHARED_ENTRIES  # bounded
