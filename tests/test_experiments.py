"""Label-efficiency experiments end to end: paired rows, results in the store, CSV, CLI JSON,
cancel with partial results and resume, the background worker, bad input, and the compare helpers."""

import csv
import io
import json

import numpy as np
import pytest
import torch
from labeleff_support import finished_run, wait_for

from sslviz.core.errors import ConfigError, DataError, SslvizError
from sslviz.experiments import compare
from sslviz.experiments import label_efficiency as experiments
from sslviz.experiments.label_efficiency import ExperimentConfig, load_results, prepare, run_experiment
from sslviz.training import worker
from sslviz.training.runs import RunStore

BASE = dict(labels_per_class=[1, 5, "all"], protocols=["knn", "linear"], seeds=3, device="cpu", test_max=300)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A store with a SimCLR run and a random-init run, and one finished experiment on both."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    store = RunStore(tmp_path_factory.mktemp("labeleff-store"))
    simclr, rand = finished_run(store), finished_run(store, method="random-init")
    exp_id = store.create(ExperimentConfig.from_dict(dict(runs=[simclr, rand], baselines=["pixels", "random-init"],
                                                          **BASE)).to_dict(), kind="eval", status="running")
    results = run_experiment(load_store_config(store, exp_id), store, store.run_dir(exp_id))
    store.update(exp_id, status="completed")
    torch.set_num_threads(before)
    return dict(store=store, simclr=simclr, rand=rand, exp=exp_id, results=results)


def load_store_config(store, exp_id):
    return ExperimentConfig.from_dict(store.get(exp_id)["config"])


def _by_cell(rows):
    return {(r["key"], r["protocol"], str(r["labels_per_class"])): r for r in rows}


def test_rows_cover_every_cell_and_the_draws_are_paired(lab):
    rows = lab["results"]["results"]
    assert len(rows) == 4 * 2 * 3  # (2 runs + 2 baselines) × (knn, linear) × (1, 5, all)
    cells = _by_cell(rows)
    for r in rows:
        assert 0.0 <= r["mean"] <= 1.0 and r["labels_per_class_effective"] > 0
        if r["labels_per_class"] == "all":
            assert r["n_seeds"] == 1 and r["ci95"] == 0.0 and "same labelled set" in r["note"]
        else:
            assert r["n_seeds"] == 3 and len(r["values"]) == 3 and r["ci95"] is not None
    # the random-init run and the random-init baseline are the same untrained network on the same
    # labelled images: identical numbers seed by seed (the comparison is paired)
    for protocol in ("knn", "linear"):
        for b in ("1", "5", "all"):
            assert cells[(lab["rand"], protocol, b)]["values"] == cells[("random-init", protocol, b)]["values"]
    assert cells[(lab["simclr"], "knn", "1")]["labels_total"] == 10  # 1 per class, 10 digits
    assert lab["results"]["status"] == "completed" and lab["results"]["cells_done"] == 24


def test_results_are_stored_reloaded_and_exported_as_csv(lab):
    store, exp = lab["store"], lab["exp"]
    stored = load_results(store, exp)
    assert stored["results"] == json.loads(json.dumps(experiments.jsonable(lab["results"]["results"])))
    assert [e["id"] for e in experiments.experiments(store, [lab["simclr"]])] == [exp]
    assert experiments.experiments(store, ["other-run"]) == []
    table = list(csv.reader(io.StringIO(experiments.results_csv(stored))))
    assert tuple(table[0]) == experiments.CSV_COLUMNS and len(table) == 1 + 24
    first = dict(zip(table[0], table[1]))
    assert float(first["mean"]) == pytest.approx(stored["results"][0]["mean"])
    assert len(first["values"].split(";")) == stored["results"][0]["n_seeds"]


def test_leaderboard_and_label_rows_read_the_stored_experiment(lab):
    store = lab["store"]
    board = compare.leaderboard(store, [lab["simclr"], lab["rand"]])
    cells = _by_cell(lab["results"]["results"])
    assert board[0]["run"] == lab["simclr"] and board[0]["linear @1"] == pytest.approx(cells[(lab["simclr"], "linear", "1")]["mean"])
    assert board[0]["linear @10"] is None and board[0]["kNN"] is not None and board[0]["images/s"] > 0
    assert board[0]["collapse"].startswith(("ok", "⚠️"))
    assert compare.missing_linear(board) == []
    rows = compare.label_rows(store, [lab["simclr"]])
    keys = {r["key"] for r in rows}
    assert keys == {lab["simclr"], "pixels", "random-init"}  # the other run is not asked for


def test_cli_json_last_line_has_exactly_the_documented_rows(lab, capsys):
    from sslviz.cli.main import main

    code = main(["eval", "--run", lab["simclr"], "--labels-per-class", "1,2", "--protocol", "knn", "--seeds", "2",
                 "--baselines", "pixels", "--device", "cpu", "--json", "--runs-dir", str(lab["store"].root)])
    out = capsys.readouterr()
    assert code == 0
    last = json.loads(out.out.strip().splitlines()[-1])
    assert len(last["results"]) == 2 * 2
    for row in last["results"]:
        assert set(row) == set(experiments.JSON_KEYS) and row["protocol"] == "knn" and row["n_seeds"] == 2
    baseline = [r for r in last["results"] if r["method"] == "pixels"]
    assert len(baseline) == 2 and all(r["run_id"] is None for r in baseline)
    assert {r["run_id"] for r in last["results"]} == {lab["simclr"], None}
    job = lab["store"].get(last["experiment_id"])
    assert job["kind"] == "eval" and job["status"] == "completed"
    # bad input: one line, exit 2
    assert main(["eval", "--run", "no-such-run", "--runs-dir", str(lab["store"].root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-run" in err[0] and "Traceback" not in err[0]


class _StopAfter:
    """A reporter that asks to stop once `cells` results have been announced."""

    def __init__(self, cells):
        self.cells, self.seen = cells, 0

    def progress(self, fraction, eta, message=""):
        self.seen += message.endswith("%")

    def should_stop(self):
        return self.seen >= self.cells


def test_cancel_keeps_partial_results_and_resume_finishes_them(lab, tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "STOP_CHECK_SECONDS", 0.0)
    cfg = dict(runs=[lab["simclr"]], baselines=["pixels"], **BASE)
    out = tmp_path / "exp"
    out.mkdir()
    partial = run_experiment(cfg, lab["store"], out, _StopAfter(2))
    assert partial["status"] == "cancelled" and partial["cells_done"] == 2 < partial["cells_total"]
    assert any("cancelled: 2 of" in n for n in partial["notes"])
    assert load_results(lab["store"], "x") is None
    kept = json.loads((out / experiments.RESULTS_FILE).read_text())
    assert kept["status"] == "cancelled" and len(kept["results"]) == 2
    full = run_experiment(cfg, lab["store"], out)
    assert full["status"] == "completed" and full["cells_done"] == full["cells_total"] == 12
    assert full["results"][:2] == kept["results"]  # finished cells are kept, not recomputed


def test_the_worker_runs_an_experiment_in_the_background_and_cancel_is_honoured(lab):
    store = lab["store"]
    exp_id, notes = experiments.submit(dict(runs=[lab["simclr"]], labels_per_class=[1, 2], protocols=["knn"],
                                            seeds=2, device="cpu", test_max=200), store)
    assert store.get(exp_id)["kind"] == "eval" and store.get(exp_id)["dataset"] == "digits"
    assert len(notes) == 1 and notes[0].startswith("a fixed random 200 of the")
    job = wait_for(lambda: (j := store.get(exp_id))["status"] not in ("queued", "running") and j, timeout=180)
    assert job["status"] == "completed", job["message"] + job["error"]
    assert job["summary"]["cells_done"] == 2 and load_results(store, exp_id)["status"] == "completed"
    # cancel: a running experiment asked to stop ends cancelled, keeping what it had (nothing here)
    cfg, _ = prepare(dict(runs=[lab["simclr"]], labels_per_class=[1], protocols=["knn"], seeds=1, device="cpu"), store)
    stop_id = store.create(cfg, kind="eval")
    assert store.claim_queued(5, ("eval",)) == [stop_id]
    store.request_stop(stop_id)
    result = worker.execute(store, stop_id, chain=False)
    assert result["status"] == "cancelled" and load_results(store, stop_id)["status"] == "cancelled"


def test_bad_input_is_one_clear_line(lab, tmp_path):
    store = lab["store"]
    queued = store.create(dict(tiny_cfg_dict()), status="queued")
    with pytest.raises(SslvizError, match=r"has no checkpoint yet \(it is still queued\)"):
        prepare(dict(runs=[queued], device="cpu"), store)
    with pytest.raises(ConfigError, match="is a eval job"):
        prepare(dict(runs=[lab["exp"]]), store)
    with pytest.raises(ConfigError, match="protocol: unknown 'svm'"):
        prepare(dict(runs=[lab["simclr"]], protocols=["svm"]), store)
    with pytest.raises(ConfigError, match="seeds"):
        prepare(dict(runs=[lab["simclr"]], seeds=0), store)
    # more labels per class than a class has: clipped, with a note per budget
    _, notes = prepare(dict(runs=[lab["simclr"]], labels_per_class=[10, 500], device="cpu"), store)
    assert len(notes) == 1 and notes[0].startswith("500 labels per class: clipped") and "same as 'all'" in notes[0]
    # a dataset without labels (one class folder): explain, and name the folder-per-class layout
    folder = store.root / "uploads" / "unlabelled" / "all"
    folder.mkdir(parents=True)
    from PIL import Image

    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(DataError, match=r"single class \('all'\).*one folder per class"):
        prepare(dict(baselines=["pixels"], dataset=f"folder:{folder.parent}", image_size=8), store)


def test_a_baselines_only_experiment_works_at_the_recipes_image_size(lab):
    """Raw pixels and the untrained network on centred digits at 28 px, as the zoo's runs on them."""
    store = lab["store"]
    cfg, _ = prepare(dict(baselines=["pixels", "random-init"], dataset="digits", device="cpu"), store)
    assert cfg["image_size"] == 28
    cfg, _ = prepare(dict(baselines=["pixels"], dataset="shapes", device="cpu"), store)
    assert cfg["image_size"] == 32
    cfg, _ = prepare(dict(baselines=["pixels"], dataset="digits", image_size=16, device="cpu"), store)
    assert cfg["image_size"] == 16


def tiny_cfg_dict():
    from conftest import tiny_config

    return tiny_config().to_dict()


def test_same_budget_configs_share_data_backbone_seed_and_time(lab):
    store = lab["store"]
    cfgs = compare.same_budget_configs(store, [lab["simclr"], lab["rand"]], 30, seed=7, extra_methods=["rotation"])
    assert [c.method for c in cfgs] == ["simclr", "random-init", "rotation"]
    for c in cfgs:
        # the reference's backbone ("auto": the recipe for the data, the same kind for every method)
        assert (c.dataset, c.backbone, c.image_size, c.seed, c.time_budget) == ("digits", "auto", 16, 7, 30.0)
        assert c.batch_size == 128 and c.epochs == 10_000
    with pytest.raises(ConfigError, match="time budget"):
        compare.same_budget_configs(store, [lab["simclr"]], -1)
    with pytest.raises(ConfigError, match="not a training run"):
        compare.same_budget_configs(store, [lab["exp"]], 10)


def test_projection_side_by_side_shows_pca_until_umap_is_ready(lab, monkeypatch):
    from concurrent.futures import Future

    from sslviz.embeddings import projection_jobs

    store = lab["store"]
    view = compare.projection_of(store, lab["simclr"], "pca")
    assert view["method"] == "pca" and view["ready"] and view["coords"].shape == (len(view["labels"]), 2)

    class Queue:  # the shared projection thread, held still so the test decides when UMAP is done
        def __init__(self):
            self.futures = {}

        def submit(self, key, fn, *args, **kwargs):
            return self.futures.setdefault(key, Future())

        submit_to_child = submit

        def get(self, key):
            return self.futures.get(key)

    queue = Queue()
    monkeypatch.setattr(projection_jobs, "jobs", lambda: queue)
    pending = compare.projection_of(store, lab["simclr"], "umap")
    assert pending["method"] == "pca" and not pending["ready"] and "PCA shown" in pending["note"]
    assert list(queue.futures) == [pending["pending"]]  # one job on the shared thread
    assert compare.projection_of(store, lab["simclr"], "umap")["pending"] == pending["pending"]  # not twice
    assert not compare.projection_ready(pending["pending"])
    queue.futures[pending["pending"]].set_exception(RuntimeError("no umap"))
    assert compare.projection_ready(pending["pending"])
    failed = compare.projection_of(store, lab["simclr"], "umap")
    assert failed["method"] == "pca" and "UMAP failed (no umap)" in failed["note"]
