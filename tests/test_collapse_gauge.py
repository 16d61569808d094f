"""The collapse gauge (sslviz.evaluation.collapse_gauge.collapse_metrics): spread and effective rank, their warning
lines, and how old runs (only "collapse_std") are read."""

import math

import pytest
import torch

from sslviz.evaluation.collapse_gauge import (
    DIRECTIONS_FALL,
    DIRECTIONS_WARNING,
    GAUGE_KEYS,
    KNN_NO_BETTER,
    EFFECTIVE_RANK_WARNING,
    SPREAD_WARNING,
    collapse_metrics,
    collapse_std,
    collapse_warnings,
)
from sslviz.evaluation.protocols import extract_features

N, D = 1000, 256


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def on_directions(k: int, g, n: int = 2000, d: int = 128, elsewhere: float = 0.01) -> torch.Tensor:
    """n points in d dimensions whose variance lies on k directions, with the share `elsewhere` of it
    spread evenly over the others; offset from the origin (as ReLU features are), so normalising
    them keeps them on a cap of the sphere."""
    signal = torch.zeros(n, d)
    signal[:, :k] = torch.randn(n, k, generator=g)
    noise = torch.randn(n, d, generator=g)
    noise[:, :k] = 0
    noise[:, -1] = 0
    noise *= (elsewhere * k / (1 - elsewhere) / (d - k - 1)) ** 0.5
    offset = torch.zeros(d)
    offset[-1] = 3.0
    return offset + signal + noise


def jittered_point(jitter: float, g, n: int = 2000, d: int = 128) -> torch.Tensor:
    """Every image at one point of the sphere, up to noise of `jitter` times its length."""
    point = torch.nn.functional.normalize(torch.randn(d, generator=g), dim=0)
    return point + jitter * torch.randn(n, d, generator=g) / d**0.5


@pytest.mark.parametrize("jitter", [0.01, 0.03])
def test_near_complete_collapse_with_jitter_reads_collapsed_to_a_point(g, jitter):
    m = collapse_metrics(jittered_point(jitter, g))
    assert m["spread"] == pytest.approx(jitter, rel=0.05)  # the spread is the jitter
    assert m["effective_rank"] > 100  # the jitter is isotropic: only the spread sees this collapse
    assert [w.split(" (")[0] for w in collapse_warnings(m)] == ["collapsed to a point"]


def test_collapsed_to_a_point_reads_low(g):
    point = torch.randn(1, D, generator=g)
    feats = point + 1e-3 * torch.randn(N, D, generator=g)  # every image the same, up to tiny noise
    m = collapse_metrics(feats)
    assert m["spread"] < SPREAD_WARNING / 10
    assert any(w.startswith("collapsed to a point") for w in collapse_warnings(m))


def test_identical_rows_read_zero():
    m = collapse_metrics(torch.ones(50, 16))
    assert m["spread"] == pytest.approx(0.0, abs=1e-6) and m["effective_rank"] < EFFECTIVE_RANK_WARNING


@pytest.mark.parametrize("k, low, high", [(1, 1.0, 1.5), (2, 2.0, 2.8)])
def test_dimensional_collapse_with_one_percent_elsewhere_reads_collapsed(g, k, low, high):
    m = collapse_metrics(on_directions(k, g))
    assert low < m["effective_rank"] < high  # about k directions' worth of variance ...
    assert m["directions_95"] == k < DIRECTIONS_WARNING  # ... and 95% of it in k directions
    assert m["spread"] > 5 * SPREAD_WARNING  # the points are far apart: only the directions see this collapse
    assert collapse_warnings(m) == [f"dimensional collapse (95% of the variance in {k} direction{'s' * (k > 1)})"]


def test_the_rank_counts_variance_not_directions_with_a_sliver_of_it(g):
    # the old gauge (entropy of the singular values) read this one-direction embedding as ~28
    # directions, healthy; a real spread over 8 directions reads about 8
    feats = on_directions(1, g)
    z = torch.nn.functional.normalize(feats, dim=1)
    sigma = torch.linalg.svdvals((z - z.mean(0)).double())
    p = sigma / sigma.sum()
    singular_rank = math.exp(-(p * p.log()).sum().item())
    assert singular_rank > 20 > 10 * collapse_metrics(feats)["effective_rank"]
    assert collapse_metrics(on_directions(8, g))["effective_rank"] == pytest.approx(8, rel=0.25)


def test_dimensional_collapse_has_a_low_effective_rank_but_may_keep_its_spread(g):
    plane = torch.randn(2, D, generator=g)
    feats = torch.randn(N, 2, generator=g) @ plane + 3 * torch.randn(1, D, generator=g)  # a 2-d plane, offset
    m = collapse_metrics(feats)
    assert m["effective_rank"] < 2.5 and m["directions_95"] <= 2  # a plane, curved onto the sphere
    assert m["spread"] > SPREAD_WARNING
    assert collapse_warnings(m) == [f"dimensional collapse (95% of the variance in {m['directions_95']:.0f} "
                                    f"direction{'s' * (m['directions_95'] > 1)})"]


def test_healthy_isotropic_embedding_reads_high_on_both(g):
    m = collapse_metrics(torch.randn(N, D, generator=g))
    assert m["spread"] == pytest.approx(1.0, abs=0.02)
    assert m["effective_rank"] > 0.8 * D and m["directions_95"] > 0.8 * D
    assert collapse_warnings(m) == []
    m = collapse_metrics(torch.randn(2000, 128, generator=g))
    assert 120 < m["effective_rank"] < 128 and collapse_warnings(m) == []


def test_an_untrained_cnn_whose_variance_sits_on_one_direction_reads_healthy():
    # the strided small-cnn on shapes puts 79% of its variance on one direction: its effective rank
    # (3.3-3.7) is close to a two-direction collapse's, but 95% of its variance needs 23-32 directions
    from sslviz.data import load_dataset
    from sslviz.methods.models import build_backbone

    torch.manual_seed(0)
    net = build_backbone("small-cnn", 3).eval()
    m = collapse_metrics(extract_features(net, load_dataset("shapes", image_size=32, seed=0).test.images[:1000]))
    assert m["effective_rank"] < 2 * EFFECTIVE_RANK_WARNING and m["directions_95"] > 5 * DIRECTIONS_WARNING
    assert collapse_warnings(m) == []


def test_a_fall_from_the_untrained_start_is_flagged_though_above_the_fixed_lines():
    start = {"spread": 0.24, "effective_rank": 100.0}  # as an untrained small-cnn-grid on MNIST reads
    assert collapse_warnings({"spread": 0.4, "effective_rank": 34.0}, start) == []  # SimCLR on MNIST: healthy
    fell = collapse_warnings({"spread": 0.1, "effective_rank": 4.0, "directions_95": 20.0}, start)
    assert SPREAD_WARNING < 0.1 and EFFECTIVE_RANK_WARNING < 4.0 and DIRECTIONS_WARNING < 20  # above the lines ...
    assert [w.split(" (")[0] for w in fell] == ["collapsed to a point", "dimensional collapse"]  # ... fallen far
    assert "untrained network's 0.240" in fell[0] and "untrained network's 100.0" in fell[1]
    assert collapse_warnings({"spread": 0.12 + 0.01, "effective_rank": 5.0 + 1}, start) == []  # just above
    # a run summary carries its own start
    summary = {"spread": 0.1, "effective_rank": 50.0, "spread_random_init": 0.24, "effective_rank_random_init": 100.0}
    assert [w.split(" (")[0] for w in collapse_warnings(summary)] == ["collapsed to a point"]
    assert collapse_warnings(summary, start={}) == []  # an explicit start wins (here: none)
    nan_start = {"spread": float("nan"), "effective_rank": None}
    assert collapse_warnings({"spread": 0.1, "effective_rank": 4.0}, nan_start) == []


def test_the_trainer_records_the_untrained_start_in_the_summary(tmp_path):
    from conftest import tiny_config

    from sslviz.training.train import Reporter, run

    rep = Reporter(interval=0)
    summary = run(tiny_config(), tmp_path, rep)
    first = {r[3]: r[4] for r in rep.rows if r[1] == 0}
    assert summary["spread_random_init"] == first["spread"]
    assert summary["effective_rank_random_init"] == first["effective_rank"]
    assert summary["directions_95_random_init"] == first["directions_95"]
    assert collapse_warnings(summary) == collapse_warnings(summary, start={k: first[k] for k in GAUGE_KEYS})


def test_a_fall_in_directions_with_nothing_learned_is_flagged_above_the_fixed_lines():
    start = {"spread": 0.24, "effective_rank": 8.9, "directions_95": 72.0, "knn_accuracy": 0.248}  # small-cnn-max, shapes
    broken = {"spread": 0.68, "effective_rank": 2.5, "directions_95": 3.0, "knn_accuracy": 0.164}
    fell = collapse_warnings(broken, start)
    assert DIRECTIONS_WARNING <= 3 and EFFECTIVE_RANK_WARNING < 2.5  # above both fixed lines ...
    assert fell == ["dimensional collapse (95% of the variance in 3 directions, under 0.07 of the untrained "
                    "network's 72, and kNN 0.164 no better than its 0.248)"]  # ... and fallen far, learning nothing
    level = {**broken, "knn_accuracy": 0.248 + KNN_NO_BETTER}  # level with the untrained network: still collapsed
    assert collapse_warnings(level, start) != []
    learned = {**broken, "knn_accuracy": 0.248 + KNN_NO_BETTER + 0.01}  # as far fallen, but it learned: early training
    assert collapse_warnings(learned, start) == []
    assert 9 > DIRECTIONS_FALL * 72 and collapse_warnings({**broken, "directions_95": 9.0}, start) == []
    assert collapse_warnings(broken, {k: v for k, v in start.items() if k != "knn_accuracy"}) == []  # no probe, no verdict
    summary = {**broken, "spread_random_init": 0.24, "effective_rank_random_init": 8.9,
               "directions_95_random_init": 72.0, "knn_random_init": 0.248}
    assert collapse_warnings(summary) == fell  # a run summary carries its own start


LITE_COLLAPSED = {"vicreg-no-variance", "simsiam-no-stop-gradient"}


def test_the_shipped_broken_variants_read_collapsed_and_their_twins_do_not(tmp_path):
    """The lessons' "find the collapse" runs as shipped (50 s each on shapes), installed as a user gets them:
    the two that lose their directions read collapsed against their own untrained start; the healthy twins,
    the temperature runs and the two variants that fail another way (a shortcut, a too-low temperature) do
    not. BYOL without its predictor has not collapsed after 50 s (sslviz/teaching/variants.py) and is not
    expected to read so."""
    from sslviz.teaching.pretrained import lite
    from sslviz.training.runs import RunStore

    store = RunStore(tmp_path / "runs")
    ids = lite.install(store)
    assert LITE_COLLAPSED <= set(ids) and "vicreg-shapes-healthy" in ids
    for name, run_id in ids.items():
        found = collapse_warnings(store.get(run_id)["summary"])
        if name in LITE_COLLAPSED:
            assert [w.split(" (")[0] for w in found] == ["dimensional collapse"], (name, found)
        else:
            assert found == [], (name, found)


def test_relu_features_with_a_large_common_mean_read_above_the_warning(g):
    feats = torch.relu(torch.randn(N, D, generator=g) + 3)  # post-ReLU: one big shared mean direction
    m = collapse_metrics(feats)
    assert m["spread"] > 5 * SPREAD_WARNING and m["effective_rank"] > 0.8 * D  # 0.32, 225
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
    assert m["effective_rank"] > 5 * EFFECTIVE_RANK_WARNING  # about 26 directions of 256 carry the variance
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
    ([("spread", 0.3), ("effective_rank", 1.5)], ["dimensional collapse"]),
    ([("spread", 0.3), ("effective_rank", 2.6), ("directions_95", 2.0)], ["dimensional collapse"]),
    ([("spread", 0.3), ("effective_rank", 2.6), ("directions_95", 4.0)], []),  # SimCLR early on: growing
    ([("spread", 0.09), ("effective_rank", 120.0)], []),  # an untrained network: no warning
    ([("collapse_std", 0.08)], []),  # an old run: its old gauge under the old 0.1 line is no alarm
    ([("spread", 0.3), ("spread", 0.12)], ["collapsed to a point"]),  # fell under half its untrained start
    ([("effective_rank", 100.0), ("effective_rank", 4.0)], ["dimensional collapse"]),  # under 1/20 of it
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
