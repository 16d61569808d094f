"""Read the map: the faithfulness check on data whose answer is known, the grid of maps, the figure,
and the view (alone and on the Embeddings page) through streamlit.testing (SSLVIZ_NO_LIVE=1)."""

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from sslviz.core.errors import ConfigError
from sslviz.embeddings import map_check as M
from sslviz.embeddings.projection import ProjectionParams

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def one_thread():
    """t-SNE's OpenMP threads on a shared 2-core machine: one is far faster (the compute child uses one too)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def clusters(n=400, dims=50, classes=4, gap=20.0, seed=0):
    """Well-separated Gaussian clusters: class c around gap * e_c, unit noise; every spread different."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    centres = np.zeros((classes, dims))
    centres[np.arange(classes), np.arange(classes)] = gap
    scale = 0.5 + labels[:, None] / classes  # class c spreads 0.5 + c / classes
    return (centres[labels] + rng.normal(size=(n, dims)) * scale).astype(np.float32), labels


def test_separated_clusters_score_full_knn_and_a_faithful_map_keeps_everything():
    x, y = clusters()
    f = M.map_faithfulness(x, x[:, :2], y)
    assert f["knn_full"] == 1.0
    # a map that is the data itself (2-D features) keeps every neighbourhood
    flat = x[:, :2].astype(np.float64)
    same = M.map_faithfulness(flat, flat, y, metric="euclidean")
    assert same["recall"] == 1.0 and same["trustworthiness"] == pytest.approx(1.0)
    assert same["knn_map"] == same["knn_full"]
    assert same["size_agreement"] == pytest.approx(1.0) and same["gap_agreement"] == pytest.approx(1.0)
    assert f["recall_chance"] == pytest.approx(10 / 399)


def test_a_scrambled_map_keeps_only_chance_neighbours_and_loses_the_classes():
    x, y = clusters()
    rng = np.random.default_rng(1)
    scrambled = rng.normal(size=(len(x), 2))  # positions unrelated to the features
    f = M.map_faithfulness(x, scrambled, y)
    assert f["knn_full"] == 1.0
    assert f["recall"] < 3 * f["recall_chance"]
    assert f["knn_map"] < 0.45  # 4 classes: chance is 0.25
    assert f["trustworthiness"] < 0.6


def test_a_map_that_keeps_the_classes_but_not_the_neighbours():
    x, y = clusters()
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [100, 0], [0, 100], [100, 100]])
    blobs = centres[y] + rng.normal(size=(len(x), 2))  # each class its own blob, points shuffled inside it
    f = M.map_faithfulness(x, blobs, y)
    assert f["knn_map"] == 1.0
    assert f["recall"] < 0.2  # within a class of 100 the 10 nearest are a random 10 of 99


def test_knn_vote_ignores_unlabelled_points_and_needs_two_classes():
    nbrs = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    assert M.knn_vote(nbrs, np.array([0, 0, 0, -1])) is None
    assert M.knn_vote(nbrs, np.array([0, 0, 1, -1])) == pytest.approx(2 / 3)  # point 2's neighbours say 0


def test_bad_input_names_the_problem():
    x, y = clusters(n=100)
    with pytest.raises(ConfigError, match="one row per point"):
        M.map_faithfulness(x, x[:50, :2], y)
    with pytest.raises(ConfigError, match="too few"):
        M.map_faithfulness(x[:15], x[:15, :2], y[:15])
    with pytest.raises(ConfigError, match="at least one"):
        M.map_grid(x, y, settings=[])


def test_map_grid_returns_every_setting_with_finite_maps_and_their_check():
    x, y = clusters(n=300)
    settings = [ProjectionParams(method="pca"), ProjectionParams(method="tsne", perplexity=5.0, tsne_iterations=250),
                ProjectionParams(method="umap", n_neighbors=5, n_epochs=50)]
    maps = M.map_grid(x, y, settings, seed=3)
    assert [m.title for m in maps] == ["PCA", "t-SNE · perplexity 5", "UMAP · n_neighbors 5, min_dist 0.1"]
    for m in maps:
        assert m.coords.shape == (300, 2) and np.isfinite(m.coords).all()
        assert m.params.seed == 3 and m.params.dims == 2
        assert m.faithfulness["knn_full"] == 1.0 and 0.0 <= m.faithfulness["recall"] <= 1.0
    # well-separated clusters: the neighbour methods keep the classes apart
    assert maps[1].faithfulness["knn_map"] > 0.95 and maps[2].faithfulness["knn_map"] > 0.95
    text = M.read_out(maps)
    assert "full embedding" in text and "chance" in text
    assert "still lose many" in text  # t-SNE and UMAP separate these classes as well as the full space does


def test_a_sample_smaller_than_umaps_neighbourhood_uses_every_point():
    x, y = clusters(n=40)
    [m] = M.map_grid(x, y, [ProjectionParams(method="umap", n_neighbors=50, n_epochs=30)])
    assert m.params.n_neighbors == 39 and m.title.startswith("UMAP · n_neighbors 39")
    assert np.isfinite(m.coords).all() and m.coords.shape == (40, 2)


def test_default_settings_cover_the_three_methods_and_a_t_sne_setting_changes_its_cache_key():
    assert {p.method for p in M.DEFAULT_SETTINGS} == {"pca", "tsne", "umap"}
    assert len({p.perplexity for p in M.DEFAULT_SETTINGS if p.method == "tsne"}) >= 2
    assert len({p.n_neighbors for p in M.DEFAULT_SETTINGS if p.method == "umap"}) >= 2
    plain = ProjectionParams(method="tsne")
    assert "tsne_iterations" not in plain.relevant()  # caches made before the field keep their keys
    assert ProjectionParams(method="tsne", tsne_iterations=500).key() != plain.key()
    with pytest.raises(ConfigError, match="tsne_iterations"):
        ProjectionParams(method="tsne", tsne_iterations=10).validate()


def test_maps_figure_has_a_panel_per_map_with_the_same_colour_for_a_class():
    from sslviz.plots.maps import maps_figure

    x, y = clusters(n=120, classes=3)
    maps = M.map_grid(x, y, [ProjectionParams(method="pca"), ProjectionParams(method="umap", n_neighbors=5, n_epochs=30)])
    fig = maps_figure(maps, y, ["a", "b", "c"])
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("PCA<br>") and "kNN" in titles[1] and "recall@10" in titles[1]
    colour = {}
    for t in fig.data:
        colour.setdefault(t.name, set()).add(t.marker.color)
    assert set(colour) == {"a", "b", "c"} and all(len(c) == 1 for c in colour.values())
    assert sum(t.showlegend for t in fig.data) == 3  # one legend entry per class


# ---- the view ---------------------------------------------------------------------------------------


@pytest.fixture
def no_live(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")


VIEW = """
import os
from sslviz.ui.map_views import map_comparison_view
if __name__ == "__main__":  # not when the compute child (spawned) imports the main script
    map_comparison_view(os.environ.get("MAP_RUN") or None, "t", points=int(os.environ.get("MAP_POINTS", "1000")))
"""


def run_view(monkeypatch, run_id=None, points=1000):
    monkeypatch.setenv("MAP_RUN", run_id or "")
    monkeypatch.setenv("MAP_POINTS", str(points))
    return AppTest.from_string(VIEW, default_timeout=120).run()


def test_the_view_says_so_in_one_line_when_there_is_no_run(no_live, monkeypatch):
    at = run_view(monkeypatch)
    assert not at.exception
    assert "No run has saved an embedding yet" in at.info[0].value and not at.get("plotly_chart")
    at = run_view(monkeypatch, "no-such-run")
    assert not at.exception and len(at.warning) == 1 and not at.get("plotly_chart")


def test_the_view_draws_the_grid_the_check_and_the_guide_for_a_run(no_live, monkeypatch, store, add_finished_run):
    run_id = add_finished_run(store)
    at = run_view(monkeypatch, points=200)  # no run named: the default is this run (the only one)
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert len(titles) == len(M.DEFAULT_SETTINGS) and all("kNN" in t for t in titles)
    table = at.dataframe[0].value
    assert list(table["map"]) == [M.setting_title(p) for p in M.DEFAULT_SETTINGS]
    assert (table["kNN in the full embedding"] == table["kNN in the full embedding"].iloc[0]).all()
    text = " ".join(m.value for m in at.markdown)
    assert "perplexity" in text and "Cluster sizes mean nothing" in text and "The check." in text
    assert list((store.run_dir(run_id) / "projections").glob("run-e0002-*-map.npz"))  # cached with the run


def test_the_embeddings_page_has_a_read_the_map_view(no_live, store, add_finished_run):
    run_id = add_finished_run(store)
    at = AppTest.from_file(str(ROOT / "pages/4_Embeddings.py"), default_timeout=120)
    at.query_params["run"] = run_id
    at.run()
    at.radio(key="emb_view").set_value("Read the map").run()
    assert not at.exception
    assert any(json.loads(c.proto.spec)["layout"].get("annotations") for c in at.get("plotly_chart"))
    assert "How to read each map" in " ".join(m.value for m in at.markdown)
