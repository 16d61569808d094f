"""An embedding made elsewhere, as an entry of the run store (issue 24, points 2 and 5).

Why: a researcher who trained a model with another tool has its features, not an sslviz run. Made an
entry of the store, the same views serve it: the Embeddings page (projections, colouring by label or by
any metadata column, neighbours, side by side with trained runs), Compare (leaderboard, embeddings side
by side) and Label Efficiency (few-label curves on its own rows).

    run_id = import_file(store, "feats.npz", labels="label", dataset=None)     # CLI: python -m sslviz import embeddings

The entry is a row of kind "import" (so the worker, the zoo and everything that needs a trained network
and its checkpoint never meets one), status completed, config {"method": "import", "name": "imported:
<file>", ...}, and in its folder the trainer's snapshot format (embeddings_0000.npz: features float32,
exactly as read, labels, index), import.npz (the metadata columns, the train/test split, the image paths)
and, when the rows name image files, images.npy (32-px thumbnails, so the entry keeps its images when the
files move). Rows of a named dataset (`dataset`) are its test split's images: row i is test image i, or
test image index[i] with an `index` column; the images, class names and factors come from there.

Train and test: a `split` column (train / test; val counts as test) when the file has one, else a
seeded stratified split (SPLIT_SEED, TEST_FRACTION of each class held out). The papers' protocol is
scored on it at import (the train rows are the kNN bank and the probe's labels, the test rows are
scored) and the label-efficiency experiment draws its labelled rows from the train rows.

Nothing in the store changes until the file is read and checked (NaN or infinite values, rows that do
not match the labels, metadata or the dataset, a non-numeric or inconsistent embedding, a file over the
size limit, checked before it is read): each gives one line naming the file (ImportFileError). The row
is created only after that, as "installing" while its files are written, then "completed"; a failure
while writing removes it.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np

from sslviz.core.files import atomic_write_bytes

from .import_readers import ImportFileError, read_file

KIND = "import"  # the store's kind column
METHOD = "import"  # the config's method
SPLIT_SEED = 0
TEST_FRACTION = 0.2
THUMB = 32  # pixels: the thumbnails kept of the rows' images
CLI_MAX_MB = 1024  # the command line's limit; the page uses the app's upload limit (settings.max_upload_mb)
LABEL_COLUMNS = ("label", "labels", "class", "y", "target", "category")
PATH_COLUMNS = ("path", "paths", "image_path", "filepath", "file", "filename", "file_name", "image")
TEST_NAMES = {"test", "val", "valid", "validation", "eval", "query"}
TRAIN_NAMES = {"train", "training"}
MAX_CATEGORIES = 40  # a text column with more distinct values is kept, but not offered as a colouring


def is_import(run: dict) -> bool:
    return run.get("kind") == KIND or (run.get("config") or {}).get("method") == METHOD


def entries(store) -> list[dict]:
    """Training runs and imported embeddings, newest first (what Compare and Label Efficiency list)."""
    return sorted(store.list() + store.list(KIND), key=lambda r: -r["created"])


def check_size(path: str | Path, name: str, max_bytes: int | None) -> None:
    """Refuse a file over the limit before anything reads it."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if max_bytes is not None and size > max_bytes:
        raise ImportFileError(f"{name}: {size / 2**20:,.0f} MB is over the import limit of {max_bytes / 2**20:,.0f} MB; "
                              "keep fewer rows or fewer dimensions (float16 halves it)")


def import_file(store, path: str | Path, *, name: str | None = None, file_name: str | None = None,
                labels: str | None = None, metadata: str | Path | None = None, metadata_name: str | None = None,
                dataset: str | None = None, paths: str | None = None, split: str | None = None,
                max_bytes: int | None = CLI_MAX_MB * 2**20, owner: str = "", allow_path=None,
                score: bool = True) -> str:
    """Read, check and store an embedding file; returns the new entry's id (see the module docstring).
    allow_path(path) -> bool limits which image files may be read (the web UI's data roots)."""
    path = Path(path)
    file_name = file_name or path.name
    check_size(path, file_name, max_bytes)
    if metadata is not None:
        check_size(metadata, metadata_name or Path(metadata).name, max_bytes)
    table = read_file(path, file_name, metadata, metadata_name, labels)
    feats = table.features.astype(np.float32)
    _check_finite(feats, table.features, file_name)
    n = len(feats)
    columns = table.columns
    by_position = bool(labels and labels.strip().lstrip("-").isdigit() and table.format == "npy")
    label_col = "label" if by_position else _pick(columns, labels, LABEL_COLUMNS, file_name, "labels")
    data = _dataset(dataset, columns, n, file_name) if dataset else None
    y, class_names = _labels(columns.get(label_col), label_col, file_name, data, n)
    index = data["index"] if data else np.arange(n, dtype=np.int64)
    path_col = _pick(columns, paths, PATH_COLUMNS, file_name, "paths", text_only=True)
    notes, images = [], None
    if path_col and not data:
        images, note = _thumbnails(columns[path_col], path.parent if allow_path is None else None, allow_path)
        notes.append(note)
    split_col = _pick(columns, split, ("split",), file_name, "split", text_only=True)
    is_test = _split(columns[split_col], split_col, file_name) if split_col else _seeded_split(y)
    split_note = (f"the column '{split_col}'" if split_col else
                  f"a seeded stratified split (seed {SPLIT_SEED}, {TEST_FRACTION:.0%} of each class held out)")
    summary = {"import": {"file": file_name, "format": table.format, "points": n, "dims": int(feats.shape[1]),
                          "labels": label_col, "paths": path_col, "dataset": dataset, "split": split_note,
                          "train": int((~is_test).sum()), "test": int(is_test.sum()),
                          "columns": [c for c in columns if c != label_col]}}
    if label_col is None:
        notes.append("no label column: every point is unlabelled (colour by a metadata column instead)")
    if score:
        papers = _papers(feats, y, is_test, class_names)
        if papers:
            summary["papers"] = {**papers, "on": f"the import's rows: {split_note}"}
    config = {"method": METHOD, "dataset": dataset or "imported", "linked_dataset": dataset, "seed": 0,
              "name": (name or "").strip() or f"imported: {file_name}", "owner": owner, "source_file": file_name,
              "class_names": class_names, "image_size": None, "data_root": None}
    blobs = _files(feats, y, index, columns, is_test, images)
    run_id = store.create(config, kind=KIND, status="installing")
    try:
        run_dir = store.run_dir(run_id)
        for fname, blob in blobs.items():
            atomic_write_bytes(run_dir / fname, blob)
        now = time.time()
        store.update(run_id, status="completed", progress=1.0, eta=0.0, started=now, ended=now, summary=summary,
                     message=f"imported {n:,} × {feats.shape[1]} from {file_name}"
                             + "".join(f"; {x}" for x in notes if x))
    except BaseException:
        store.delete(run_id)
        raise
    return run_id


# ---- checks -------------------------------------------------------------------------------------


def _check_finite(feats: np.ndarray, raw: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(feats).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        big = bool(np.isfinite(raw[first]).all())
        raise ImportFileError(f"{name}: {int(bad.sum()):,} of {len(feats):,} embeddings contain "
                              + ("values too large for float32" if big else "NaN or infinite values")
                              + f" (first: row {first + 1})")


def _pick(columns: dict, wanted: str | None, defaults: tuple, name: str, what: str, text_only: bool = False) -> str | None:
    if wanted:
        if wanted not in columns:
            raise ImportFileError(f"{name}: no {what} column '{wanted}' (columns: {', '.join(columns) or 'none'})")
        return wanted
    lower = {c.lower(): c for c in columns}
    for d in defaults:
        if d in lower and (not text_only or columns[lower[d]].dtype.kind in "US"):
            return lower[d]
    return None


def _labels(values, col: str | None, name: str, data, n: int) -> tuple[np.ndarray, list[str]]:
    """int64 labels (-1: unknown) and the class names (a linked dataset's when the file has no labels)."""
    if values is None:
        if data is not None:
            return data["labels"], data["class_names"]
        return np.full(n, -1, np.int64), []
    if values.dtype.kind in "iub" or (values.dtype.kind == "f" and np.all(np.isnan(values) | (values == np.round(values)))):
        v = np.where(np.isnan(values.astype(np.float64)), -1, values).astype(np.int64)
        v[v < 0] = -1
        names = data["class_names"] if data is not None and v.max(initial=-1) < len(data["class_names"]) else []
        return v, names
    if values.dtype.kind == "f":
        row = int(np.flatnonzero(values != np.round(values))[0])
        raise ImportFileError(f"{name}: labels column '{col}', row {row + 1}: {values[row]} is not a class "
                              "(use whole numbers or class names)")
    text = values.astype(str)
    names = sorted(set(text.tolist()) - {""})
    lookup = {c: i for i, c in enumerate(names)}
    return np.array([lookup.get(t, -1) for t in text.tolist()], np.int64), names


def _dataset(dataset: str, columns: dict, n: int, name: str) -> dict:
    """The test split of a named dataset that the rows are: index (positions), labels, class names."""
    from sslviz.core.errors import SslvizError

    from .embedding import dataset_for

    try:
        data = dataset_for({"dataset": dataset, "seed": 0})  # what the views load for the entry's images
    except SslvizError as exc:
        raise ImportFileError(f"{name}: dataset '{dataset}': {exc}") from None
    total = len(data.test)
    if "index" in columns:
        index = np.asarray(columns["index"])
        if index.dtype.kind not in "iu" or index.min(initial=0) < 0 or index.max(initial=0) >= total:
            raise ImportFileError(f"{name}: the 'index' column must hold positions in {dataset}'s test split "
                                  f"(0 to {total - 1:,})")
    elif n != total:
        raise ImportFileError(f"{name}: {n:,} rows, but the test split of {dataset} has {total:,} images; add an "
                              "'index' column (each row's position in the test split) or import one row per image")
    else:
        index = np.arange(n)
    return {"index": index.astype(np.int64), "labels": data.test.labels.numpy()[index].astype(np.int64),
            "class_names": [str(c) for c in data.class_names]}


def _split(values: np.ndarray, col: str, name: str) -> np.ndarray:
    text = np.char.lower(np.char.strip(values.astype(str)))
    test = np.isin(text, list(TEST_NAMES))
    bad = ~(test | np.isin(text, list(TRAIN_NAMES)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ImportFileError(f"{name}: split column '{col}', row {row + 1}: '{values[row]}' is neither train nor "
                              "test (val counts as test)")
    return test


def _seeded_split(y: np.ndarray) -> np.ndarray:
    """TEST_FRACTION of each class (at least one of a class with two or more rows) as the test rows."""
    rng = np.random.default_rng([SPLIT_SEED, 24])
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if c < 0 or len(rows) < 2:
            continue
        k = max(1, int(round(TEST_FRACTION * len(rows))))
        test[rng.permutation(rows)[:k]] = True
    return test


def _papers(feats, y, is_test, class_names) -> dict | None:
    from sslviz.evaluation.paper_protocol import paper_scores

    train, test = ~is_test & (y >= 0), is_test & (y >= 0)
    if len(np.unique(y[train])) < 2 or not test.any():
        return None
    k = int(max(y.max() + 1, len(class_names)))
    return paper_scores(feats[train], y[train], feats[test], y[test], k)


def _thumbnails(values: np.ndarray, base: Path | None, allow_path) -> tuple[np.ndarray | None, str]:
    """32-px images of the rows' files (black where a file is missing, unreadable or not allowed)."""
    from sslviz.data.decode import decode_files

    files, rows = [], []
    for i, p in enumerate(values.tolist()):
        p = Path(p).expanduser() if p else None
        if p is not None and not p.is_absolute() and base is not None:
            p = base / p
        if p is not None and p.is_absolute() and p.is_file() and (allow_path is None or allow_path(p)):
            files.append(str(p))
            rows.append(i)
    if not files:
        return None, f"none of the {len(values):,} image paths could be read here (no thumbnails)"
    imgs, grey, ok, _, _ = decode_files(files, THUMB, 89_478_485)
    out = np.zeros((len(values), 3, THUMB, THUMB), np.uint8)
    out[np.asarray(rows)[ok]] = imgs[ok]
    found = int(ok.sum())
    if grey[ok].all():
        out = out[:, :1]
    return out, "" if found == len(values) else f"{found:,} of {len(values):,} image paths read (the rest show black)"


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _files(feats, y, index, columns: dict, is_test, images) -> dict[str, bytes]:
    out = {"embeddings_0000.npz": _npz(features=feats, labels=y, index=index),
           "import.npz": _npz(is_test=is_test, **{f"col:{k}": v for k, v in columns.items()})}
    if images is not None:
        buf = io.BytesIO()
        np.save(buf, images)
        out["images.npy"] = buf.getvalue()
    return out


# ---- what the views read -------------------------------------------------------------------------


def _columns(run_dir: Path) -> tuple[dict, np.ndarray]:
    try:
        with np.load(Path(run_dir) / "import.npz", allow_pickle=False) as z:
            return {k[4:]: z[k] for k in z.files if k.startswith("col:")}, z["is_test"]
    except (OSError, KeyError, ValueError):
        return {}, np.zeros(0, bool)


def split_rows(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) of an import, in its file's order."""
    _, is_test = _columns(run_dir)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def factors(run_dir: Path, n: int) -> dict[str, np.ndarray]:
    """The metadata columns a map can be coloured by: numbers, and text with few distinct values."""
    cols, _ = _columns(run_dir)
    out = {}
    for k, v in cols.items():
        if len(v) == n and (v.dtype.kind in "iufb" or len(np.unique(v)) <= MAX_CATEGORIES):
            out[k] = v
    return out


def images(run_dir: Path, index: np.ndarray):
    """The thumbnails of an import's rows (uint8 tensor), or None when its file named no readable images."""
    import torch

    path = Path(run_dir) / "images.npy"
    if not path.exists():
        return None
    return torch.from_numpy(np.load(path, allow_pickle=False)[np.asarray(index)])


def sources(run: dict, run_dir: Path) -> list[str]:
    """The embeddings an import offers: its own, and raw pixels when it has images (no network: no untrained one)."""
    config = run.get("config") or {}
    has_images = bool(config.get("linked_dataset")) or (Path(run_dir) / "images.npy").exists()
    return ["run", "pixels"] if has_images else ["run"]


def describe(run: dict) -> str:
    """One line on where an import came from and how it is split (shown beside it on the pages)."""
    info = (run.get("summary") or {}).get("import") or {}
    if not info:
        return "an imported embedding"
    images = (f"images: {info['dataset']}'s test split" if info.get("dataset") else
              f"images: column '{info['paths']}'" if info.get("paths") else "no images")
    return (f"imported from {info['file']}: {info['points']:,} × {info['dims']}; labels: "
            f"{info.get('labels') or 'none'}; {images}; train/test {info['train']:,}/{info['test']:,} by "
            f"{info['split']}; "
            + (f"embedded by the imported {info['model'].get('arch')} (its checkpoint kept, no training curves)"
               if info.get("model") else "no network, so no checkpoints, training curves or untrained baseline"))
