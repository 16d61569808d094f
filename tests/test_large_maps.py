"""Whole datasets in view (issue 24, point 4): a 70,000-point embedding drawn whole on the Embeddings page
(WebGL), with density contours, labels on the clusters and a search; the bench's large UMAP row.
(sslviz/embeddings/map_aids.py, sslviz/plots/embeddings.py, sslviz/ui/embedding_views.py, bench/bench_umap.py)"""

import base64
import json
import sys

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from sslviz.embeddings import map_aids as A
from sslviz.embeddings import projection as P

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
N = 70_000


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")


def _clustered(n=N, dims=48, seed=0, dtype=np.float16):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    centres = rng.normal(0, 4, (len(CLASSES), dims))
    return (centres[y] + rng.normal(0, 1, (n, dims))).astype(dtype), y


def _length(values) -> int:
    if isinstance(values, dict):  # plotly's typed array: {"dtype": "f4", "bdata": base64}
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def _spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_map_aids_on_their_own():
    coords = np.array([[0, 0], [0.1, 0], [0, 0.1], [5, 5], [5.2, 5], [9, 9]], dtype=np.float32)
    names = np.array(["a", "a", "a", "b", "b", "noise"])
    spots = A.label_positions(coords, names)
    assert [s[0] for s in spots] == ["a", "b"] and spots[0][1:] == (0.0, 0.0, 3) and spots[1][1] == pytest.approx(5.1)
    x, y, z = A.density(coords, bins=10)
    assert z.shape == (10, 10) and 0 < z.sum() <= len(coords) and len(x) == len(y) == 10
    files = {"file": np.array([f"f{i}.png" for i in range(6)])}
    found = A.search("4", names, np.arange(6) + 10, files)
    assert found.count == 1 and found.how == "column 'file'"  # f4.png; no image number 4
    found = A.search("#14", names, np.arange(6) + 10, files)
    assert found.count == 1 and found.mask[4] and found.how == "image number"
    assert A.search("  ", names) is None and A.search("zebra", names).count == 0
    assert A.search("A", names).count == 3  # case-insensitive, on the label


def test_70000_points_on_the_page_webgl_density_labels_and_search(store, tmp_path):
    from sslviz.embeddings.imported import import_file

    x, y = _clustered()
    photo = np.array([f"img_{i:05d}.jpg" for i in range(N)])
    np.savez(tmp_path / "big.npz", embeddings=x, labels=np.array(CLASSES)[y], photo_id=photo)
    run_id = import_file(store, tmp_path / "big.npz", score=False)

    at = AppTest.from_file(str(ROOT / "pages/4_Embeddings.py"), default_timeout=120)
    at.query_params["run"] = run_id
    at.session_state["emb_method"] = "pca"
    at.run()
    assert not at.exception
    spec = _spec(at)
    points = [t for t in spec["data"] if t.get("mode") == "markers"]
    assert points and all(t["type"] == "scattergl" for t in points)  # WebGL
    assert sum(_length(t["x"]) for t in points) == N  # every point drawn: no sample at the default size
    assert "Showing a random" not in " ".join(c.value for c in at.caption)
    assert any(t["type"] == "contour" and t["name"] == "density" for t in spec["data"])  # on by default at this size
    labels = {a["text"] for a in spec["layout"].get("annotations", [])}
    # a label lets a click through to the point beneath it (tests/test_browser_embeddings.py clicks one)
    assert all(a.get("captureevents") is False and "hovertext" not in a for a in spec["layout"]["annotations"])
    assert {f"<b>{c}</b>" for c in CLASSES} <= labels  # each class named at its median position

    at.toggle(key="emb_density").set_value(False).run()
    assert not any(t["type"] == "contour" for t in _spec(at)["data"])

    at.text_input(key="emb_search").set_value("cat").run()
    want = int((y == CLASSES.index("cat")).sum())
    found = [t for t in _spec(at)["data"] if t["name"].startswith("search")]
    assert len(found) == 1 and found[0]["name"] == f"search: {want:,}" and _length(found[0]["x"]) == want
    assert f"{want:,} of {N:,} points match" in " ".join(c.value for c in at.caption)

    at.text_input(key="emb_search").set_value("img_00042").run()  # a file name in a metadata column
    found = [t for t in _spec(at)["data"] if t["name"].startswith("search")]
    assert found[0]["name"] == "search: 1" and "column 'photo_id'" in " ".join(c.value for c in at.caption)


def test_tsne_is_capped_with_a_note_naming_the_cap():
    x, _ = _clustered(n=P.TSNE_MAX_POINTS + 50, dims=8, dtype=np.float32)
    rows = P.subsample(len(x), min(P.DEFAULT_MAX_POINTS, P.TSNE_MAX_POINTS), 0)
    proj = P.Projection(coords=np.zeros((len(rows), 2), np.float32), rows=rows,
                        params=P.ProjectionParams(method="tsne"), total=len(x))
    assert f"capped at {P.TSNE_MAX_POINTS:,}" in proj.note
    assert P.DEFAULT_MAX_POINTS >= N


def test_bench_large_row_returns_its_fields_at_small_size():
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_umap

    feats, labels, described = bench_umap.synthetic_embedding(1200, seed=0)
    assert feats.shape == (1200, bench_umap.SYNTHETIC_DIMS) and feats.dtype == np.float32 and "synthetic" in described
    row = bench_umap.large_row(feats, labels, described, seed=0)
    for key in ("points", "dims", "data", "sslviz_seconds", "umap_learn_seconds", "speedup",
                "sslviz_neighbour_recall", "umap_learn_neighbour_recall", "recall_no_worse", "target_seconds"):
        assert key in row, key
    assert row["points"] == 1200 and 0 < row["sslviz_neighbour_recall"] <= 1 and 0 < row["umap_learn_neighbour_recall"] <= 1


def test_bench_augmented_embedding_is_shifted_copies_of_real_images():
    """The large row's stand-in for a whole dataset without its files: copies of the embedded images,
    each shifted and turned at random, seeded; the first copy is the images as they are."""
    import argparse

    sys.path.insert(0, str(ROOT / "bench"))
    import bench_umap

    args = argparse.Namespace(mnist_root=None, shapes=True, large_points=14_000, seed=0)
    feats, labels, described = bench_umap.augmented_embedding(args)
    base = 10_000  # shapes: 8,000 training and 2,000 test images
    assert feats.shape == (14_000, 256) and labels.shape == (14_000,) and "augmented copies" in described
    np.testing.assert_array_equal(labels[:4000], labels[base:])  # the same images, in the same order
    assert not np.allclose(feats[:4000], feats[base:])  # moved
    own = np.abs(feats[:4000] - feats[base:]).mean(1)
    other = np.abs(feats[:4000] - feats[4000:8000]).mean(1)
    near = np.mean(own < other)
    assert near > 0.6  # a moved copy is still nearer its own image than another image is
    again, _, _ = bench_umap.augmented_embedding(args)
    np.testing.assert_array_equal(feats, again)
