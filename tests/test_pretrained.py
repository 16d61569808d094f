"""Pretrained checkpoints: the shipped files, and build -> install round trips into a run store."""

import json

import numpy as np
import pytest
import torch

import sslviz.teaching.pretrained as pretrained
from sslviz.teaching.pretrained.build import build_one
from sslviz.teaching.pretrained.install import MARKER, auto_install_enabled, install, installed, pending

TINY = dict(method="rotation", dataset="digits", epochs=1, batch_size=128, image_size=16, eval_train_max=300,
            eval_test_max=120, device="cpu", seed=0, owner="pretrained", name="pretrained: tiny RotNet")


@pytest.fixture(scope="module")
def _built(tmp_path_factory):
    """A one-epoch RotNet on 16-px digits, built once with the real builder into a temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(pretrained.CATALOG, "tiny", TINY)
        folder = tmp_path_factory.mktemp("shipped")
        return folder, build_one("tiny", folder)


@pytest.fixture
def tiny(_built, tmp_path, monkeypatch):
    """A private copy of the built files (a test may damage them), with "tiny" in the catalogue."""
    import shutil

    monkeypatch.setitem(pretrained.CATALOG, "tiny", TINY)
    folder = tmp_path / "shipped"
    shutil.copytree(_built[0], folder)
    return folder, _built[1]


def test_shipped_checkpoints_are_small_load_safely_and_fit_the_current_models():
    from sslviz.data import load_dataset
    from sslviz.teaching.pretrained.build import FORMAT
    from sslviz.teaching.pretrained.install import load_shipped_state
    from sslviz.teaching.pretrained.storage import load_payload, unpack_state
    from sslviz.training.config import RunConfig
    from sslviz.training.train import build_method

    names = pretrained.available()
    assert {"simclr-shapes", "simclr-mnist", "rotation-mnist"} <= set(names)
    total = sum(pretrained.weights_path(n).stat().st_size for n in names)
    assert total < 30e6, f"shipped checkpoints take {total / 1e6:.1f} MB"
    for name in names:
        payload = load_payload(pretrained.weights_path(name))
        assert payload["format"] == FORMAT, f"{name}: stored in an old format (pretrained build repacks it)"
        assert {v.dtype for v in payload["model"].values()} <= {torch.int8, torch.float16, torch.float32, torch.int64}, name
        cfg = RunConfig.from_dict(payload["config"])
        data = load_dataset(cfg.dataset, image_size=cfg.image_size)
        model = build_method(cfg, data, torch.device("cpu"))
        # every shipped key fits; only the parts the build leaves out (build.NOT_SHIPPED) may be missing
        load_shipped_state(model, unpack_state(payload["model"]), cfg.method)
        info = json.loads(pretrained.info_path(name).read_text())
        assert any(r[3] == "knn_accuracy" for r in info["metrics"]) and info["summary"]["epochs"] >= 1


def test_build_slims_the_checkpoint_to_int8_weights_and_keeps_the_curves(tiny):
    from sslviz.teaching.pretrained.storage import load_payload

    folder, result = tiny
    path = pretrained.weights_path("tiny", folder)
    assert not path.read_bytes().startswith(b"PK")  # compressed, not torch.save's plain zip archive
    payload = load_payload(path)
    assert set(payload) >= {"model", "config", "epoch", "step"} and "optimizer" not in payload
    assert payload["config"]["method"] == "rotation" and payload["epoch"] == 1
    model = payload["model"]
    assert {v.dtype for v in model.values()} <= {torch.int8, torch.float16, torch.float32, torch.int64}
    kernels = [k for k, v in model.items() if v.dtype == torch.int8]
    assert kernels and all(model[k + "@scale"].dtype == torch.float32 for k in kernels)  # one scale per channel
    assert all(v.dtype != torch.float32 for k, v in model.items() if not k.endswith("@scale"))
    info = json.loads(pretrained.info_path("tiny", folder).read_text())
    names = {r[3] for r in info["metrics"]}
    assert {"loss", "knn_accuracy", "knn_pixels"} <= names
    assert info["summary"]["knn_accuracy"] == result["knn_accuracy"]


def test_an_entry_in_the_older_float16_format_is_repacked_without_retraining(tiny, monkeypatch):
    import sslviz.teaching.pretrained.build as build_mod
    from sslviz.teaching.pretrained.storage import load_payload, unpack_state

    folder, _ = tiny
    path = pretrained.weights_path("tiny", folder)
    payload = load_payload(path)
    weights = unpack_state(payload["model"])
    old = dict(payload, model={k: v.half() if v.is_floating_point() else v for k, v in weights.items()})
    del old["format"]  # format 1: float16 weights, no format field, a plain torch.save file
    torch.save(old, path)
    monkeypatch.setattr(build_mod, "build_one", lambda *a, **k: pytest.fail("an up-to-date entry was retrained"))
    assert build_mod.build(["tiny"], folder) == []
    repacked = load_payload(path)
    assert repacked["format"] == build_mod.FORMAT and any(v.dtype == torch.int8 for v in repacked["model"].values())
    restored = unpack_state(repacked["model"])
    for key, value in weights.items():
        if value.is_floating_point():
            assert torch.allclose(restored[key], value, atol=value.abs().max().item() / 127 + 1e-3), key
    assert build_mod.repack("tiny", folder) is False  # already in the current format


def test_install_makes_a_completed_run_every_page_can_use_and_is_idempotent(tiny, store):
    from sslviz.embeddings.embedding import load_embedding, snapshot_epochs
    from sslviz.training.train import load_checkpoint

    folder, result = tiny
    mine = store.create({"method": "simclr", "dataset": "shapes", "name": "my own run"}, status="completed")
    assert pending(store, folder) == ["tiny"]
    new = install(store, folder=folder)
    run_id = new["tiny"]
    run = store.get(run_id)
    assert run["status"] == "completed" and run["progress"] == 1.0 and run["summary"]["pretrained"] == "tiny"
    assert run["name"] == "pretrained: tiny RotNet"
    run_dir = store.run_dir(run_id)
    assert json.loads((run_dir / "config.json").read_text())["method"] == "rotation"
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    assert all(v.dtype != torch.float16 for v in ckpt["model"].values())
    assert snapshot_epochs(run_dir) == [0, 1]
    emb = load_embedding(store, run_id)
    assert len(emb) == 120 and np.isfinite(emb.features).all()
    # recomputed from the float16 weights, the kNN score is the build's to within rounding
    assert run["summary"]["knn_at_install"] == pytest.approx(result["knn_accuracy"], abs=0.02)
    assert {r["name"] for r in store.metrics(run_id)} >= {"loss", "knn_accuracy"}
    # a second install (another session, a restart) adds nothing; the user's run is untouched
    assert install(store, folder=folder) == {} and len(store.list()) == 2
    assert store.get(mine)["name"] == "my own run"
    assert installed(store) == {"tiny": run_id} and json.loads((store.root / MARKER).read_text())["tiny"] == run_id
    # a user who deletes the pretrained run keeps it deleted
    store.delete(run_id)
    assert install(store, folder=folder) == {} and pending(store, folder) == []


def test_a_checkpoint_that_no_longer_fits_is_skipped_with_a_message(tiny, store):
    from sslviz.teaching.pretrained.storage import load_payload, save_payload

    folder, _ = tiny
    path = pretrained.weights_path("tiny", folder)
    payload = load_payload(path)
    payload["model"] = {k: v for k, v in payload["model"].items() if not k.startswith("classifier")}
    save_payload(payload, path)
    from sslviz.teaching.pretrained.verify import stamp

    stamp(["tiny"], folder)  # its sidecar describes it (else the hash check refuses it before it is loaded)
    errors = []
    assert install(store, folder=folder, log=errors.append) == {}
    assert len(errors) == 1 and "no longer fit" in errors[0] and "pretrained build" in errors[0]
    assert store.list() == [] and installed(store) == {}


def test_cli_lists_the_catalogue_and_installs(tiny, store, capsys, monkeypatch):
    from sslviz.cli.main import main

    assert main(["pretrained", "list"]) == 0
    out = capsys.readouterr().out
    assert "simclr-shapes" in out and "MB" in out
    monkeypatch.setattr(pretrained, "FOLDER", tiny[0])
    monkeypatch.setattr("sslviz.teaching.pretrained.install.available", lambda folder=None: ["tiny"])
    assert main(["pretrained", "install", "--runs-dir", str(store.root)]) == 0
    assert "installed tiny as" in capsys.readouterr().out
    assert main(["pretrained", "install", "--runs-dir", str(store.root)]) == 0
    assert "nothing to install" in capsys.readouterr().out


def test_no_automatic_install_inside_tests_or_when_switched_off(monkeypatch):
    assert not auto_install_enabled()  # conftest sets SSLVIZ_PRETRAINED=0: a test's store holds only its runs
    monkeypatch.delenv("SSLVIZ_PRETRAINED")
    assert auto_install_enabled()  # the default for a user
    monkeypatch.setenv("SSLVIZ_PRETRAINED", "off")
    assert not auto_install_enabled()
