"""Alignment and uniformity (sslviz.evaluation.alignment_uniformity, Wang & Isola 2020) on embeddings
whose values are known by construction; the trainer stores them every epoch; Compare draws them."""

import math

import pytest
import torch

from sslviz.evaluation.alignment_uniformity import alignment, alignment_uniformity, uniformity


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def test_identical_views_align_perfectly(g):
    z = torch.randn(300, 16, generator=g)
    assert alignment(z, z) == pytest.approx(0.0, abs=1e-12)
    assert alignment(z, 5 * z) == pytest.approx(0.0, abs=1e-12)  # the points are normalised first


def test_antipodal_views_read_four_and_orthogonal_views_two(g):
    z = torch.randn(300, 16, generator=g)
    assert alignment(z, -z) == pytest.approx(4.0, abs=1e-9)
    assert alignment(z, -z, alpha=1) == pytest.approx(2.0, abs=1e-9)
    e = torch.eye(2)
    assert alignment(e[[0, 0, 1]], e[[1, 1, 0]]) == pytest.approx(2.0)  # ||u - v||^2 = 2 - 2 cos 90°


def test_one_point_has_uniformity_zero_the_worst():
    z = torch.ones(100, 8) + 1e-9 * torch.arange(100.0)[:, None]  # every image on one point
    assert uniformity(z) == pytest.approx(0.0, abs=1e-6)
    assert uniformity(torch.ones(100, 8)) == 0.0


def test_even_points_on_a_circle_match_the_closed_form():
    # x, y uniform on the circle: ||x - y||^2 = 2 - 2 cos(theta), so E exp(-t ||x-y||^2) = e^-2t I0(2t)
    from scipy.special import i0

    n = 720
    theta = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    z = torch.stack([theta.cos(), theta.sin()], 1)
    for t in (1.0, 2.0):
        mean_all = math.exp(-2 * t) * i0(2 * t)  # over all ordered pairs, self-pairs (exp 0 = 1) included
        expected = math.log((n * mean_all - 1) / (n - 1))  # distinct pairs only: the n self-pairs removed
        assert uniformity(z, t) == pytest.approx(expected, abs=1e-9)  # equally spaced: exact
    assert uniformity(z, 2.0) == pytest.approx(-4 + math.log(i0(4.0)), abs=0.01)  # the whole circle: -1.575


def test_uniform_points_on_the_sphere_match_the_closed_form(g):
    # on S^2, u = cos(angle) is uniform on [-1, 1]: E exp(-t (2 - 2u)) = (1 - e^-4t) / (4t)
    z = torch.randn(6000, 3, generator=g, dtype=torch.float64)
    expected = math.log((1 - math.exp(-8)) / 8)  # t = 2: -2.0797
    assert uniformity(z) == pytest.approx(expected, abs=0.02)
    clumped = torch.randn(6000, 3, generator=g, dtype=torch.float64) * 0.2 + torch.tensor([0, 0, 1.0])
    assert uniformity(clumped) > expected + 1  # a cap of the sphere is far less uniform


def test_the_pair_tells_collapse_from_a_good_embedding(g):
    z = torch.randn(400, 32, generator=g)
    good = alignment_uniformity(z + 0.1 * torch.randn(400, 32, generator=g), z + 0.1 * torch.randn(400, 32, generator=g))
    point = torch.ones(400, 32)
    collapsed = alignment_uniformity(point, point)
    assert collapsed == {"alignment": 0.0, "uniformity": 0.0}  # perfect alignment, the worst uniformity
    assert good["alignment"] < 0.1 and good["uniformity"] < -3.5  # 32-d: close to the -4 of high dimension


def test_bad_shapes_say_so_and_too_few_points_give_nan():
    with pytest.raises(ValueError, match="same shape"):
        alignment(torch.randn(5, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="N×D"):
        uniformity(torch.randn(5))
    assert math.isnan(uniformity(torch.randn(1, 3))) and math.isnan(alignment(torch.empty(0, 3), torch.empty(0, 3)))


def test_the_trainer_stores_them_every_epoch_and_compare_draws_each_run(tmp_path):
    from conftest import tiny_config

    from sslviz.plots.compare import alignment_uniformity_figure
    from sslviz.training.train import Reporter, run

    series, summaries = {}, []
    for epochs, lr in ((2, 1e-3), (1, 3e-3)):  # the same held-out images and views, two networks
        rep = Reporter(interval=0)
        summary = run(tiny_config(epochs=epochs, lr=lr), tmp_path / f"r{lr}", rep)
        rows = [dict(step=r[0], epoch=r[1], elapsed=r[2], name=r[3], value=r[4]) for r in rep.rows]
        seen = {n: sorted(r["epoch"] for r in rows if r["name"] == n) for n in ("alignment", "uniformity")}
        assert seen["alignment"] == seen["uniformity"] == list(range(epochs + 1))  # the untrained start too
        pixels = [r for r in rows if r["name"] in ("alignment_pixels", "uniformity_pixels")]
        assert sorted(r["name"] for r in pixels) == ["alignment_pixels", "uniformity_pixels"]
        assert all(r["epoch"] == 0 for r in pixels)  # once, at the start
        values = [r["value"] for r in rows if r["name"] in ("alignment", "uniformity")]
        assert all(math.isfinite(v) for v in values)
        assert 0 <= summary["alignment"] <= 4 and summary["uniformity"] <= 0
        assert summary["alignment_random_init"] == next(r["value"] for r in rows if r["name"] == "alignment")
        assert summary["alignment_pixels"] == next(r["value"] for r in pixels if r["name"] == "alignment_pixels")
        series[f"lr {lr:g}"] = rows
        summaries.append(summary)
    fig = alignment_uniformity_figure(series)
    runs = [t for t in fig.data if t.name in series]
    assert [len(t.x) for t in runs] == [3, 2]  # one trajectory per run, from epoch 0 to its end
    assert runs[0].x[0] == summaries[0]["alignment_random_init"] and runs[0].x[-1] == summaries[0]["alignment"]
    assert [t.name for t in fig.data if t.name not in series] == ["raw pixels"]  # same data and views: one point


def test_a_shipped_run_gets_its_start_and_end_at_install():
    from sslviz.plots.compare import alignment_uniformity_figure
    from sslviz.training.alignment_monitor import installed_rows

    sidecar = [(0, 0.0, 1.0, "knn_accuracy", 0.3), (0, 0.0, 1.0, "spread", 0.24), (0, 0.0, 1.0, "effective_rank", 147.0),
               (9, 1.0, 9.0, "spread", 0.44), (9, 1.0, 9.0, "effective_rank", 123.0)]  # rank before 2026-12-07
    before = {"spread": 0.24, "effective_rank": 8.8, "alignment": 0.07, "uniformity": -0.25,
              "alignment_pixels": 0.39, "uniformity_pixels": -0.86}
    after = {"spread": 0.44, "effective_rank": 16.6, "alignment": 0.12, "uniformity": -0.75}
    summary = {"effective_rank": 123.0}
    rows = installed_rows(sidecar, summary, before, after, step=9, epoch=1.0, elapsed=9.0)
    named = {(r[1], r[3]): r[4] for r in rows}
    assert [r[4] for r in rows if r[3] == "effective_rank"] == [8.8, 16.6]  # today's gauge, start and end only
    assert named[(0.0, "alignment")] == 0.07 and named[(1.0, "uniformity")] == -0.75
    assert named[(0.0, "alignment_pixels")] == 0.39 and (1.0, "alignment_pixels") not in named
    assert named[(0.0, "knn_accuracy")] == 0.3 and named[(1.0, "spread")] == 0.44  # the rest as shipped
    assert summary["effective_rank"] == 16.6 and summary["effective_rank_random_init"] == 8.8
    assert summary["alignment"] == 0.12 and summary["uniformity_pixels"] == -0.86
    fig = alignment_uniformity_figure({"zoo": [dict(step=r[0], epoch=r[1], elapsed=r[2], name=r[3], value=r[4])
                                               for r in rows]})
    segment = next(t for t in fig.data if t.name == "zoo")
    assert list(segment.x) == [0.07, 0.12] and list(segment.y) == [-0.25, -0.75]


def test_train_page_draws_and_explains_them(store, monkeypatch):
    from pathlib import Path

    from conftest import tiny_config
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    run_id = store.create(tiny_config().to_dict())
    store.add_metrics(run_id, [(0, 0.0, 0.0, "alignment", 0.07), (0, 0.0, 0.0, "uniformity", -0.25),
                               (0, 0.0, 0.0, "alignment_pixels", 0.39), (0, 0.0, 0.0, "uniformity_pixels", -0.86),
                               (0, 0.0, 0.0, "spread", 0.24), (0, 0.0, 0.0, "effective_rank", 8.8),
                               (9, 1.0, 9.0, "alignment", 0.12), (9, 1.0, 9.0, "uniformity", -0.75),
                               (9, 1.0, 9.0, "spread", 0.44), (9, 1.0, 9.0, "effective_rank", 16.6)])
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages/3_Train.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    geometry = next(c for c in captions if c.startswith("Alignment 0.12"))
    assert "untrained 0.07, raw pixels 0.39" in geometry and "Lower is better" in geometry
    gauge = next(c for c in captions if c.startswith("Collapse gauge: spread 0.44"))
    assert "effective rank 16.6" in gauge and "read 8.8 untrained" in gauge
    figure = at.get("plotly_chart")[0].proto.spec
    assert '"alignment, raw pixels"' in figure and '"uniformity"' in figure
