"""Exports round-trip: CSV, .npy, Embedding Projector files (sprite tiles in row order), HTML, the CLI."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from sslviz.embeddings import export as X
from sslviz.embeddings.embedding import Embedding
from sslviz.embeddings.projection import ProjectionParams, project


def make(n=13, d=5, channels=3, size=8, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, 3, n)
    index = rng.permutation(100)[:n]
    emb = Embedding(feats, labels, index, "run", "simclr-abc", 4, {"dataset": "shapes"}, ["circle", "square", "star"])
    images = rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)
    return emb, images


def test_csv_round_trip_with_projection_and_factors():
    emb, _ = make()
    proj = project(emb.features, ProjectionParams(method="pca", max_points=10))
    factors = {"size": np.linspace(0.2, 0.4, len(emb))}
    rows = list(csv.DictReader(io.StringIO(X.csv_bytes(emb, proj, factors).decode())))
    assert len(rows) == len(emb)
    assert [int(r["index"]) for r in rows] == emb.index.tolist()
    assert [r["class"] for r in rows] == emb.label_names()
    feats = np.array([[float(r[f"f{j}"]) for j in range(emb.dims)] for r in rows])
    np.testing.assert_allclose(feats, emb.features, rtol=1e-6)
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    np.testing.assert_allclose(xy[proj.rows], proj.coords, rtol=1e-6)
    assert np.isnan(np.delete(xy, proj.rows, axis=0)).all()  # points outside the sample have no position
    np.testing.assert_allclose([float(r["size"]) for r in rows], factors["size"], rtol=1e-5)


def test_npy_round_trip():
    emb, _ = make()
    proj = project(emb.features, ProjectionParams(method="pca"))
    files = {name: np.load(io.BytesIO(data)) for name, data in X.npy_files(emb, proj).items()}
    np.testing.assert_array_equal(files["features.npy"], emb.features)
    np.testing.assert_array_equal(files["labels.npy"], emb.labels)
    np.testing.assert_array_equal(files["index.npy"], emb.index)
    np.testing.assert_array_equal(files["projection.npy"], proj.coords)
    np.testing.assert_array_equal(files["projection_rows.npy"], proj.rows)


@pytest.mark.parametrize("channels", [1, 3])
def test_projector_files_round_trip_and_sprite_matches_row_order(channels):
    emb, images = make(channels=channels)
    files = X.projector_files(emb, images, {"rotation": np.arange(len(emb)) / 10})
    vectors = np.loadtxt(io.StringIO(files["vectors.tsv"].decode()), delimiter="\t", ndmin=2)
    np.testing.assert_allclose(vectors, emb.features, rtol=1e-6)
    meta = files["metadata.tsv"].decode().splitlines()
    assert meta[0].split("\t") == ["index", "label", "class", "rotation"] and len(meta) == len(emb) + 1
    assert [int(line.split("\t")[0]) for line in meta[1:]] == emb.index.tolist()
    sheet = np.asarray(Image.open(io.BytesIO(files["sprite.png"])).convert("RGB"))
    cols = int(np.ceil(np.sqrt(len(emb))))
    assert sheet.shape == (int(np.ceil(len(emb) / cols)) * 8, cols * 8, 3)
    for i in range(len(emb)):
        r, c = divmod(i, cols)
        tile = sheet[r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8]
        expected = np.repeat(images[i], 3, axis=0) if channels == 1 else images[i]
        np.testing.assert_array_equal(tile, expected.transpose(1, 2, 0))
    config = files["projector_config.pbtxt"].decode()
    for needle in ('tensor_path: "vectors.tsv"', 'metadata_path: "metadata.tsv"', 'image_path: "sprite.png"',
                   "single_image_dim: 8", f"tensor_shape: {len(emb)}"):
        assert needle in config


def test_sprite_shrinks_tiles_to_fit_the_size_limit(monkeypatch):
    monkeypatch.setattr(X, "SPRITE_MAX", 16)
    emb, images = make(n=9)
    png, tile = X.sprite_png(images)
    assert tile == 5 and Image.open(io.BytesIO(png)).size == (15, 15)


def test_figure_html_is_standalone():
    from sslviz.plots.embeddings import categorical_scatter, customdata_for

    coords = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    fig = categorical_scatter(coords, np.array(["a", "b"] * 10), customdata_for(np.arange(20), np.arange(20)),
                              np.array(["t"] * 20, dtype=object))
    html = X.figure_html(fig).decode()
    assert "<html>" in html[:100] and "scattergl" in html and "Plotly.newPlot" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js embedded: opens offline


def test_cli_export_all_formats_for_a_finished_run(store, add_finished_run, tmp_path, capsys):
    from sslviz.cli.main import main
    from sslviz.embeddings.embedding import load_embedding

    run_id = add_finished_run(store)
    emb = load_embedding(store, run_id)
    for fmt in ("csv", "npy", "projector"):
        out = tmp_path / fmt
        extra = ["--projection", "pca"] if fmt == "csv" else []
        assert main(["export", "--run", run_id, "--format", fmt, "--out", str(out), "--runs-dir", str(store.root),
                     "--json", *extra]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["points"] == len(emb) and result["epoch"] == 2 and all(p.startswith(str(out)) for p in result["files"])
    rows = list(csv.DictReader(open(tmp_path / "csv" / "embedding.csv")))
    assert len(rows) == len(emb) and "x" in rows[0] and rows[0]["class"] in emb.class_names
    np.testing.assert_array_equal(np.load(tmp_path / "npy" / "index.npy"), emb.index)
    assert {"vectors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt"} <= {
        p.name for p in (tmp_path / "projector").iterdir()}
    # the untrained-network baseline and an earlier epoch
    assert main(["export", "--run", run_id, "--format", "npy", "--out", str(tmp_path / "e0"), "--epoch", "0",
                 "--runs-dir", str(store.root)]) == 0
    assert not np.array_equal(np.load(tmp_path / "e0" / "features.npy"), np.load(tmp_path / "npy" / "features.npy"))


def test_cli_export_bad_input_is_one_line(store, add_finished_run, tmp_path, capsys):
    from sslviz.cli.main import main

    assert main(["export", "--run", "nope-123", "--format", "csv", "--out", str(tmp_path), "--runs-dir",
                 str(store.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope-123" in err
    queued = store.create({"method": "simclr", "dataset": "digits"})
    assert main(["export", "--run", queued, "--format", "csv", "--out", str(tmp_path), "--runs-dir",
                 str(store.root)]) == 2
    assert "no embeddings yet" in capsys.readouterr().err
    run_id = add_finished_run(store)
    assert main(["export", "--run", run_id, "--format", "csv", "--out", str(tmp_path), "--epoch", "7",
                 "--runs-dir", str(store.root)]) == 2
    assert "no snapshot at epoch 7" in capsys.readouterr().err


def test_baselines_pixels_and_random_init_without_an_epoch_0_snapshot(store, add_finished_run):
    from sslviz.embeddings.embedding import load_embedding, load_snapshot

    run_id = add_finished_run(store)
    run_dir = store.run_dir(run_id)
    untrained, labels, index = load_snapshot(run_dir, 0)
    pixels = load_embedding(store, run_id, "pixels")
    assert pixels.features.shape == (len(index), 16 * 16) and np.array_equal(pixels.index, index)
    assert 0 <= pixels.features.min() and pixels.features.max() <= 1
    (run_dir / "embeddings_0000.npz").unlink()  # a run that saved no epoch-0 snapshot
    rebuilt = load_embedding(store, run_id, "random-init")
    # the backbone rebuilt from the config's seed is the trainer's untrained network (float16 snapshot)
    np.testing.assert_allclose(rebuilt.features, untrained, atol=2e-3 * np.abs(untrained).max())
    assert (run_dir / "baseline_random-init.npz").exists()
    again = load_embedding(store, run_id, "random-init")
    np.testing.assert_allclose(again.features, rebuilt.features, atol=1e-3 * np.abs(untrained).max())
