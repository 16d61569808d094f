"""Imported embeddings (issue 24, points 2 and 5): every format round-trips into a store entry that the
Embeddings, Compare and Label Efficiency pages treat like a run; every bad file is one line and leaves
the store as it was (sslviz/embeddings/imported.py, import_readers.py, sslviz/cli/import_command.py)."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, png_bytes
from streamlit.testing.v1 import AppTest

from sslviz.embeddings import embedding as E
from sslviz.embeddings.import_readers import ImportFileError
from sslviz.embeddings.imported import entries, import_file

CLASSES = ["cat", "dog", "fox"]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")


def _points(n_per=30, dims=12, seed=0):
    """Three well-separated noisy clusters: float32 features and class-name labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (3, dims))
    y = np.repeat(np.arange(3), n_per)
    x = (centres[y] + rng.normal(0, 1, (len(y), dims))).astype(np.float32)
    return x, np.array(CLASSES)[y]


def _write(fmt: str, folder, x, names):
    """The file(s) of one format; returns (path, import_file options)."""
    n, d = x.shape
    if fmt == "npy+csv":
        np.save(folder / "feats.npy", x)
        pd.DataFrame({"species": names, "site": np.where(np.arange(n) % 2, "north", "south")}).to_csv(
            folder / "meta.csv", index=False)
        return folder / "feats.npy", dict(metadata=folder / "meta.csv", labels="species")
    if fmt == "npy+label-column":
        codes = np.searchsorted(CLASSES, names).astype(np.float32)
        np.save(folder / "with_labels.npy", np.column_stack([x, codes]))
        return folder / "with_labels.npy", dict(labels="-1")
    if fmt == "npz":
        np.savez(folder / "feats.npz", embeddings=x, labels=names, paths=np.array([f"img{i}.png" for i in range(n)]))
        return folder / "feats.npz", {}
    if fmt == "csv-list":
        pd.DataFrame({"embedding": [json.dumps([float(v) for v in row]) for row in x], "label": names}).to_csv(
            folder / "table.csv", index=False)
        return folder / "table.csv", {}
    if fmt == "csv-numbered":
        frame = pd.DataFrame({f"dim_{j}": x[:, j].astype(np.float64) for j in range(d)})
        frame.insert(0, "label", names)
        frame.to_csv(folder / "numbered.csv", index=False, float_format="%.9g")
        return folder / "numbered.csv", {}
    if fmt == "parquet":
        pd.DataFrame({"embedding": list(x), "class": names}).to_parquet(folder / "table.parquet")
        return folder / "table.parquet", {}
    if fmt == "projector":
        np.savetxt(folder / "tensors.tsv", x, delimiter="\t", fmt="%.9g")
        pd.DataFrame({"label": names, "split": ["train"] * (n - 15) + ["test"] * 15}).to_csv(
            folder / "metadata.tsv", sep="\t", index=False)
        return folder / "tensors.tsv", dict(metadata=folder / "metadata.tsv")
    raise AssertionError(fmt)


FORMATS = ["npy+csv", "npy+label-column", "npz", "csv-list", "csv-numbered", "parquet", "projector"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_with_the_same_vectors_and_neighbours(fmt, store, tmp_path):
    from sklearn.neighbors import NearestNeighbors

    from sslviz.embeddings.neighbours import embedding_neighbours

    x, names = _points()
    path, options = _write(fmt, tmp_path, x, names)
    run_id = import_file(store, path, score=False, **options)
    run = store.get(run_id)
    assert run["kind"] == "import" and run["status"] == "completed" and run["method"] == "import"
    assert run["name"] == f"imported: {path.name}"
    emb = E.load_embedding(store, run_id)
    np.testing.assert_array_equal(emb.features, x)  # exactly the vectors of the file
    numbered = fmt == "npy+label-column"  # class numbers without names show as numbers
    assert emb.label_names() == (list(np.searchsorted(CLASSES, names).astype(str)) if numbered else list(names))
    assert emb.title == f"imported: {path.name}"
    nn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(x)
    for row in (0, 31, 77):
        expect = [r for r in nn.kneighbors(x[[row]], return_distance=False)[0] if r != row][:5]
        assert list(embedding_neighbours(emb.features, row, 5)[0]) == expect
    info = run["summary"]["import"]
    assert info["points"] == 90 and info["dims"] == 12
    assert info["test"] == (15 if fmt == "projector" else 18)  # a split column, else 20% of each class
    assert [r["id"] for r in E.runs_with_embeddings(store, imports=True)] == [run_id]
    assert E.runs_with_embeddings(store) == []  # the trained-runs-only lists do not see it
    assert [r["id"] for r in entries(store)] == [run_id]


def test_papers_knn_is_sklearns_weighted_vote_on_the_split(store, tmp_path):
    """The figure stored at import is the papers' kNN on the import's rows: train rows the bank, test rows
    scored, computed here directly with scikit-learn's neighbours and Wu et al.'s weighted vote."""
    from sklearn.neighbors import NearestNeighbors

    x, names = _points(n_per=40, seed=3)
    x[:, :4] += np.random.default_rng(1).normal(0, 4, (len(x), 4)).astype(np.float32)  # not every point is easy
    np.savez(tmp_path / "f.npz", features=x, labels=names)
    run_id = import_file(store, tmp_path / "f.npz")
    papers = store.get(run_id)["summary"]["papers"]
    from sslviz.embeddings.imported import split_rows

    train, test = split_rows(store.run_dir(run_id))
    y = np.searchsorted(CLASSES, names)
    nn = NearestNeighbors(n_neighbors=20, metric="cosine", algorithm="brute").fit(x[train])
    dist, idx = nn.kneighbors(x[test])
    votes = np.zeros((len(test), 3))
    for q in range(len(test)):
        for d, j in zip(dist[q], idx[q]):
            votes[q, y[train][j]] += np.exp((1 - d) / 0.07)
    direct = float(np.mean(votes.argmax(1) == y[test]))
    assert papers["knn20"] == pytest.approx(direct, abs=1e-9)
    assert papers["bank"] == len(train) and papers["test"] == len(test) and 0 < papers["linear"] <= 1


def test_cli_json_and_a_cli_error_is_one_line(store, tmp_path, capsys):
    from sslviz.cli.main import main

    x, names = _points()
    path, _ = _write("npz", tmp_path, x, names)
    assert main(["import", "embeddings", str(path), "--name", "my ResNet", "--json", "--no-score",
                 "--runs-dir", str(store.root)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["name"] == "my ResNet" and out["kind"] == "import" and out["points"] == 90 and out["dims"] == 12
    assert out["labels"] == "label" and out["train"] + out["test"] == 90
    np.testing.assert_array_equal(E.load_embedding(store, out["id"]).features, x)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    assert main(["import", "embeddings", str(tmp_path / "bad.npy"), "--runs-dir", str(store.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bad.npy: not a readable .npy file") and "\n" not in err and "Traceback" not in err
    assert len(store.list(kind=None)) == 1


def test_metadata_columns_colour_the_map_and_images_come_from_paths(store, tmp_path):
    from sslviz.embeddings.colouring import ColourBy, colour_points
    from sslviz.embeddings.projection import ProjectionParams, project

    x, names = _points(n_per=4)
    for i in range(6):  # images for half of the rows
        (tmp_path / f"img{i}.png").write_bytes(png_bytes(i, 20))
    frame = pd.DataFrame({"embedding": [" ".join(map(str, r.tolist())) for r in x], "label": names,
                          "site": ["a", "b"] * 6, "depth": np.arange(12) * 0.5, "file": [f"img{i}.png" for i in range(12)]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    run_id = import_file(store, tmp_path / "t.csv", score=False)
    emb = E.load_embedding(store, run_id)
    facts = E.factors_for(emb)
    assert set(facts) >= {"site", "depth"}
    proj = project(emb.features, ProjectionParams(method="pca"))
    col = colour_points(ColourBy("factor", factor="site"), emb, proj, facts)
    assert set(col.categories) == {"a", "b"} and col.order == ["a", "b"]
    assert colour_points(ColourBy("factor", factor="depth"), emb, proj, facts).values is not None
    imgs = np.asarray(E.images_for(emb))
    assert imgs.shape == (12, 3, 32, 32) and imgs[:6].any(axis=(1, 2, 3)).all() and not imgs[6:].any()
    assert "6 of 12 image paths read" in store.get(run_id)["message"]
    assert E.pixels_embedding(store, run_id).features.shape == (12, 3 * 32 * 32)
    with pytest.raises(E.EmbeddingError, match="no untrained network"):
        E.random_init_embedding(store, run_id)


def test_rows_of_a_named_dataset_take_its_images_and_class_names(store, tmp_path):
    data = E.dataset_for({"dataset": "digits", "seed": 0})
    index = np.arange(0, 60, 2)
    x = np.random.default_rng(0).normal(size=(len(index), 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", features=x, index=index)
    run_id = import_file(store, tmp_path / "d.npz", dataset="digits", score=False)
    emb = E.load_embedding(store, run_id)
    np.testing.assert_array_equal(emb.labels, data.test.labels.numpy()[index])
    assert emb.class_names == list(data.class_names)
    np.testing.assert_array_equal(np.asarray(E.images_for(emb)), data.test.images[index].numpy())
    np.savez(tmp_path / "short.npz", features=x)  # neither every test image nor an index column
    with pytest.raises(ImportFileError, match=r"short.npz: 30 rows, but the test split of digits has"):
        import_file(store, tmp_path / "short.npz", dataset="digits")


def test_label_efficiency_on_an_import_uses_its_own_split(store, tmp_path):
    from conftest import tiny_config

    from sslviz.core.errors import ConfigError
    from sslviz.experiments.label_efficiency import run_experiment

    x, names = _points(n_per=30)
    split = np.where(np.arange(90) % 3 == 0, "test", "train")
    np.savez(tmp_path / "f.npz", features=x, labels=names, split=split)
    run_id = import_file(store, tmp_path / "f.npz", score=False)
    res = run_experiment(dict(runs=[run_id], labels_per_class=[1, 5], protocols=["knn", "linear", "finetune"],
                              seeds=2, baselines=["pixels"]), store)
    assert res["pool_size"] == 60 and res["test_size"] == 30
    assert {(r["key"], r["protocol"]) for r in res["results"]} == {(run_id, "knn"), (run_id, "linear")}
    assert all(r["mean"] > 0.9 for r in res["results"] if r["labels_per_class"] == 5)  # separated clusters
    assert any("baselines (pixels) left out" in n for n in res["notes"])
    trained = store.create(tiny_config().to_dict(), status="completed")
    with pytest.raises(ConfigError, match="cannot share an experiment"):
        run_experiment(dict(runs=[run_id, trained], labels_per_class=[1], protocols=["knn"], seeds=1), store)


def test_compare_shows_an_import_beside_trained_runs(store, tmp_path):
    from sslviz.experiments import compare

    x, names = _points()
    path, _ = _write("npz", tmp_path, x, names)
    run_id = import_file(store, path)
    [row] = compare.leaderboard(store, [run_id])
    assert row["method"] == "import" and row[compare.PAPERS_KNN] == store.get(run_id)["summary"]["papers"]["knn20"]
    view = compare.projection_of(store, run_id, "pca")
    assert view["coords"].shape == (90, 2) and view["class_names"] == CLASSES


# ---- bad input: one line naming the file, nothing in the store -------------------------------------


def _bad(kind: str, folder):
    x, names = _points(n_per=4)
    if kind == "nan":
        x[5, 2] = np.nan
        np.savez(folder / "nan.npz", features=x, labels=names)
        return folder / "nan.npz", {}, r"nan.npz: 1 of 12 embeddings contain NaN or infinite values \(first: row 6\)"
    if kind == "inf":
        pd.DataFrame({"e0": x[:, 0], "e1": np.where(np.arange(12) == 3, np.inf, x[:, 1]), "label": names}).to_csv(
            folder / "inf.csv", index=False)
        return folder / "inf.csv", {}, r"inf.csv: 1 of 12 embeddings contain NaN or infinite values \(first: row 4\)"
    if kind == "rows-vs-metadata":
        np.save(folder / "f.npy", x)
        pd.DataFrame({"label": names[:-1]}).to_csv(folder / "labels.csv", index=False)
        return folder / "f.npy", dict(metadata=folder / "labels.csv"), r"labels.csv: 11 rows, but f.npy has 12 embeddings"
    if kind == "rows-vs-labels":
        np.savez(folder / "short_labels.npz", embeddings=x, labels=names[:10])
        return folder / "short_labels.npz", {}, r"short_labels.npz: 'labels' has 10 values, but 'embeddings' has 12 rows"
    if kind == "inconsistent-dimension":
        rows = [json.dumps(r.tolist()) for r in x.astype(float)]
        rows[7] = json.dumps(x[7, :-1].astype(float).tolist())
        pd.DataFrame({"embedding": rows, "label": names}).to_csv(folder / "ragged.csv", index=False)
        return folder / "ragged.csv", {}, r"ragged.csv: column 'embedding', row 8 has 11 values where row 1 has 12"
    if kind == "projector-dimension":
        lines = ["\t".join(map(str, r.tolist())) for r in x]
        lines[2] = "\t".join(map(str, x[2, :5].tolist()))
        (folder / "tensors.tsv").write_text("\n".join(lines) + "\n")
        return folder / "tensors.tsv", {}, r"tensors.tsv: line 3 has 5 values where line 1 has 12 \(inconsistent dimension\)"
    if kind == "wrong-shape":
        np.save(folder / "cube.npy", np.zeros((4, 3, 2), np.float32))
        return folder / "cube.npy", {}, r"cube.npy: expected a 2-D array \(points × dimensions\), got shape \(4, 3, 2\)"
    if kind == "non-numeric":
        frame = pd.DataFrame({"e0": x[:, 0].astype(str), "e1": x[:, 1], "label": names})
        frame.loc[4, "e0"] = "abc"
        frame.to_csv(folder / "text.csv", index=False)
        return folder / "text.csv", {}, r"text.csv: column 'e0', row 5: 'abc' is not a number"
    if kind == "empty":
        (folder / "empty.npz").write_bytes(b"")
        return folder / "empty.npz", {}, r"empty.npz: the file is empty"
    if kind == "corrupt":
        np.savez(folder / "corrupt.npz", features=x, labels=names)
        blob = (folder / "corrupt.npz").read_bytes()
        (folder / "corrupt.npz").write_bytes(blob[: len(blob) // 2])
        return folder / "corrupt.npz", {}, r"corrupt.npz: not a readable .npz file"
    if kind == "pickled":
        np.savez(folder / "objects.npz", features=x, paths=np.array([object()] * 12, dtype=object))
        return folder / "objects.npz", {}, r"objects.npz: an array holds Python objects \(pickled\), which are never loaded"
    if kind == "oversize":
        with open(folder / "huge.npy", "wb") as fh:  # sparse: 2 GB on paper, nothing on disk, never read
            fh.truncate(2 * 2**30)
        return folder / "huge.npy", {}, r"huge.npy: 2,048 MB is over the import limit of 1,024 MB"
    if kind == "unknown-label-column":
        np.savez(folder / "f.npz", features=x, labels=names)
        return folder / "f.npz", dict(labels="species"), r"f.npz: no labels column 'species' \(columns: label\)"
    raise AssertionError(kind)


BAD = ["nan", "inf", "rows-vs-metadata", "rows-vs-labels", "inconsistent-dimension", "projector-dimension",
       "wrong-shape", "non-numeric", "empty", "corrupt", "pickled", "oversize", "unknown-label-column"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_is_one_line_naming_the_file_and_the_store_is_unchanged(kind, store, tmp_path):
    before = sorted(os.listdir(store.root))
    path, options, message = _bad(kind, tmp_path)
    with pytest.raises(ImportFileError, match=message) as info:
        import_file(store, path, **options)
    assert "\n" not in str(info.value)
    assert store.list(kind=None) == [] and sorted(os.listdir(store.root)) == before


# ---- the pages -----------------------------------------------------------------------------------------


def test_embeddings_page_upload_selects_the_entry_and_a_bad_upload_changes_nothing(store, tmp_path):
    x, names = _points()
    at = AppTest.from_file(str(ROOT / "pages/4_Embeddings.py"), default_timeout=90).run()
    assert not at.exception
    np.savez(tmp_path / "bad.npz", features=np.where(np.arange(12) == 3, np.nan, 1.0).reshape(6, 2))
    at.sidebar.file_uploader(key="import-files").set_value(("bad.npz", (tmp_path / "bad.npz").read_bytes(),
                                                            "application/octet-stream")).run()
    at.sidebar.button(key="import-go").click().run()
    assert not at.exception
    assert any("bad.npz: 1 of 6 embeddings contain NaN" in e.value for e in at.sidebar.error)
    assert store.list(kind=None) == []
    np.save(tmp_path / "feats.npy", x)
    pd.DataFrame({"label": names}).to_csv(tmp_path / "labels.csv", index=False)
    at.sidebar.file_uploader(key="import-files").set_value([
        ("labels.csv", (tmp_path / "labels.csv").read_bytes(), "text/csv"),
        ("feats.npy", (tmp_path / "feats.npy").read_bytes(), "application/octet-stream")]).run()
    at.sidebar.button(key="import-go").click().run()
    assert not at.exception, at.exception
    [entry] = store.list("import")
    assert entry["name"] == "imported: feats.npy"
    assert at.sidebar.selectbox(key="emb_run").value == entry["id"]  # selected at once
    assert at.sidebar.radio(key="emb_source").options == ["the imported embedding"]  # no untrained network
    assert any("imported from feats.npy: 90 × 12" in c.value for c in at.sidebar.caption)
    np.testing.assert_array_equal(E.load_embedding(store, entry["id"]).features, x)
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    assert any(t.startswith("imported: feats.npy") for t in titles), titles  # Explore draws it


@pytest.mark.parametrize("page, key", [("pages/6_Compare.py", "cmp-runs"), ("pages/5_Label_Efficiency.py", "le-runs")])
def test_compare_and_label_efficiency_list_the_import(page, key, store, tmp_path):
    x, names = _points()
    path, _ = _write("npz", tmp_path, x, names)
    run_id = import_file(store, path, score=False)
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, at.exception
    select = at.multiselect(key=key)
    assert select.value == [run_id] and "imported: feats.npz" in select.format_func(run_id)
    if key == "cmp-runs":
        assert any("Imported embeddings are left out of the race" in c.value for c in at.caption)
        assert any("imported, so no training curves" in c.value for c in at.caption)  # not two empty charts
        assert not [c for c in at.get("plotly_chart") if c.proto.id and "cmp-training" in c.proto.id]
    else:
        assert "scored on its own train/test rows" in select.format_func(run_id)


def test_a_2_gb_upload_is_refused_on_its_size_before_it_is_read(store):
    from sslviz.ui.import_views import import_upload

    class Upload:  # what Streamlit hands over; getvalue() would read it
        name, size = "huge.npz", 2 * 2**30

        def getvalue(self):
            raise AssertionError("read before its size was checked")

    with pytest.raises(ImportFileError, match=r"^huge.npz: 2,048 MB is over the upload limit of 200 MB"):
        import_upload([Upload()], "", None, "")
    assert store.list(kind=None) == []


def test_a_text_column_named_like_a_shapes_factor_draws_on_the_embeddings_page(store, tmp_path):
    """An import's metadata column "colour" holding words (not the shapes set's numeric hue) once broke the
    map's hover text with a traceback; the page now draws it, and the hover shows the word."""
    x, names = _points(n_per=10)
    pd.DataFrame({"embedding": list(x), "label": names, "colour": ["red", "green"] * 15}).to_parquet(tmp_path / "c.parquet")
    run_id = import_file(store, tmp_path / "c.parquet", score=False)
    at = AppTest.from_file(str(ROOT / "pages/4_Embeddings.py"), default_timeout=90)
    at.query_params["run"] = run_id
    at.run()
    at.sidebar.radio(key="emb_method").set_value("pca").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [chart] = at.get("plotly_chart")
    hover = json.dumps(json.loads(chart.proto.spec)["data"])
    assert "colour red" in hover and "colour green" in hover


def test_a_failing_view_is_one_line_and_the_page_goes_on(store, tmp_path, monkeypatch):
    """A bug in one of the Embeddings page's views is one line (the traceback goes to the server's log)."""
    from sslviz.ui import embedding_panels

    x, names = _points(n_per=10)
    path, _ = _write("npz", tmp_path, x, names)
    run_id = import_file(store, path, score=False)
    at = AppTest.from_file(str(ROOT / "pages/4_Embeddings.py"), default_timeout=90)
    at.query_params["run"] = run_id
    monkeypatch.setattr(embedding_panels, "explore", lambda *a: 1 / 0)
    at.run()
    assert not at.exception
    assert any("The Explore view could not be drawn (ZeroDivisionError" in e.value for e in at.error)
    assert at.radio(key="emb_view").value == "Explore"  # the page around it is drawn
