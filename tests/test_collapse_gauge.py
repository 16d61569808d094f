"""The collapse gauge (sslviz.evaluation.protocols.collapse_metrics): spread and effective rank, their warning
lines, and how old runs (only "collapse_std") are read."""

import math

import pytest
import torch

from sslviz.evaluation.protocols import (
    EFFECTIVE_RANK_WARNING,
    SPREAD_WARNING,
    collapse_metrics,
    collapse_std,
    collapse_warnings,
    extract_features,
)

N, D = 1000, 256


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def test_collapsed_to_a_point_reads_low(g):
    point = torch.randn(1, D, generator=g)
    feats = point + 1e-3 * torch.randn(N, D, generator=g)  # every image the same, up to tiny noise
    m = collapse_metrics(feats)
    assert m["spread"] < SPREAD_WARNING / 10
    assert any(w.startswith("collapsed to a point") for w in collapse_warnings(m))


def test_identical_rows_read_zero():
    m = collapse_metrics(torch.ones(50, 16))
    assert m["spread"] == pytest.approx(0.0, abs=1e-6) and m["effective_rank"] < EFFECTIVE_RANK_WARNING


def test_dimensional_collapse_has_a_low_effective_rank_but_may_keep_its_spread(g):
    plane = torch.randn(2, D, generator=g)
    feats = torch.randn(N, 2, generator=g) @ plane + 3 * torch.randn(1, D, generator=g)  # a 2-d plane, offset
    m = collapse_metrics(feats)
    assert m["effective_rank"] < EFFECTIVE_RANK_WARNING
    assert m["spread"] > SPREAD_WARNING  # the points are far apart: only the rank sees this collapse
    assert collapse_warnings(m) == [f"dimensional collapse (effective rank {m['effective_rank']:.1f} < 4)"]


def test_healthy_isotropic_embedding_reads_high_on_both(g):
    m = collapse_metrics(torch.randn(N, D, generator=g))
    assert m["spread"] == pytest.approx(1.0, abs=0.02)
    assert m["effective_rank"] > 0.9 * D
    assert collapse_warnings(m) == []


def test_relu_features_with_a_large_common_mean_read_above_the_warning(g):
    feats = torch.relu(torch.randn(N, D, generator=g) + 3)  # post-ReLU: one big shared mean direction
    m = collapse_metrics(feats)
    assert m["spread"] > 10 * SPREAD_WARNING and m["effective_rank"] > 0.9 * D
    assert collapse_warnings(m) == []
    # spread = sqrt(1 - |mean|^2) of the points on the sphere: the common mean makes a cone, not a collapse
    z = torch.nn.functional.normalize(feats, dim=1)
    assert m["spread"] == pytest.approx(math.sqrt(1 - z.mean(0).pow(2).sum().item()), rel=0.01)


def test_old_gauge_is_a_lower_bound_of_the_spread(g):
    scales = torch.linspace(0.01, 3, D)  # very unequal per-dimension spreads
    feats = torch.randn(N, D, generator=g) * scales + 2
    old, new = collapse_std(feats), collapse_metrics(feats)["spread"]
    assert old < new  # mean of stds <= root of the summed variances (Cauchy-Schwarz)


def test_untrained_small_cnn_on_digits_reads_above_both_warnings():
    from sslviz.data import load_dataset
    from sslviz.methods.models import build_backbone

    torch.manual_seed(0)
    net = build_backbone("small-cnn", 1).eval()
    feats = extract_features(net, load_dataset("digits").test.images)
    m = collapse_metrics(feats)
    assert m["spread"] > 2 * SPREAD_WARNING
    assert m["effective_rank"] > 10 * EFFECTIVE_RANK_WARNING
    assert collapse_warnings(m) == []
    assert collapse_std(feats) < 0.1  # the old gauge read this healthy baseline under its old 0.1 line


def test_diverged_or_too_few_points_give_nan():
    bad = torch.randn(10, 8)
    bad[3, 2] = float("nan")
    assert all(math.isnan(v) for v in collapse_metrics(bad).values())
    assert all(math.isnan(v) for v in collapse_metrics(torch.randn(1, 8)).values())
    assert collapse_warnings(collapse_metrics(bad)) == []


def test_old_runs_are_read_with_the_old_key():
    assert collapse_warnings({"collapse_std": 0.079}) == []  # an untrained network's old reading: no alarm
    assert collapse_warnings({"collapse_std": 0.001})[0].startswith("collapsed to a point (old gauge")
    assert collapse_warnings({"spread": 0.3, "collapse_std": 0.001}) == []  # the new gauge wins


def test_wide_features_use_the_smaller_gram_matrix(g):
    m = collapse_metrics(torch.randn(40, 3000, generator=g))  # N < D, as the pixels baseline
    assert m["effective_rank"] <= 40 and m["spread"] == pytest.approx(1.0, abs=0.05)


def test_training_curves_draw_the_new_gauge_and_old_runs():
    from sslviz.plots import training_curves

    new = [dict(step=s, epoch=s, elapsed=s, name=n, value=v)
           for s in (0, 1) for n, v in (("spread", 0.09), ("effective_rank", 120.0))]
    names = {t.name for t in training_curves(new).data}
    assert {"spread", "effective rank", "collapse lines"} <= names
    old = [dict(step=s, epoch=s, elapsed=s, name="collapse_std", value=0.08) for s in (0, 1)]
    names = {t.name for t in training_curves(old).data}
    assert any(n.startswith("old gauge") for n in names)


@pytest.mark.parametrize("rows, expect", [
    ([("spread", 0.3), ("effective_rank", 100.0), ("spread", 0.001), ("effective_rank", 90.0)],
     ["collapsed to a point"]),
    ([("spread", 0.3), ("effective_rank", 2.1)], ["dimensional collapse"]),
    ([("spread", 0.09), ("effective_rank", 120.0)], []),  # an untrained network: no warning
    ([("collapse_std", 0.08)], []),  # an old run: its old gauge under the old 0.1 line is no alarm
])
def test_train_page_warns_from_the_last_gauge_readings(store, monkeypatch, rows, expect):
    from pathlib import Path

    from conftest import tiny_config
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    run_id = store.create(tiny_config().to_dict())
    store.add_metrics(run_id, [(i, float(i), float(i), n, v) for i, (n, v) in enumerate(rows)])
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages/3_Train.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning if w.value.startswith("Collapse warning")]
    assert len(warnings) == len(expect) and all(e in w for e, w in zip(expect, warnings))
