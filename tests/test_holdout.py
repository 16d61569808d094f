"""Choices are made on a validation split of the training images, never on the test images that are
then reported (issue 25, point 3): RunConfig(holdout="validation") and bench/recipe_search.py."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from sslviz.core.errors import ConfigError
from sslviz.data import load_dataset
from sslviz.data.imageset import validation_split
from sslviz.training import train

ROOT = Path(__file__).resolve().parent.parent


def _rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(x.numpy().tobytes()) for x in images}


def test_validation_split_is_a_stratified_fifth_of_the_training_images_only():
    data = load_dataset("shapes", image_size=16, seed=0)  # generated from random factors: no two images alike
    held = validation_split(data, seed=0)
    assert len(held.train) + len(held.test) == len(data.train)
    assert abs(len(held.test) - round(0.2 * len(data.train))) <= 1
    train_rows, test_rows = _rows(data.train.images), _rows(data.test.images)
    # every validation image is a training image and none is a test image; fit and validation are disjoint
    assert _rows(held.test.images) <= train_rows and not (_rows(held.test.images) & test_rows)
    assert _rows(held.train.images) <= train_rows and not (_rows(held.train.images) & _rows(held.test.images))
    # stratified: each class keeps its share (within one image)
    full = np.bincount(data.train.labels.numpy())
    val = np.bincount(held.test.labels.numpy(), minlength=len(full))
    assert np.all(np.abs(val - 0.2 * full) <= 1) and val.min() > 0
    # deterministic in the seed, different across seeds
    again, other = validation_split(data, 0), validation_split(data, 1)
    assert torch.equal(again.test.labels, held.test.labels) and torch.equal(again.test.images, held.test.images)
    assert not torch.equal(other.test.images, held.test.images)


def test_factors_follow_their_images():
    data = load_dataset("shapes", image_size=16, seed=0)
    held = validation_split(data, seed=0)
    assert set(held.test.factors) == set(data.train.factors)
    assert all(len(v) == len(held.test) for v in held.test.factors.values())
    # shapes' factor "shape" is its label
    assert np.array_equal(np.asarray(held.test.factors["shape"]), held.test.labels.numpy())


def test_a_run_with_a_validation_holdout_trains_on_four_fifths_and_never_sees_the_test_images(tmp_path):
    data = load_dataset("shapes", image_size=16, seed=0)
    summary = train.run(tiny_config(dataset="shapes", holdout="validation", eval_test_max=10_000), tmp_path)
    held = validation_split(data, 0)
    assert summary["train_images"] == len(held.train) < len(data.train)
    assert summary["test_images_scored"] == len(held.test)
    snap = np.load(tmp_path / "embeddings_0001.npz")
    scored = held.test.images[torch.as_tensor(snap["index"])]
    assert _rows(scored) <= _rows(data.train.images) and not (_rows(scored) & _rows(data.test.images))
    # the run's own view of its data (the Embeddings page's thumbnails) is the same split
    from sslviz.embeddings.embedding import dataset_for

    ckpt = train.load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["config"]["holdout"] == "validation"
    assert torch.equal(dataset_for(ckpt["config"]).test.images, held.test.images)


def test_an_unknown_holdout_is_one_line_naming_the_field():
    with pytest.raises(ConfigError, match=r"^holdout: unknown 'train'; use test or validation$"):
        tiny_config(holdout="train")


def test_recipe_search_scores_on_the_validation_split_by_default():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "recipe_search.py"), "--dataset", "digits",
                          "--method", "simclr", "--epochs", "1",
                          "--base", json.dumps({"image_size": 16, "eval_train_max": 300, "final_scores": False})],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["holdout"] == "validation" and 0 <= row["knn_accuracy"] <= 1
