"""The Label Efficiency and Compare pages through streamlit.testing (live refresh off, workers off:
jobs are queued, never started, so each test sees exactly what the page wrote)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from labeleff_support import finished_run
from streamlit.testing.v1 import AppTest

from sslviz.experiments.label_efficiency import ExperimentConfig, run_experiment

ROOT = Path(__file__).resolve().parent.parent
LE_PAGE, COMPARE_PAGE = str(ROOT / "pages/5_Label_Efficiency.py"), str(ROOT / "pages/6_Compare.py")


@pytest.fixture(autouse=True)
def quiet(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stored_experiment(store, runs, stop_after=None, **over):
    """Run an experiment into the store as the worker would; stop_after: cancel after N results."""
    from sslviz.experiments import label_efficiency as experiments

    base = dict(runs=runs, labels_per_class=[1, 5, "all"], protocols=["knn", "linear"], seeds=2,
                baselines=["pixels"], device="cpu", test_max=200)
    cfg = ExperimentConfig.from_dict({**base, **over})
    exp_id = store.create(cfg.to_dict(), kind="eval", status="running")
    report = None
    if stop_after is not None:
        experiments.STOP_CHECK_SECONDS, saved = 0.0, experiments.STOP_CHECK_SECONDS

        class Stop:
            seen = 0

            def progress(self, fraction, eta, message=""):
                Stop.seen += message.endswith("%")

            def should_stop(self):
                return Stop.seen >= stop_after

        report = Stop()
    try:
        results = run_experiment(cfg, store, store.run_dir(exp_id), report)
    finally:
        if stop_after is not None:
            experiments.STOP_CHECK_SECONDS = saved
    store.update(exp_id, status=results["status"], progress=1.0)
    return exp_id


def _page(path, **query):
    at = AppTest.from_file(path, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def _text(at) -> str:
    return " ".join([m.value for m in at.markdown] + [m.value for m in at.caption] + [m.value for m in at.info]
                    + [m.value for m in at.warning] + [m.value for m in at.error])


def test_label_efficiency_page_reloads_stored_results_with_curves_table_savings_and_csv(store):
    run_id = finished_run(store)
    exp_id = stored_experiment(store, [run_id], baselines=["pixels", "supervised"], protocols=["knn"],
                               labels_per_class=[1, 2], finetune_max_steps=5)
    at = _page(LE_PAGE, run=run_id)
    assert not at.exception
    assert exp_id in _text(at) and "completed" in _text(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    import json

    names = {t["name"] for t in json.loads(charts[0].proto.spec)["data"]}
    assert {f"{run_id} · knn", "raw pixels · knn", "supervised from scratch · scratch"} <= names
    table = at.dataframe[0].value
    assert set(table["protocol"]) == {"knn", "scratch"} and {"1", "2"} <= set(table.columns)
    assert "supervised from scratch" in _text(at) and "per class" in _text(at)  # the savings read-out
    assert len(at.get("download_button")) == 1
    assert at.query_params["run"] == run_id and at.query_params["exp"] == exp_id


def test_the_form_queues_an_experiment_in_the_background_queue(store):
    run_id = finished_run(store)
    at = _page(LE_PAGE, run=run_id)
    assert not at.exception
    at.multiselect(key="le-budgets").set_value([1, 2])
    at.multiselect(key="le-protocols").set_value(["knn"])
    at.number_input(key="le-seeds").set_value(2)
    at.multiselect(key="le-baselines").set_value(["pixels"])
    at.button[0].click().run()
    assert not at.exception, at.exception
    jobs = store.list(kind="eval")
    assert len(jobs) == 1 and jobs[0]["status"] == "queued"
    cfg = jobs[0]["config"]
    assert (cfg["runs"], cfg["labels_per_class"], cfg["protocols"], cfg["seeds"], cfg["baselines"]) == \
        ([run_id], [1, 2], ["knn"], 2, ["pixels"])
    assert "analysis queue" in _text(at) and at.query_params["exp"] == jobs[0]["id"]


def test_bad_input_run_without_checkpoint_and_dataset_without_labels(store):
    from conftest import tiny_config

    queued = store.create(tiny_config().to_dict(), status="queued")
    at = _page(LE_PAGE, run=queued)
    at.button[0].click().run()
    assert not at.exception
    assert any("has no checkpoint yet (it is still queued)" in e.value for e in at.error)
    assert store.list(kind="eval") == []
    # a run trained on a folder of unlabelled images (one subfolder): explain, show the layout
    from PIL import Image

    folder = store.root / "uploads" / "mine" / "unsorted"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run_id = finished_run(store, method="random-init", dataset=f"folder:{folder.parent}", image_size=8)
    at = _page(LE_PAGE, run=run_id)
    at.button[0].click().run()
    assert any("evaluation needs labels" in e.value and "one folder per class" in e.value for e in at.error)
    assert any("cat/" in c.value for c in at.code)
    assert store.list(kind="eval") == []


def test_a_cancelled_experiment_shows_its_partial_results(store):
    run_id = finished_run(store)
    exp_id = stored_experiment(store, [run_id], stop_after=2)
    at = _page(LE_PAGE, run=run_id, exp=exp_id)
    assert not at.exception
    assert any("Cancelled" in w.value and "kept" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1 and len(at.dataframe[0].value) == 1  # knn of the run only
    assert any("cancelled: 2 of" in i.value for i in at.info)


def test_compare_page_overlays_leaderboard_embeddings_and_same_budget(store):
    a, b = finished_run(store), finished_run(store, method="random-init")
    stored_experiment(store, [a, b], labels_per_class=[1, 10], protocols=["linear"])
    at = _page(COMPARE_PAGE, run=f"{a},{b}", proj="pca")
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 5  # training overlay, alignment/uniformity, label-efficiency overlay, two embeddings
    assert any(h.value == "Alignment and uniformity" for h in at.subheader)
    assert any("Lower-left is better" in c.value for c in at.caption)
    board = at.dataframe[0].value
    assert list(board["run"]) == [a, b] and board["linear @1"].notna().all() and board["linear @100"].isna().all()
    assert at.query_params["run"] == f"{a},{b}"
    at.number_input(key="cmp-seconds").set_value(20)
    at.number_input(key="cmp-seed").set_value(3)
    next(x for x in at.button if x.label.startswith("Queue")).click().run()
    assert not at.exception, at.exception
    queued = [r for r in store.list() if r["status"] == "queued"]
    assert sorted(r["method"] for r in queued) == ["random-init", "simclr"]
    for r in queued:
        c = r["config"]
        assert (c["time_budget"], c["seed"], c["dataset"], c["backbone"], c["image_size"]) == (20.0, 3, "digits",
                                                                                             "auto", 16)
    assert any("same budget" in s.value for s in at.success)
    assert set(at.multiselect(key="cmp-runs").value) == {a, b} | {r["id"] for r in queued}
