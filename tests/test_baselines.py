"""The baselines' kNN is the one the run summary records (issue 12, point 7).

The raw-pixel line ("knn_pixels") and the untrained network ("knn_random_init") are drawn on every
run's curves; these tests check them against runs of the baselines themselves and against an
independent computation: the monitor's subsets drawn here the way sslviz.training.train.Monitor
draws them, the untrained backbone built here from the run's seed, and the weighted kNN vote done
by scikit-learn (cosine distance, the 20 nearest, weight exp(similarity / 0.07)), not by
sslviz.evaluation.protocols.
"""

import numpy as np
import torch
from conftest import tiny_config
from sklearn.neighbors import KNeighborsClassifier

from sslviz.data import load_dataset
from sslviz.methods.models import build_backbone
from sslviz.training import train
from sslviz.training.recipes import resolve_with_data


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


def _sklearn_knn(bank, bank_y, test, test_y, k: int = 20, temperature: float = 0.07) -> float:
    """The monitor's weighted kNN written with scikit-learn: cosine distance d, weight exp((1 - d) / T)."""
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute",
                               weights=lambda d: np.exp((1.0 - d) / temperature))
    knn.fit(bank.numpy().astype(np.float64), bank_y.numpy())
    return float((knn.predict(test.numpy().astype(np.float64)) == test_y.numpy()).mean())


def _untrained_knn(config) -> float:
    """kNN of the run's untrained backbone, built here: seeded as the trainer seeds, then the backbone
    the recipe names, in eval mode, on the monitor's subsets."""
    torch.manual_seed(config.seed)
    resolved, _ = resolve_with_data(config)  # as train.run does after seeding (it draws nothing)
    data, bank, test = _monitor_subsets(resolved)
    backbone = build_backbone(resolved.backbone, data.channels).eval()  # the method builds its backbone first
    with torch.no_grad():
        embed = lambda x: backbone(x.float().div(255))  # noqa: E731
        bank_f, test_f = embed(data.train.images[bank]), embed(data.test.images[test])
    return _sklearn_knn(bank_f, data.train.labels[bank], test_f, data.test.labels[test])


def test_random_init_run_scores_its_untrained_backbone(tmp_path):
    config, summary = _run(tmp_path, "random-init")
    assert summary["stopped_by"] == "nothing to train" and summary["test_images_scored"] == config.eval_test_max
    assert summary["knn_accuracy"] == summary["knn_random_init"]  # scored once: its line is its score
    independent = _untrained_knn(config)
    assert abs(summary["knn_accuracy"] - independent) <= 1 / config.eval_test_max, (summary, independent)
    assert 0.3 < independent < 1.0  # digits: untrained features are far from chance (0.1), not perfect


def test_pixels_run_scores_the_recorded_pixel_line_and_an_independent_computation(tmp_path):
    config, summary = _run(tmp_path, "pixels")
    assert summary["stopped_by"] == "nothing to train" and summary["test_images_scored"] == config.eval_test_max
    assert summary["knn_accuracy"] == summary["knn_pixels"]
    data, bank, test = _monitor_subsets(config)
    assert len(bank) == config.eval_train_max and len(test) == config.eval_test_max
    independent = _sklearn_knn(data.train.images[bank].flatten(1).float(), data.train.labels[bank],
                               data.test.images[test].flatten(1).float(), data.test.labels[test])
    assert abs(summary["knn_pixels"] - independent) <= 1 / config.eval_test_max, (summary["knn_pixels"], independent)
    assert 0.5 < independent <= 1.0  # digits: raw pixels are a strong line


def test_simclr_random_init_line_is_its_untrained_backbone(tmp_path):
    report = train.Reporter()
    config, summary = _run(tmp_path, "simclr", report)
    epoch0 = [value for step, epoch, _, key, value in report.rows if key == "knn_accuracy" and step == 0 and epoch == 0]
    assert len(epoch0) == 1 and summary["knn_random_init"] == epoch0[0]  # the curve's first point is the line
    independent = _untrained_knn(config)
    assert abs(summary["knn_random_init"] - independent) <= 1 / config.eval_test_max, (summary, independent)
    assert summary["steps"] > 0  # and the run went on to train
