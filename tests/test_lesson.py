"""The lesson the app exists to teach, held by a test: the home page's demo, trained as the home
page trains it, ends above its own raw-pixel and untrained-network lines."""

import pytest

from sslviz.training import train
from sslviz.training.config import RunConfig


@pytest.mark.slow
def test_the_home_page_demo_ends_above_its_baselines(tmp_path):
    from sslviz.ui.run_views import DEMO

    rep = train.Reporter()
    summary = train.run(RunConfig.from_dict({**DEMO, "device": "cpu"}), tmp_path, rep)
    assert summary["stopped_by"] in ("time", "epochs") and summary["epochs"] >= 1
    # kNN with all labels: above raw pixels and above the same network untrained
    assert summary["knn_accuracy"] > summary["knn_pixels"] + 0.02, summary
    assert summary["knn_accuracy"] > summary["knn_random_init"] + 0.1, summary
    # and the few-label view the Train page draws live: 10 labels per class
    assert summary["few_label_linear"] > summary["few_label_pixels"], summary
    assert summary["few_label_linear"] > summary["few_label_random_init"], summary
