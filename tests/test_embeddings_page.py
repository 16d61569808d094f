"""The Embeddings page through streamlit.testing (live refresh off: SSLVIZ_NO_LIVE=1)."""

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from streamlit.testing.v1 import AppTest

from sslviz.embeddings import projection as P

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages/4_Embeddings.py")


@pytest.fixture(autouse=True)
def no_live(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")


def settle(timeout=120):
    """Wait for the page's background projections (the test process is the 'server')."""
    from sslviz.embeddings.projection_jobs import jobs

    deadline = time.time() + timeout
    while jobs().pending() and time.time() < deadline:
        time.sleep(0.1)


def open_page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    for k, v in query.items():
        at.query_params[k] = str(v)
    return at.run()


def titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def texts(at, kind) -> str:
    return " | ".join(e.value for e in getattr(at, kind))


def write_snapshot(store, run_id, epoch, features, labels, index):
    from sslviz.core.files import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, features=features.astype(np.float16), labels=labels, index=index)
    atomic_write_bytes(store.run_dir(run_id) / f"embeddings_{epoch:04d}.npz", buf.getvalue())


def test_no_runs_says_how_to_get_one():
    at = open_page()
    assert not at.exception
    assert "No run has saved embeddings yet" in texts(at, "info")


def busy_jobs():
    """Holds the projection thread busy (as a class's queued UMAPs would) until the gate is set, so
    the page is seen while its UMAP waits; a tiny UMAP can otherwise finish before the page draws."""
    import threading

    from sslviz.embeddings.projection_jobs import jobs

    gate = threading.Event()
    jobs().submit(f"test-gate-{time.monotonic()}", gate.wait, 60, priority=0)
    return gate


def test_finished_run_pca_first_then_umap_and_url_written_back(store, add_finished_run):
    """The PCA (here already computed: the run's 1,024-d features make it a job of the projection thread,
    which the gate below holds) is shown at once while the asked-for UMAP waits its turn; then the UMAP."""
    run_id = add_finished_run(store)
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["run"] = run_id
    at.session_state["emb_method"] = "pca"
    at.run()
    assert not at.exception and "PCA 2D" in titles(at)[0]
    gate = busy_jobs()
    try:
        at.sidebar.radio(key="emb_method").set_value("umap").run()
        assert not at.exception
        assert "computing in the background" in texts(at, "info") and "PCA is shown meanwhile" in texts(at, "info")
        assert "PCA 2D" in titles(at)[0] and f"{run_id} · epoch 2" in titles(at)[0]
        assert at.query_params["run"] == run_id and at.query_params["epoch"] == "2"
    finally:
        gate.set()
    settle()
    at.run()
    assert not at.exception and "UMAP 2D" in titles(at)[0]
    assert "computing" not in texts(at, "info")
    assert any(m.label.startswith("NMI") for m in at.metric)
    assert list((store.run_dir(run_id) / "projections").glob("run-e0002-*.npz"))  # cached in the run directory
    # the epoch slider writes the URL back
    at.select_slider(key="emb_epoch").set_value(1).run()
    assert at.query_params["epoch"] == "1" and f"{run_id} · epoch 1" in titles(at)[0]


def test_url_restores_epoch_and_source_and_says_when_a_value_is_not_available(store, add_finished_run):
    run_id = add_finished_run(store)
    at = open_page(run=run_id, epoch=0)
    assert at.select_slider(key="emb_epoch").value == 0 and "epoch 0" in titles(at)[0]
    at = open_page(run=run_id, source="pixels")
    assert at.radio(key="emb_source").value == "pixels" and "raw pixels" in titles(at)[0]
    assert "epoch" not in at.query_params
    at = open_page(run=run_id, epoch=99)
    assert "epoch=99" in texts(at, "warning") and "epoch 2" in titles(at)[0]
    at = open_page(run="nope-000")
    assert "nope-000" in texts(at, "warning") and not at.exception


def test_bad_input_is_a_clear_message(store, add_finished_run):
    from sslviz.data import load_dataset

    queued = store.create(tiny_config().to_dict())
    at = open_page(run=queued)
    assert "no embeddings yet" in texts(at, "info") and not at.get("plotly_chart")

    failed = store.create(tiny_config().to_dict(), status="running")
    store.update(failed, status="failed", message="loss became nan at step 3")
    at = open_page(run=failed)
    assert "failed before saving any embedding" in texts(at, "error") and "loss became nan" in texts(at, "error")

    index = np.arange(60)
    labels = load_dataset("digits", image_size=16).test.labels.numpy()[index]
    diverged = store.create(tiny_config().to_dict(), status="running")
    feats = np.random.default_rng(0).normal(size=(60, 8))
    write_snapshot(store, diverged, 0, feats, labels, index)
    feats = feats.copy()
    feats[5:9] = np.nan
    write_snapshot(store, diverged, 1, feats, labels, index)
    store.update(diverged, status="failed", message="diverged")
    at = open_page(run=diverged)
    assert "NaN" in texts(at, "error") and "earlier epoch" in texts(at, "error")
    at = open_page(run=diverged, epoch=0)
    assert at.get("plotly_chart") and "This run failed" in texts(at, "warning")  # its earlier snapshot still shows

    single = add_finished_run(store)
    write_snapshot(store, single, 2, np.random.default_rng(1).normal(size=(40, 8)), np.zeros(40, dtype=int),
                   np.arange(40))
    at = open_page(run=single)
    assert "only one class" in texts(at, "caption") and not at.exception
    # fewer points than n_neighbors: UMAP says what to change, PCA is shown instead
    at.sidebar.number_input(key="emb_max").set_value(12).run()
    assert "n_neighbors=15 needs at least 16 points" in texts(at, "error")
    assert "PCA 2D" in titles(at)[0]


def test_colourings_and_the_other_views(store, add_finished_run):
    run_id = add_finished_run(store)
    at = open_page(run=run_id)
    settle()
    at.radio(key="emb_colour").set_value("cluster").run()
    assert {"NMI", "ARI", "silhouette"} <= {m.label for m in at.metric}
    assert "estimated" in texts(at, "caption")
    at.radio(key="emb_colour").set_value("few-shot").run()
    assert any(m.label == "few-shot accuracy" for m in at.metric)
    at.radio(key="emb_view").set_value("Evolution").run()
    settle()
    at.run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [f["name"] for f in spec["frames"]] == ["epoch 0", "epoch 1", "epoch 2"]
    at.radio(key="emb_view").set_value("Side by side").run()
    settle()
    at.run()
    assert not at.exception and "raw pixels" in titles(at)[1] and f"{run_id} · epoch 2" in titles(at)[0]
    at.radio(key="emb_link").set_value("the left plot's clusters (k-means)").run()
    left, right = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert {t["name"] for t in left["data"]} == {t["name"] for t in right["data"]}  # linked colouring
    at.radio(key="emb_view").set_value("Export").run()
    assert len(at.get("download_button")) == 3 and not at.exception


def test_point_and_selection_panels_show_images_and_neighbours(store, add_finished_run):
    run_id = add_finished_run(store)

    def script():
        import os

        from sslviz.embeddings.embedding import load_embedding
        from sslviz.training.runs import RunStore
        from sslviz.ui import embedding_panels as panels
        from sslviz.ui import embedding_state as S

        s = RunStore(os.environ["SSLVIZ_HOME"])
        emb = load_embedding(s, s.list()[0]["id"])
        imgs = S.images(emb)
        panels.point_image(emb, imgs, 3, {})
        panels.point_panel(emb, imgs, 3)
        panels.image_grid(emb, imgs, [0, 1, 2, 4, 5])

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception
    images = at.get("image")
    assert len(images) == 1 + 8 + 8 + 5
    assert "share its class" in texts(at, "markdown") and run_id


def test_selected_rows_reads_every_customdata_form():
    from types import SimpleNamespace

    from sslviz.ui.embedding_views import selected_rows

    event = SimpleNamespace(selection={"points": [{"customdata": {"0": 4, "1": 9}}, {"customdata": [7, 1]},
                                                  {"customdata": [4, 9]}], "box": [{"x": [0, 1]}], "lasso": []})
    assert selected_rows(event) == ([4, 7], True)
    assert selected_rows(SimpleNamespace(selection={"points": [{"customdata": [2, 0]}], "box": [], "lasso": []})) == ([2], False)
    assert selected_rows(None) == ([], False)


def test_shapes_factors_colour_the_points(store):
    from sslviz.data import load_dataset

    config = tiny_config(dataset="shapes", image_size=16).to_dict()
    run_id = store.create(config, status="running")
    test = load_dataset("shapes", image_size=16, seed=0).test
    index = np.arange(0, 160, 2)
    write_snapshot(store, run_id, 0, np.random.default_rng(0).normal(size=(len(index), 8)), test.labels.numpy()[index],
                   index)
    store.update(run_id, status="completed")
    at = open_page(run=run_id)
    at.radio(key="emb_method").set_value("pca").run()
    at.radio(key="emb_colour").set_value("factor").run()
    factor = at.selectbox(key="emb_factor")
    assert {"colour", "size", "x", "y", "rotation"} <= set(factor.options) and "shape" not in factor.options
    factor.set_value("rotation").run()
    trace = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert trace["marker"]["colorbar"]["title"]["text"] == "rotation" and not at.exception
    assert "rotation" in trace["hovertext"][0]


def test_a_baseline_is_computed_beside_the_page_which_says_so_and_polls(store, add_finished_run, monkeypatch):
    """Live refresh on (a real browser): the first raw-pixel baseline is computed in the compute
    child; the page does not wait for it but says so, and shows it on a later run."""
    from sslviz.ui import embedding_state

    monkeypatch.delenv("SSLVIZ_NO_LIVE")
    monkeypatch.setattr(embedding_state, "BASELINE_WAIT", 0.0)
    run_id = add_finished_run(store)
    at = open_page(run=run_id, source="pixels")
    assert not at.exception
    assert "Computing the raw pixels (baseline) embedding" in texts(at, "info")
    assert not titles(at)  # nothing half-drawn meanwhile
    settle()
    at.run()
    assert not at.exception and "raw pixels" in titles(at)[0]
    from sslviz.embeddings.projection_jobs import jobs

    assert not [k for k in jobs()._jobs if k.startswith("embedding|") and run_id in k]  # held once, by the page cache


def test_pca_of_wide_features_runs_in_the_child_and_of_narrow_ones_here(store, add_finished_run, monkeypatch):
    from sslviz.embeddings.embedding import load_embedding
    from sslviz.ui import embedding_views as V

    run_id = add_finished_run(store)
    emb = load_embedding(store, run_id, source="pixels")
    params = P.ProjectionParams(method="pca")
    monkeypatch.setattr(V, "WIDE", emb.features.shape[1])  # as narrow as allowed: computed here
    proj, job, _ = V.obtain(emb, params, store.run_dir(run_id))
    assert proj is not None and job is None and not proj.cached
    monkeypatch.setattr(V, "WIDE", emb.features.shape[1] - 1)  # one dimension too wide: the child
    other = P.ProjectionParams(method="pca", dims=3)
    proj3, job, _ = V.obtain(emb, other, store.run_dir(run_id))
    assert proj3 is not None and job is not None and proj3.coords.shape[1] == 3  # the test waits for it
    np.testing.assert_allclose(np.abs(proj3.coords[:, :2]), np.abs(proj.coords), atol=1e-4)
    again, job, _ = V.obtain(emb, other, store.run_dir(run_id))
    assert again.cached and job is None and np.array_equal(again.coords, proj3.coords)


def test_umap_epochs_and_engine_are_parameters_with_their_own_cache(store, add_finished_run):
    run_id = add_finished_run(store)
    at = open_page(run=run_id)
    settle()
    at.run()
    folder = store.run_dir(run_id) / "projections"
    before = set(folder.glob("run-e0002-*.npz"))
    at.select_slider(key="emb_epochs").set_value(50).run()
    settle()
    at.run()
    assert not at.exception and "UMAP 2D" in titles(at)[0]
    fewer = set(folder.glob("run-e0002-*.npz")) - before
    assert len(fewer) == 1  # 50 epochs: another projection, cached beside the 200-epoch one
    at.toggle(key="emb_umap_learn").set_value(True).run()
    settle()
    at.run()
    assert not at.exception and "UMAP 2D" in titles(at)[0]
    assert len(set(folder.glob("run-e0002-*.npz")) - before - fewer) == 1  # umap-learn's layout: its own file
