"""First start with the zoo: the background install reports "k of n" as it goes (readable from any
script run), and the shipped label-efficiency experiment is built over catalogue names and installed
once as a finished eval job over the store's own runs."""

import json
import threading

import pytest
from zoo_support import SMALL_EXPERIMENT, TINY_ZOO, install_tiny_zoo, tiny_zoo_doc, tiny_zoo_folder

import sslviz.teaching.pretrained.install as inst
from sslviz.teaching.pretrained import experiment as zexp


def test_background_install_reports_k_of_n_while_it_runs(store, monkeypatch):
    names = ["alpha", "beta", "gamma"]
    gates = {n: threading.Event() for n in names}
    started: list[str] = []

    def slow_install_one(store_, name, folder=None):  # one checkpoint installs when the test says so
        started.append(name)
        assert gates[name].wait(30)
        if name == "beta":
            raise inst.SslvizError("pretrained beta: cannot read its files (test)")
        return store_.create({"method": "simclr", "dataset": "shapes", "name": name}, status="completed")

    monkeypatch.setenv("SSLVIZ_PRETRAINED", "1")
    monkeypatch.setattr(inst, "available", lambda folder=None: names)
    monkeypatch.setattr(inst, "install_one", slow_install_one)
    monkeypatch.setattr(zexp, "experiment_path", lambda folder=None: store.root / "no-experiment.json")
    assert inst.install_progress(store) is None  # nothing started for this store

    def wait_for(predicate):
        import time

        deadline = time.time() + 30
        while not predicate() and time.time() < deadline:
            time.sleep(0.01)
        return predicate()

    fut = inst.install_in_background(store)
    assert inst.install_in_background(store) is fut  # once per store and process
    try:
        # catalogue order: the first entry (what the pages open on) first
        assert wait_for(lambda: started == ["alpha"])
        p = inst.install_progress(store)
        assert (p["done"], p["total"], p["current"], p["finished"]) == (0, 3, "alpha", False)
        gates["alpha"].set()
        assert wait_for(lambda: inst.install_progress(store)["done"] == 1)
        assert inst.install_progress(store)["current"] == "beta"
        gates["beta"].set()
        assert wait_for(lambda: inst.install_progress(store)["done"] == 2)
        gates["gamma"].set()
        result = fut.result(30)
    finally:
        for g in gates.values():
            g.set()
    p = inst.install_progress(store)
    assert (p["done"], p["total"], p["finished"]) == (3, 3, True)
    assert len(p["errors"]) == 1 and "beta" in p["errors"][0]
    assert set(result["installed"]) == {"alpha", "gamma"} and set(inst.installed(store)) == {"alpha", "gamma"}
    # the dict handed out is a copy: a page cannot disturb the installer's
    p["done"] = 99
    assert inst.install_progress(store)["done"] == 3


def test_progress_callback_counts_every_checkpoint_and_ends_with_none(store, monkeypatch):
    calls = []
    monkeypatch.setattr(inst, "available", lambda folder=None: ["a", "b"])
    monkeypatch.setattr(inst, "install_one", lambda s, name, folder=None: s.create({"method": "simclr"}))
    monkeypatch.setattr(zexp, "experiment_path", lambda folder=None: store.root / "no-experiment.json")
    inst.install(store, progress=lambda *a: calls.append(a))
    assert calls == [(0, 2, "a"), (1, 2, "b"), (2, 2, None)]  # catalogue order
    calls.clear()
    inst.install(store, progress=lambda *a: calls.append(a))  # nothing left to do
    assert calls == [(0, 0, None)]


def test_shipped_experiment_names_runs_by_catalogue_entry_not_by_run_id():
    doc = tiny_zoo_doc()
    res = doc["results"]
    assert list(doc["entries"]) == list(TINY_ZOO) and all(len(v) == 16 for v in doc["entries"].values())
    assert res["config"]["runs"] == list(TINY_ZOO)
    assert {r["run_id"] for r in res["results"] if r["run_id"]} == set(TINY_ZOO)
    assert all(r["key"] == r["run_id"] for r in res["results"] if r["run_id"])
    assert {s["run_id"] for s in res["subjects"]} == set(TINY_ZOO) | {None}
    # budgets x protocols x (2 runs + raw pixels), 1 seed, all finished
    assert res["status"] == "completed" and res["cells_done"] == 2 * 2 * 3 == len(res["results"])
    assert res["config"]["seeds"] == SMALL_EXPERIMENT["seeds"] and doc["seconds"]["experiment"] > 0


def test_install_adds_the_experiment_once_with_this_stores_run_ids(store, monkeypatch):
    from sslviz.experiments.label_efficiency import experiments, load_results

    new = install_tiny_zoo(store, monkeypatch)
    marker = inst.installed(store)
    exp_id = marker[zexp.MARKER_KEY]
    assert zexp.zoo_experiment(store) == exp_id
    job = store.get(exp_id)
    assert job["kind"] == "eval" and job["status"] == "completed" and job["progress"] == 1.0
    assert job["config"]["runs"] == [new[n] for n in TINY_ZOO]
    assert [j["id"] for j in experiments(store, [new["tiny-simclr-shapes"]])] == [exp_id]
    res = load_results(store, exp_id)
    shipped = tiny_zoo_doc()["results"]
    by_cell = {(r["run_id"], r["protocol"], str(r["labels_per_class"])): r["mean"] for r in shipped["results"]}
    for r in res["results"]:  # the same numbers, now under this store's ids
        name = next((n for n, i in new.items() if i == r["run_id"]), None)
        assert r["key"] == r["run_id"] or (r["run_id"] is None and r["key"] == "pixels")
        assert by_cell[(name, r["protocol"], str(r["labels_per_class"]))] == r["mean"]
    assert {r["run_id"] for r in res["results"]} == set(new.values()) | {None}
    assert {r["label"] for r in res["results"] if r["run_id"]} == {c["name"] for c in TINY_ZOO.values()}
    # idempotent: a second install (another session, a restart) adds nothing; deleting it is a choice
    assert inst.install(store, folder=tiny_zoo_folder()) == {} and len(store.list(kind="eval")) == 1
    store.delete(exp_id)
    inst.install(store, folder=tiny_zoo_folder())
    assert store.list(kind="eval") == [] and zexp.zoo_experiment(store) is None


def test_experiment_keeps_only_runs_this_store_holds_unchanged(store, monkeypatch, tmp_path):
    import shutil

    folder = tmp_path / "shipped"
    shutil.copytree(tiny_zoo_folder(), folder)
    # RotNet was rebuilt after the experiment was measured (its fingerprint differs): its numbers are
    # no longer its run's
    path = folder / "experiment-shapes.json"
    doc = json.loads(path.read_text())
    doc["entries"]["tiny-rotation-shapes"] = "0" * 16
    path.write_text(json.dumps(doc))
    from zoo_support import use_tiny_zoo

    use_tiny_zoo(monkeypatch)
    errors: list = []
    new = inst.install(store, folder=folder, log=errors.append)
    assert not errors, errors
    exp_id = zexp.zoo_experiment(store)
    res = json.loads((store.run_dir(exp_id) / "results.json").read_text())
    assert store.get(exp_id)["config"]["runs"] == [new["tiny-simclr-shapes"]]
    assert {r["run_id"] for r in res["results"]} == {new["tiny-simclr-shapes"], None}
    assert res["cells_done"] == res["cells_total"] == len(res["results"]) == 2 * 2 * 2


def test_a_damaged_experiment_file_is_one_line_and_the_runs_still_install(store, monkeypatch, tmp_path):
    import shutil

    from zoo_support import use_tiny_zoo

    folder = tmp_path / "shipped"
    shutil.copytree(tiny_zoo_folder(), folder)
    (folder / "experiment-shapes.json").write_text("{not json")
    use_tiny_zoo(monkeypatch)
    errors: list = []
    new = inst.install(store, folder=folder, log=errors.append)
    assert set(new) == set(TINY_ZOO) and store.list(kind="eval") == []
    assert len(errors) == 1 and "experiment-shapes.json" in errors[0] and "\n" not in errors[0]


def test_cli_builds_the_experiment(monkeypatch, tmp_path, capsys):
    from sslviz.cli.main import main

    calls = {}

    def fake_build(out=None, names=None, folder=None, echo=None, **over):
        calls.update(out=out, names=names)
        return {"entries": {"simclr-shapes": "x"}, "seconds": {"install": 1.0, "experiment": 2.0},
                "results": {"cells_done": 8}}

    monkeypatch.setattr(zexp, "build_experiment", fake_build)
    assert main(["pretrained", "experiment", "--only", "simclr-shapes", "--out", str(tmp_path / "e.json")]) == 0
    assert calls == {"out": tmp_path / "e.json", "names": ["simclr-shapes"]}
    assert "experiment over 1 runs: 8 results" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["pretrained", "experimentt"])


def test_a_store_that_has_the_runs_but_not_the_experiment_gets_it_on_next_start(store, monkeypatch):
    from zoo_support import use_tiny_zoo

    import sslviz.teaching.pretrained as pretrained

    use_tiny_zoo(monkeypatch)
    new = inst.install(store, folder=tiny_zoo_folder(), experiment=False)  # installed before it shipped
    assert set(new) == set(TINY_ZOO) and zexp.zoo_experiment(store) is None
    monkeypatch.setattr(pretrained, "FOLDER", tiny_zoo_folder())
    monkeypatch.setenv("SSLVIZ_PRETRAINED", "1")
    assert inst.pending(store) == [] and zexp.experiment_pending(store)
    fut = inst.install_in_background(store)
    assert fut is not None and fut.result(60)["installed"] == {}
    exp_id = zexp.zoo_experiment(store)
    assert exp_id and store.get(exp_id)["config"]["runs"] == [new[n] for n in TINY_ZOO]
    assert not zexp.experiment_pending(store)


def test_the_shipped_experiment_covers_the_shipped_shapes_runs_as_built():
    """experiment-shapes.json was measured on exactly the weights that ship: rebuilding a zoo entry
    without `python -m sslviz pretrained experiment` leaves that run out of the Label Efficiency page."""
    doc = zexp.load_shipped_experiment()
    assert doc is not None, "build it: python -m sslviz pretrained experiment"
    assert set(doc["entries"]) == set(zexp.zoo_entries()), "every shapes run (no counter-example) is in it"
    stale = [n for n, sha in doc["entries"].items() if zexp.fingerprint(n) != sha]
    assert not stale, f"rebuilt since the experiment was measured: {stale}"
    res = doc["results"]
    assert res["status"] == "completed" and res["config"]["seeds"] == 3
    assert res["config"]["labels_per_class"] == [1, 10, 100, "all"] and res["config"]["protocols"] == ["knn", "linear"]
    assert {r["run_id"] for r in res["results"]} == set(doc["entries"]) | {None}
