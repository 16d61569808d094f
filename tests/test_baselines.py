"""The baselines' kNN is the one the run summary records (issue 12, point 7).

The raw-pixel line ("knn_pixels") and the untrained network ("knn_random_init") are drawn on every
run's curves; these tests check them against runs of the baselines themselves and against an
independent computation on the monitor's subsets, drawn here the way sslviz.training.train.Monitor draws them.
"""

import torch
from conftest import tiny_config

from sslviz.data import load_dataset
from sslviz.evaluation.protocols import knn_accuracy
from sslviz.training import train


def _run(tmp_path, method, report=None):
    config = tiny_config(method=method, seed=0)  # digits at 16 px, eval_train_max 500, eval_test_max 200
    return config, train.run(config, tmp_path / method, report)


def _monitor_subsets(config):
    """The monitor's memory bank and scored test images: the run's seed, a randperm of the train
    split (first eval_train_max, sorted), then of the test split (first eval_test_max, sorted)."""
    data = load_dataset(config.dataset, image_size=config.image_size, data_root=config.data_root, seed=config.seed)
    g = torch.Generator().manual_seed(config.seed)
    bank = torch.randperm(len(data.train), generator=g)[: config.eval_train_max].sort().values
    test = torch.randperm(len(data.test), generator=g)[: config.eval_test_max].sort().values
    return data, bank, test


def test_random_init_run_scores_its_own_random_init_line(tmp_path):
    config, summary = _run(tmp_path, "random-init")
    assert summary["stopped_by"] == "nothing to train" and summary["test_images_scored"] == config.eval_test_max
    assert summary["knn_accuracy"] is not None
    assert summary["knn_accuracy"] == summary["knn_random_init"]


def test_pixels_run_scores_the_recorded_pixel_line_and_an_independent_computation(tmp_path):
    config, summary = _run(tmp_path, "pixels")
    assert summary["stopped_by"] == "nothing to train" and summary["test_images_scored"] == config.eval_test_max
    assert summary["knn_accuracy"] == summary["knn_pixels"]
    data, bank, test = _monitor_subsets(config)
    assert len(bank) == config.eval_train_max and len(test) == config.eval_test_max
    independent = knn_accuracy(data.train.images[bank].flatten(1).float(), data.train.labels[bank],
                               data.test.images[test].flatten(1).float(), data.test.labels[test], data.num_classes)
    assert summary["knn_pixels"] == independent
    assert 0.5 < independent <= 1.0  # digits: raw pixels are a strong line


def test_simclr_random_init_is_its_epoch_0_row(tmp_path):
    report = train.Reporter()
    _, summary = _run(tmp_path, "simclr", report)
    epoch0 = [value for step, epoch, _, key, value in report.rows if key == "knn_accuracy" and step == 0 and epoch == 0]
    assert len(epoch0) == 1
    assert summary["knn_random_init"] == epoch0[0]
    assert summary["steps"] > 0  # and the run went on to train
