import math

import numpy as np
import pytest
import torch
from conftest import tiny_config

from sslviz.core.errors import ConfigError
from sslviz.training import train
from sslviz.training.config import RunConfig


def test_run_writes_checkpoint_snapshots_and_metrics(tmp_path):
    rep = train.Reporter()
    summary = train.run(tiny_config(epochs=2), tmp_path, rep)
    assert summary["epochs"] == 2 and summary["stopped_by"] == "epochs"
    assert 0 <= summary["knn_accuracy"] <= 1 and summary["images_per_second"] > 0
    names = {r[3] for r in rep.rows}
    assert {"loss", "lr", "images_per_second", "knn_accuracy", "spread", "effective_rank", "knn_pixels"} <= names
    knn_epochs = [r[1] for r in rep.rows if r[3] == "knn_accuracy"]
    assert knn_epochs == [0, 1, 2]  # the untrained network is scored first
    assert sorted(p.name for p in tmp_path.glob("embeddings_*.npz")) == [
        "embeddings_0000.npz", "embeddings_0001.npz", "embeddings_0002.npz"]
    snap = np.load(tmp_path / "embeddings_0002.npz")
    # digits are centred, so the recipe's backbone keeps a 2×2 grid: 4 × 256 features
    assert snap["features"].shape == (200, 1024) and snap["labels"].shape == (200,)
    ckpt = train.load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["config"]["method"] == "simclr"
    assert any(k.startswith("backbone.") for k in ckpt["model"])


def test_checkpoint_restores_the_same_embedding(tmp_path):
    from sslviz.data import load_dataset
    from sslviz.evaluation.protocols import extract_features

    cfg = tiny_config()
    train.run(cfg, tmp_path)
    ckpt = train.load_checkpoint(tmp_path / "checkpoint.pt")
    data = load_dataset(cfg.dataset, image_size=cfg.image_size, seed=cfg.seed)
    fresh = train.build_method(RunConfig.from_dict(ckpt["config"]), data, torch.device("cpu")).eval()
    snap = np.load(tmp_path / f"embeddings_{ckpt['epoch']:04d}.npz")
    images = data.test.images[torch.as_tensor(snap["index"])]
    before = extract_features(fresh.embed, images).numpy()
    fresh.load_state_dict(ckpt["model"])
    restored = extract_features(fresh.embed, images).numpy()
    # the restored network computes the embedding the trainer saved (float16 in the snapshot)
    np.testing.assert_allclose(restored, snap["features"].astype(np.float32), rtol=2e-2, atol=2e-2)
    assert np.abs(before - restored).max() > 0.1  # and that is not what an untrained copy computes


def test_same_seed_same_numbers(tmp_path):
    # every step reported (interval 0), so the two runs are compared step by step, not at whichever
    # steps the clock happened to report
    r1, r2 = train.Reporter(interval=0), train.Reporter(interval=0)
    train.run(tiny_config(seed=3), tmp_path / "a", r1)
    summary = train.run(tiny_config(seed=3), tmp_path / "b", r2)

    def losses(rows):
        return [(r[0], r[4]) for r in rows if r[3] == "loss"]

    def evals(rows):
        return [r[4] for r in rows if r[3] in ("knn_accuracy", "spread", "effective_rank")]

    assert [s for s, _ in losses(r1.rows)] == list(range(1, summary["steps"] + 1))
    assert losses(r1.rows) == losses(r2.rows)
    assert evals(r1.rows) == evals(r2.rows) and len(evals(r1.rows)) == 6


def test_time_budget_stops_training(tmp_path):
    summary = train.run(tiny_config(epochs=1000, time_budget=3.0), tmp_path)
    assert summary["stopped_by"] == "time"
    assert summary["seconds"] < 15


def test_stop_request_stops_training(tmp_path):
    class StopSoon(train.Reporter):
        def should_stop(self):
            return True

    summary = train.run(tiny_config(epochs=50), tmp_path, StopSoon())
    assert summary["stopped_by"] == "user" and summary["epochs"] == 1


def test_divergence_is_reported_and_keeps_the_last_checkpoint(tmp_path):
    with pytest.raises(train.Diverged, match="loss became"):
        train.run(tiny_config(epochs=3, lr=1e30, method="supervised"), tmp_path)


@pytest.mark.parametrize("method", ["simclr", "rotation", "supervised"])
def test_each_foundation_method_trains(tmp_path, method):
    summary = train.run(tiny_config(method=method), tmp_path)
    assert summary["steps"] > 0 and np.isfinite(summary["spread"]) and summary["effective_rank"] >= 1


def test_labels_per_class_trains_on_a_stratified_subset(tmp_path):
    summary = train.run(tiny_config(method="supervised", labels_per_class=5), tmp_path)
    assert summary["train_images"] == 50


def test_lr_schedule_warms_up_then_decays():
    assert train.lr_at(0.0, 1.0) < 0.05
    assert train.lr_at(0.05, 1.0) == pytest.approx(1.0)
    assert train.lr_at(0.5, 1.0) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.45 / 0.95)))
    assert train.lr_at(1.0, 1.0) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("field,value,match", [
    ("batch_size", -4, "batch_size"), ("lr", 0.0, "lr"), ("method", "nope", "method"),
    ("epochs", 0, "epochs"), ("backbone", "vgg", "backbone"), ("time_budget", -1, "time_budget"),
    ("labels_per_class", 0, "labels_per_class"), ("image_size", 4, "image_size"),
])
def test_bad_config_fields_are_named(field, value, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict({field: value})


def test_unknown_config_field_is_named():
    with pytest.raises(ConfigError, match="unknown field 'bogus'"):
        RunConfig.from_dict({"bogus": 1})


@pytest.mark.parametrize("precision,dtype", [("bf16", "bfloat16"), ("fp16", "float16")])
def test_mixed_precision_trains_and_reports_its_precision(tmp_path, precision, dtype):
    # CPU autocast is slow for convolutions: a handful of steps on 80 images is enough to prove the path
    cfg = tiny_config(precision=precision, labels_per_class=8, batch_size=32, eval_train_max=64, eval_test_max=64)
    report = train.Reporter()
    summary = train.run(cfg, tmp_path, report)
    assert summary["precision"] == dtype and summary["steps"] == 2
    losses = [v for _, _, _, k, v in report.rows if k == "loss"]
    assert losses and all(math.isfinite(v) for v in losses)
    ckpt = train.load_checkpoint(tmp_path / "checkpoint.pt")
    assert all(t.dtype == torch.float32 for t in ckpt["model"].values() if t.is_floating_point())


def test_auto_precision_is_fp32_on_the_cpu():
    from sslviz.methods.models import mixed_precision

    assert mixed_precision("auto", torch.device("cpu")) is None
    assert mixed_precision("fp32", torch.device("cuda")) is None
    assert mixed_precision("bf16", torch.device("cpu")) is torch.bfloat16


def test_compile_is_opt_in_and_keeps_checkpoint_names():
    from sslviz.data import load_dataset

    data = load_dataset("digits", image_size=16)
    plain = train.build_method(tiny_config(), data, torch.device("cpu"))
    compiled = train.build_method(tiny_config(compile=True), data, torch.device("cpu"))
    assert train.prepare_model(plain, tiny_config(), torch.device("cpu")) is plain
    model = train.prepare_model(compiled, tiny_config(compile=True), torch.device("cpu"))
    assert model is compiled and compiled.backbone._compiled_call_impl is not None
    assert plain.backbone._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(plain.state_dict())  # a compiled run's checkpoint loads anywhere


def test_snapshots_are_float16_unless_the_values_do_not_fit():
    small = np.array([[1.5, -2.0], [0.25, 3.0]], dtype=np.float32)
    assert train.compact(small).dtype == np.float16 and np.allclose(train.compact(small), small)
    huge = np.array([[1e6, 0.0]], dtype=np.float32)
    assert train.compact(huge).dtype == np.float32 and train.compact(huge)[0, 0] == 1e6
    assert np.isnan(train.compact(np.array([[np.nan]], dtype=np.float32))).all()
