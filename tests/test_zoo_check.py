"""The zoo proves its figures when it installs (issue 25, point 2): a .pt that is not the one its sidecar
hashes is refused with one line; a sidecar whose recorded figures the weights do not reproduce installs
flagged, and the pages show the flag and the re-scored figures; an honest entry installs unflagged."""

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from zoo_support import TINY_ZOO, tiny_zoo_folder, use_tiny_zoo

import sslviz.teaching.pretrained as pretrained
from sslviz.teaching.pretrained.install import install, installed
from sslviz.teaching.pretrained.verify import HASH_KEY, TOLERANCE, sha256_of

ROOT = Path(__file__).resolve().parent.parent
SIMCLR, ROTNET = list(TINY_ZOO)


@pytest.fixture
def zoo(tmp_path, monkeypatch, one_torch_thread):
    """A private copy of the tiny zoo (a test may damage it), its entries in the catalogue."""
    folder = tmp_path / "shipped"
    shutil.copytree(tiny_zoo_folder(), folder)
    use_tiny_zoo(monkeypatch)
    return folder


def _sidecar(folder: Path, name: str) -> dict:
    return json.loads(pretrained.info_path(name, folder).read_text())


def test_every_shipped_sidecar_records_the_sha256_of_its_weights():
    names = pretrained.available()
    assert names
    for name in names:
        assert _sidecar(None, name)[HASH_KEY] == sha256_of(pretrained.weights_path(name)), name


def test_an_honest_entry_installs_unflagged_with_its_figures_re_scored_within_the_tolerance(zoo, store):
    errors: list = []
    new = install(store, folder=zoo, log=errors.append, experiment=False)
    assert not errors and set(new) == set(TINY_ZOO)
    for name, run_id in new.items():
        recorded = _sidecar(zoo, name)["summary"]
        summary = store.get(run_id)["summary"]
        check = summary["zoo_check"]
        assert check["verdict"] == "ok" and "flag" not in check and check["tolerance"] == TOLERANCE, check
        assert check["weights_sha256"] == _sidecar(zoo, name)[HASH_KEY]
        for key in ("knn_accuracy", "few_label_linear"):
            assert check["recorded"][key] == recorded[key]
            assert check["rescored"][key] == pytest.approx(recorded[key], abs=TOLERANCE), (name, key)
            assert summary[key] == check["rescored"][key]  # what the pages show: the re-scored figure
        assert check["seconds"] > 0
        # the kNN curve ends on the re-scored figure
        knn_rows = [r for r in store.metrics(run_id, ["knn_accuracy"]) if r["value"] is not None]
        assert knn_rows[-1]["value"] == pytest.approx(check["rescored"]["knn_accuracy"])


def test_a_swapped_checkpoint_is_refused_with_one_line_and_the_others_install(zoo, store):
    expected = _sidecar(zoo, SIMCLR)[HASH_KEY]
    shutil.copyfile(pretrained.weights_path(ROTNET, zoo), pretrained.weights_path(SIMCLR, zoo))  # another entry's .pt
    found = sha256_of(pretrained.weights_path(SIMCLR, zoo))
    errors: list = []
    new = install(store, folder=zoo, log=errors.append, experiment=False)
    assert list(new) == [ROTNET] and list(installed(store)) == [ROTNET]
    assert [r["id"] for r in store.list()] == [new[ROTNET]]  # nothing half-made of the refused one
    assert len(errors) == 1 and "\n" not in errors[0], errors
    line = errors[0]
    assert f"{SIMCLR}.pt" in line and expected[:12] in line and found[:12] in line and "not installed" in line


def test_a_sidecar_without_a_hash_is_refused_with_one_line(zoo, store):
    path = pretrained.info_path(SIMCLR, zoo)
    info = json.loads(path.read_text())
    del info[HASH_KEY]
    path.write_text(json.dumps(info))
    errors: list = []
    new = install(store, folder=zoo, log=errors.append, experiment=False)
    assert list(new) == [ROTNET]
    assert len(errors) == 1 and f"{SIMCLR}.json" in errors[0] and "pretrained stamp" in errors[0], errors
    # stamping it (what `python -m sslviz pretrained stamp` does) lets it install
    from sslviz.teaching.pretrained.verify import stamp

    assert stamp([SIMCLR], zoo) == {SIMCLR: "stamped"} and stamp([SIMCLR], zoo) == {SIMCLR: "unchanged"}
    assert list(install(store, folder=zoo, experiment=False)) == [SIMCLR]


def test_an_edited_record_installs_flagged_and_compare_shows_the_flag_and_the_re_scored_figure(
        zoo, store, monkeypatch):
    path = pretrained.info_path(SIMCLR, zoo)
    info = json.loads(path.read_text())
    true_knn = info["summary"]["knn_accuracy"]
    edited = true_knn + 0.1 if true_knn < 0.5 else true_knn - 0.1
    info["summary"]["knn_accuracy"] = edited
    path.write_text(json.dumps(info))
    errors: list = []
    new = install(store, folder=zoo, log=errors.append, experiment=False)
    assert not errors and set(new) == set(TINY_ZOO)  # the weights are the shipped ones: it installs, flagged
    run = store.get(new[SIMCLR])
    check = run["summary"]["zoo_check"]
    rescored = check["rescored"]["knn_accuracy"]
    assert check["verdict"] == "flagged" and check["recorded"]["knn_accuracy"] == edited
    assert rescored == pytest.approx(true_knn, abs=TOLERANCE) and run["summary"]["knn_accuracy"] == rescored
    assert check["flag"] == f"figures not reproduced: kNN {rescored:.3f} re-scored, {edited:.3f} recorded"
    assert store.get(new[ROTNET])["summary"]["zoo_check"]["verdict"] == "ok"

    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")
    at = AppTest.from_file(str(ROOT / "pages/6_Compare.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert sorted(at.multiselect(key="cmp-runs").value) == sorted(new.values())  # opened on the zoo
    warnings = [w.value for w in at.warning if "figures not reproduced" in w.value]
    assert len(warnings) == 1 and f"kNN {rescored:.3f} re-scored, {edited:.3f} recorded" in warnings[0]
    labels = at.multiselect(key="cmp-runs").options
    assert [lab for lab in labels if "⚠" in lab] == [lab for lab in labels if new[SIMCLR].rsplit("-", 1)[1] in lab]
    board = at.dataframe[0].value.set_index("run")
    assert board.loc[new[SIMCLR], "kNN"] == pytest.approx(rescored)  # the re-scored figure, not the record
    assert board.loc[new[SIMCLR], "check"].startswith("⚠ figures not reproduced")
    assert board.loc[new[SIMCLR], "name"].endswith("⚠")
    assert board.loc[new[ROTNET], "check"] == "reproduced at install"

    # the run card (Train page): the flag with both numbers, and the re-scored kNN in its figures
    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=120)
    at.query_params["run"] = new[SIMCLR]
    at.run()
    assert not at.exception, at.exception
    assert any(f"kNN {rescored:.3f} re-scored, {edited:.3f} recorded" in w.value for w in at.warning)
    assert [m.value for m in at.metric if m.label.startswith("kNN accuracy")] == [f"{rescored:.1%}"]


def test_cli_stamp_names_an_unknown_entry_in_one_line(capsys):
    from sslviz.cli.main import main

    assert main(["pretrained", "stamp", "--only", "no-such-entry"]) == 1
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "no-such-entry" in out and out.startswith("error: pretrained stamp")


def test_labels_and_leaderboards_carry_the_flag_of_a_flagged_run_only(store):
    from zoo_support import fake_run

    from sslviz.experiments import compare
    from sslviz.teaching.pretrained.verify import check
    from sslviz.ui.run_choice import run_labels

    flagged, honest, mine = (fake_run(store, "simclr", knn=0.5, pretrained="a-shapes", name="A"),
                             fake_run(store, "byol", knn=0.6, pretrained="b-shapes", name="B"),
                             fake_run(store, "vicreg", knn=0.7, name="mine"))
    for run_id, recorded in ((flagged, 0.6), (honest, 0.605)):
        summary = store.get(run_id)["summary"]
        store.update(run_id, summary={**summary, "zoo_check": check({"knn_accuracy": recorded}, summary)})
    labels = run_labels([store.get(r) for r in (flagged, honest, mine)])
    assert labels[flagged].endswith(" ⚠ figures not reproduced: kNN 0.500 re-scored, 0.600 recorded")
    assert "⚠" not in labels[honest] + labels[mine]
    board = {row["run"]: row["check"] for row in compare.leaderboard(store, [flagged, honest, mine])}
    assert board == {flagged: "⚠ figures not reproduced: kNN 0.500 re-scored, 0.600 recorded",
                     honest: "reproduced at install", mine: None}
