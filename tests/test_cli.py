"""`python -m sslviz` as a user runs it: real subprocesses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def sslviz(*args, runs_dir=None, timeout=180):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if runs_dir:
        env["SSLVIZ_HOME"] = str(runs_dir)
    return subprocess.run([sys.executable, "-m", "sslviz", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


def test_train_json_last_line(runs_dir):
    out = sslviz("train", "--method", "simclr", "--dataset", "digits", "--epochs", "1", "--image-size", "16",
                 "--batch-size", "128", "--device", "cpu", "--json", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("run_id", "status", "method", "dataset", "epochs", "seconds", "images_per_second", "knn_accuracy"):
        assert key in result
    assert result["status"] == "completed" and result["epochs"] == 1 and result["method"] == "simclr"
    listed = json.loads(sslviz("runs", "--json", runs_dir=runs_dir).stdout)
    assert [r["id"] for r in listed] == [result["run_id"]] and listed[0]["status"] == "completed"


def test_the_command_line_reads_a_folder_anywhere_but_background_jobs_keep_to_the_roots(runs_dir, tmp_path):
    """The operator's shell reads any folder its user can (a researcher's first folder:~/photos);
    a job queued for the worker, like every job the web UI starts, stays inside the data roots."""
    import numpy as np
    from PIL import Image

    photos = tmp_path / "home" / "photos"  # outside ./data, the store's uploads and data_roots
    rng = np.random.default_rng(0)
    for cls, colour in (("cats", 40), ("dogs", 200)):
        (photos / cls).mkdir(parents=True)
        for i in range(15):
            pixels = np.clip(colour + rng.normal(0, 30, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(photos / cls / f"{i}.png")
    args = ("train", "--method", "simclr", "--dataset", f"folder:{photos}", "--epochs", "1", "--image-size", "16",
            "--batch-size", "16", "--device", "cpu", "--json")
    out = sslviz(*args, runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["dataset"] == f"folder:{photos}"
    queued = sslviz(*args, "--background", runs_dir=runs_dir)
    assert queued.returncode == 2
    assert queued.stderr.strip().splitlines() == [
        f"error: folder:{photos}: outside the allowed data folders "
        f"({queued.stderr.split('folders (')[1].split(')')[0]}); move it into one of them or add its parent to "
        "data_roots in sslviz.toml; or train it in the foreground (without --background)"]
    listed = json.loads(sslviz("runs", "--json", runs_dir=runs_dir).stdout)
    assert [r["id"] for r in listed] == [result["run_id"]]  # nothing was queued


def test_methods_and_datasets_json():
    methods = json.loads(sslviz("methods", "--json").stdout)
    names = {m["name"] for m in methods}
    assert {"simclr", "rotation", "supervised"} <= names
    assert all(m["family"] and m["paper"] and m["target"] for m in methods)
    datasets = {d["name"] for d in json.loads(sslviz("datasets", "--json").stdout)}
    assert {"digits", "shapes", "mnist", "cifar10"} <= datasets


@pytest.mark.parametrize("args,needle", [
    (["train", "--method", "nope"], "method"),
    (["train", "--batch-size", "-3"], "batch_size"),
    (["train", "--lr", "0"], "lr"),
    (["train", "--dataset", "nosuchset"], "nosuchset"),
    (["train", "--dataset", "folder:/definitely/missing"], "/definitely/missing"),
    (["train", "--pipeline", "nonsense"], "--pipeline"),
    (["train", "--param", "temperature"], "--param"),
    (["cancel", "no-such-run"], "no-such-run"),
])
def test_bad_input_is_one_line_not_a_traceback(runs_dir, args, needle):
    out = sslviz(*args, runs_dir=runs_dir, timeout=60)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert needle in last and last.startswith("error:")


def test_train_backbone_follows_the_data_and_an_explicit_choice_wins():
    from sslviz.cli.main import _parser, config_from_args
    from sslviz.training.recipes import resolve

    def backbone(*argv):
        cfg = config_from_args(_parser().parse_args(["train", *argv]))
        return cfg.backbone, resolve(cfg).backbone

    assert backbone("--dataset", "mnist-10k") == ("auto", "small-cnn-grid")  # centred digits: keep where strokes are
    assert backbone("--dataset", "shapes") == ("auto", "small-cnn-max")  # drawn objects anywhere: max-pooling
    assert backbone("--dataset", "mnist-10k", "--backbone", "small-cnn") == ("small-cnn", "small-cnn")
    # the working size too: open unless given, then the recipe's (MNIST at its own 28 px)
    cfg = config_from_args(_parser().parse_args(["train", "--dataset", "mnist-10k"]))
    assert cfg.image_size is None and resolve(cfg).image_size == 28
    cfg = config_from_args(_parser().parse_args(["train", "--dataset", "mnist-10k", "--image-size", "32"]))
    assert resolve(cfg).image_size == 32


def test_doctor_reports_a_healthy_install(runs_dir):
    out = sslviz("doctor", "--json", runs_dir=runs_dir, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["check"]: c for c in json.loads(out.stdout)}
    assert checks["torch"]["ok"] and checks["run store"]["ok"] and "integrity ok" in checks["run store"]["detail"]
    assert str(runs_dir) in checks["log files"]["detail"] and checks["chromium (browser tests)"]["ok"]


def test_doctor_shows_the_limits_in_force_and_fails_on_a_bad_settings_file(runs_dir, tmp_path, monkeypatch):
    good = tmp_path / "good.toml"
    good.write_text("[sslviz]\nmax_running = 3\nmax_per_owner = 4\nteacher_password = 'x'\n")
    monkeypatch.setenv("SSLVIZ_CONFIG", str(good))
    checks = {c["check"]: c for c in json.loads(sslviz("doctor", "--json", runs_dir=runs_dir, timeout=120).stdout)}
    assert checks["settings"]["ok"]
    assert "max_running 3" in checks["settings"]["detail"] and "max_per_owner 4" in checks["settings"]["detail"]
    assert "teacher password set" in checks["settings"]["detail"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[sslviz]\nmax_runing = 3\n")
    monkeypatch.setenv("SSLVIZ_CONFIG", str(bad))
    out = sslviz("doctor", runs_dir=runs_dir, timeout=120)
    assert out.returncode == 1 and "[FAIL] settings" in out.stdout and "max_runing" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_doctor_fails_on_a_corrupt_store(runs_dir):
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / "sslviz.db").write_bytes(b"this is not a database" * 100)
    out = sslviz("doctor", runs_dir=runs_dir, timeout=120)
    assert out.returncode == 1
    assert "[FAIL] run store" in out.stdout and "Traceback" not in out.stdout + out.stderr


def test_same_config_and_seed_give_the_same_metrics_in_separate_processes(runs_dir):
    """Determinism across processes (the worker and the CLI each train in a fresh process)."""
    import torch

    from sslviz.training.runs import RunStore

    args = ("train", "--method", "simclr", "--dataset", "digits", "--epochs", "2", "--image-size", "16",
            "--batch-size", "128", "--device", "cpu", "--json")
    results = []
    for seed in ("5", "5", "6"):
        out = sslviz(*args, "--seed", seed, runs_dir=runs_dir)
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    store = RunStore(runs_dir)

    def evals(run_id):
        return [(m["step"], m["name"], m["value"]) for m in store.metrics(run_id, ["knn_accuracy", "spread"])]

    def weights(run_id):
        return torch.load(store.run_dir(run_id) / "checkpoint.pt", weights_only=True)["model"]

    a, b, other = (r["run_id"] for r in results)
    assert evals(a) == evals(b) and len(evals(a)) == 6  # epochs 0, 1, 2 × two metrics
    assert all(torch.equal(weights(a)[k], weights(b)[k]) for k in weights(a))
    assert any(not torch.equal(weights(a)[k], weights(other)[k]) for k in weights(a))  # the seed matters
