"""A model made elsewhere embeds a dataset in the background worker and becomes an entry (issue 24, point 3).

    job_id = submit(store, "simclr.ckpt", dataset="digits", arch="auto", image_size=None)   # checked first
    # the worker: run_job(config, run_dir, report) -> the same row, now an entry of kind "import"

submit() reads the checkpoint at once (sslviz/embeddings/model_loading.py), so a refused file is one line
and nothing in the store changes; then it queues a worker job of type "import-model" (worker.JOB_TYPES,
analysis lane), copies the file into the job's folder (model.pt: the worker reads its own copy, never a
user's path) and starts it. The job embeds the dataset's train and test splits in chunks of CHUNK images
(chunks/train_0000.npz, ...: a cancelled, interrupted or failed job resumed with worker.resume continues
after its last whole chunk), reporting progress to the store and stopping at the next chunk when cancelled.

Images: the dataset loaded at min(size, its native size), each chunk resized (bilinear, antialiased) to
the image size (default: what the backbone wants, model_loading.default_size), greyscale repeated to three
channels, ImageNet's mean and std unless normalise="none". Features: the pooled backbone output.

When every chunk is there the job writes the entry the way an embedding import does
(sslviz/embeddings/imported.py): rows = the train split then the test split, embeddings_0000.npz,
import.npz (is_test from the dataset's own split, a `split` column and the dataset's factors as metadata
columns), images.npy (32-px thumbnails), the papers' kNN and linear probe (train split as the bank, test
split scored: comparable with the zoo's figures on the same data), and the row's kind becomes "import":
from then on the Embeddings, Compare and Label Efficiency pages list it like an imported embedding.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from .model_loading import DEFAULT_SIZE, ModelFileError, default_size, load_backbone

JOB_TYPE = "import-model"
CHUNK = 256
MODEL_FILE = "model.pt"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision's weights expect
NORMALISE = ("imagenet", "none")


def submit(store, path: str | Path, dataset: str, *, arch: str = "auto", image_size: int | None = None,
           normalise: str = "imagenet", name: str | None = None, file_name: str | None = None, owner: str = "",
           data_root: str | None = None, start: bool = True) -> str:
    """Check the model file and the choices, queue the embedding job; returns its id (see the docstring)."""
    from sslviz.core.errors import SslvizError
    from sslviz.data import canonical_name
    from sslviz.data.registry import lookup
    from sslviz.training import worker

    path = Path(path)
    file_name = file_name or path.name
    backbone = load_backbone(path, file_name, arch)
    if normalise not in NORMALISE:
        raise ModelFileError(f"{file_name}: normalise '{normalise}' is not one of {', '.join(NORMALISE)}")
    try:
        dataset = canonical_name(dataset)
    except SslvizError as exc:
        raise ModelFileError(f"{file_name}: dataset: {str(exc).splitlines()[0]}") from None
    entry = lookup(dataset)
    native = entry.native_size if entry is not None else None
    size = int(image_size or default_size(backbone.info, native))
    if not 8 <= size <= 512:
        raise ModelFileError(f"{file_name}: image size {size} is outside 8-512 px")
    info = backbone.info
    config = {"method": "import", "name": (name or "").strip() or f"model: {file_name} on {dataset}",
              "dataset": dataset, "linked_dataset": None, "data_root": data_root, "seed": 0, "owner": owner,
              "source_file": file_name, "model_file": MODEL_FILE, "arch": info["arch"], "layout": info["layout"],
              "stem": info["stem"], "embed_size": size, "native_size": native, "normalise": normalise,
              "image_size": None, "class_names": []}
    job_id = worker.submit_job(JOB_TYPE, config, store, start=False)
    try:
        shutil.copyfile(path, store.run_dir(job_id) / MODEL_FILE)
    except OSError as exc:
        store.delete(job_id)
        raise ModelFileError(f"{file_name}: cannot be copied into the store ({exc.strerror or exc})") from None
    if start:
        worker.schedule(store)
    return job_id


def run_job(config: dict, run_dir: Path, report) -> dict:
    """The worker's entry point for "import-model": embed, chunk by chunk, then become an entry."""
    from sslviz.data import load_dataset

    run_dir = Path(run_dir)
    size = int(config["embed_size"])
    report.progress(0.0, None, f"loading {config['source_file']} and {config['dataset']}")
    backbone = load_backbone(run_dir / config["model_file"], config["source_file"], config["arch"])
    native = config.get("native_size")
    data = load_dataset(config["dataset"], image_size=min(size, native) if native else size,
                        data_root=config.get("data_root"), seed=int(config.get("seed", 0)))
    splits = {"train": data.train.images, "test": data.test.images}
    total = sum(len(v) for v in splits.values())
    done, started, done_at_start = 0, time.monotonic(), None
    chunks = run_dir / "chunks"
    chunks.mkdir(exist_ok=True)
    feats = {}
    for split, images in splits.items():
        parts = []
        for c, lo in enumerate(range(0, len(images), CHUNK)):
            hi = min(lo + CHUNK, len(images))
            path = chunks / f"{split}_{c:04d}.npz"
            part = _read_chunk(path, hi - lo, size)
            if part is None:
                if report.should_stop():
                    return {"stopped_by": "user", "embedded": done, "of": total}
                done_at_start = done if done_at_start is None else done_at_start
                part = embed(backbone.module, images[lo:hi], size, config.get("normalise", "imagenet"))
                _write_chunk(path, part, size)
            parts.append(part)
            done += hi - lo
            rate = (done - (done_at_start or 0)) / max(time.monotonic() - started, 1e-6)
            eta = (total - done) / rate if done_at_start is not None and rate > 0 else None
            report.progress(0.95 * done / total, eta, f"embedded {done:,} of {total:,} images at {size} px")
        feats[split] = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
    report.progress(0.96, None, "scoring with the papers' protocol and writing the entry")
    summary = _write_entry(config, run_dir, data, feats)
    from sslviz.training.runs import RunStore

    store = RunStore(run_dir.parent)
    store.set_config(run_dir.name, {**config, "class_names": [str(c) for c in data.class_names]})
    store.update(run_dir.name, kind="import")  # from now on an entry the pages list (status set by the worker)
    return summary


def embed(module, images, size: int, normalise: str = "imagenet") -> np.ndarray:
    """Features (float32 N × D) of uint8 images N×C×H×W: resized, three channels, normalised, pooled."""
    import torch
    import torch.nn.functional as F

    x = images.float().div_(255)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if normalise == "imagenet":
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        out = module(x.contiguous())
    from .model_loading import _pooled

    return _pooled(out).float().numpy().astype(np.float32)


def _read_chunk(path: Path, n: int, size: int) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            feats = z["features"]
            if len(feats) == n and int(z["size"]) == size:
                return feats
    except (OSError, KeyError, ValueError, EOFError):
        pass
    return None


def _write_chunk(path: Path, feats: np.ndarray, size: int) -> None:
    from sslviz.core.files import atomic_write_bytes

    from .imported import _npz

    atomic_write_bytes(path, _npz(features=feats, size=np.int64(size)))


def _write_entry(config: dict, run_dir: Path, data, feats: dict) -> dict:
    """The entry's files (imported.py's format) and its summary."""
    import torch
    import torch.nn.functional as F

    from sslviz.core.files import atomic_write_bytes

    from .imported import THUMB, _check_finite, _files, _papers

    x = np.concatenate([feats["train"], feats["test"]])
    name = config["source_file"]
    _check_finite(x, x, name)
    n_train, n_test = len(feats["train"]), len(feats["test"])
    y = np.concatenate([data.train.labels.numpy(), data.test.labels.numpy()]).astype(np.int64)
    is_test = np.r_[np.zeros(n_train, bool), np.ones(n_test, bool)]
    columns = {"split": np.where(is_test, "test", "train")}
    for key in set(data.train.factors or {}) & set(data.test.factors or {}):
        a, b = np.asarray(data.train.factors[key]), np.asarray(data.test.factors[key])
        if len(a) == n_train and len(b) == n_test and a.dtype.kind in "iufbUS":
            columns[key] = np.concatenate([a, b])
    thumbs = []
    for part in (data.train.images, data.test.images):
        for lo in range(0, len(part), 4096):
            t = part[lo:lo + 4096]
            if t.shape[-1] != THUMB:
                t = F.interpolate(t.float(), size=(THUMB, THUMB), mode="bilinear", antialias=True).round().clamp(0, 255)
            thumbs.append(t.to(torch.uint8).numpy())
    class_names = [str(c) for c in data.class_names]
    split_note = f"{config['dataset']}'s own train/test split"
    summary = {"import": {"file": name, "format": f"model ({config['arch']}, {config['layout']} keys)",
                          "points": len(x), "dims": int(x.shape[1]), "labels": "the dataset's",
                          "paths": None, "dataset": None, "split": split_note, "train": n_train, "test": n_test,
                          "columns": list(columns), "model": {k: config.get(k) for k in (
                              "arch", "layout", "stem", "embed_size", "normalise")},
                          "embedded_dataset": config["dataset"]}}
    papers = _papers(x, y, is_test, class_names)
    if papers:
        summary["papers"] = {**papers, "on": f"{split_note}: the whole train split as the bank, the whole test split"}
    for fname, blob in _files(x, y, np.arange(len(x), dtype=np.int64), columns, is_test,
                              np.concatenate(thumbs)).items():
        atomic_write_bytes(run_dir / fname, blob)
    return summary


def describe(run: dict) -> str:
    """One line on where a model import came from (the pages show it beside the entry)."""
    config = run.get("config") or {}
    info = (run.get("summary") or {}).get("import") or {}
    sizes = f"{info['points']:,} × {info['dims']}, train/test {info['train']:,}/{info['test']:,}" if info else "embedding"
    return (f"model {config.get('source_file')} ({config.get('arch')}, {config.get('layout')} keys, "
            f"{config.get('stem')} stem) on {config.get('dataset')} at {config.get('embed_size')} px: {sizes}")


__all__ = ["submit", "run_job", "embed", "describe", "JOB_TYPE", "CHUNK", "DEFAULT_SIZE"]
