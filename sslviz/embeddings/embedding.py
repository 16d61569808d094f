"""A run's embedding at a checkpoint, the `pixels` / `random-init` baselines on the same images,
and the images, labels and factors behind every point.

The trainer saves `embeddings_<epoch>.npz` snapshots of a fixed subset of the test split (keys:
features float16 N×D, labels, index = positions in the test split), every `snapshot_every`
epochs including epoch 0, the untrained network. This module turns them into `Embedding`
objects and raises one-line errors (subclasses of SslvizError) for everything a user can run
into: no embeddings yet, a failed run, NaN embeddings, a single class, too few points.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sslviz.core.errors import SslvizError


class EmbeddingError(SslvizError):
    """An embedding cannot be shown as asked."""


class NoEmbeddings(EmbeddingError):
    """The run has not saved an embedding snapshot (yet)."""


class RunFailed(EmbeddingError):
    """The run failed before it saved any embedding."""


class NonFiniteEmbedding(EmbeddingError):
    """NaN or infinite values: a diverged or collapsed run."""


class CollapsedEmbedding(EmbeddingError):
    """Every image maps to (almost) the same point."""


class SingleClass(EmbeddingError):
    """Only one class among the points: label-based scores are undefined."""


class TooFewPoints(EmbeddingError):
    """Fewer points than the projection or clustering needs."""


SOURCES = {
    "run": "the run's network at the chosen checkpoint",
    "pixels": "raw pixels of the same images (flattened): the baseline every method is compared with, "
              "hard to beat with a kNN",
    "random-init": "the same network before training (random weights): what training added is the "
                   "difference (with the kNN monitor it scores at or below raw pixels)",
}
_SNAPSHOT = re.compile(r"embeddings_(\d+)\.npz$")


@dataclass
class Embedding:
    """features[i] is the embedding of test image index[i], whose class is labels[i]."""

    features: np.ndarray  # float32 n × D
    labels: np.ndarray  # int64 n (-1: unknown)
    index: np.ndarray  # int64 n: positions in the dataset's test split
    source: str  # run | pixels | random-init
    run_id: str
    epoch: int | None  # None for the pixels baseline
    config: dict = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    run_dir: str = ""  # the entry's folder (an imported embedding keeps its thumbnails and metadata there)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def dims(self) -> int:
        return int(self.features.shape[1])

    @property
    def title(self) -> str:
        if self.source == "pixels":
            return f"raw pixels ({self.config.get('dataset', '')} test images)"
        if self.source == "random-init":
            return f"untrained {self.config.get('backbone', 'network')} (random init)"
        if self.config.get("method") == "import":  # sslviz/embeddings/imported.py
            return str(self.config.get("name") or self.run_id)
        return f"{self.run_id} · epoch {self.epoch}"

    def class_name(self, label: int) -> str:
        if 0 <= label < len(self.class_names):
            return str(self.class_names[label])
        return "unlabelled" if label < 0 else str(label)

    def label_names(self) -> list[str]:
        return [self.class_name(int(v)) for v in self.labels]


# ---- snapshots --------------------------------------------------------------------------------


def snapshot_epochs(run_dir: str | Path) -> list[int]:
    """Epochs with a saved embedding snapshot, ascending."""
    try:
        names = [p.name for p in Path(run_dir).iterdir()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _SNAPSHOT.match(n)))


def snapshot_path(run_dir: str | Path, epoch: int) -> Path:
    return Path(run_dir) / f"embeddings_{int(epoch):04d}.npz"


def load_snapshot(run_dir: str | Path, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features float32, labels int64, index int64) of one snapshot file."""
    path = snapshot_path(run_dir, epoch)
    try:
        with np.load(path, allow_pickle=False) as z:
            feats = z["features"].astype(np.float32)
            labels = z["labels"].astype(np.int64)
            index = z["index"].astype(np.int64) if "index" in z.files else np.arange(len(labels))
    except FileNotFoundError:
        raise NoEmbeddings(f"{path.name}: no embedding snapshot for epoch {epoch}") from None
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise EmbeddingError(f"{path.name}: unreadable embedding snapshot ({exc})") from None
    if feats.ndim != 2 or len(feats) != len(labels):
        raise EmbeddingError(f"{path.name}: features {feats.shape} and labels {labels.shape} do not match")
    return feats, labels, index


def check_embedding(features: np.ndarray, what: str = "this embedding") -> None:
    """Raise NonFiniteEmbedding / CollapsedEmbedding / TooFewPoints for an unusable embedding."""
    if len(features) == 0:
        raise TooFewPoints(f"{what} has no points")
    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise NonFiniteEmbedding(
            f"{what}: {int(bad.sum()):,} of {len(features):,} embeddings contain NaN or infinite values — "
            "the run diverged or collapsed here; pick an earlier epoch"
        )
    spread = float(np.abs(features - features.mean(0)).max()) if len(features) > 1 else 1.0
    scale = float(np.abs(features).max()) or 1.0
    if len(features) > 1 and spread <= 1e-6 * scale:
        raise CollapsedEmbedding(
            f"{what}: all {len(features):,} images map to the same point — the representation collapsed"
        )


def run_embedding(store, run_id: str, epoch: int | None = None) -> Embedding:
    """The run's embedding at `epoch` (default: the latest snapshot)."""
    run = store.get(run_id)
    run_dir = store.run_dir(run_id)
    epochs = snapshot_epochs(run_dir)
    if not epochs:
        if run["status"] == "failed":
            raise RunFailed(f"run {run_id} failed before saving any embedding: {run['message'] or 'no message'}")
        if run["status"] == "installing":
            raise NoEmbeddings(f"run {run_id} is being installed: its embeddings are written in a few seconds")
        if run["status"] in ("queued", "running"):
            raise NoEmbeddings(
                f"run {run_id} has no embeddings yet: the first snapshot is saved when the untrained network "
                "has been scored (a few seconds after the run starts)"
            )
        raise NoEmbeddings(f"run {run_id} ({run['status']}) saved no embeddings")
    if epoch is None:
        epoch = epochs[-1]
    if epoch not in epochs:
        raise NoEmbeddings(f"run {run_id}: no snapshot at epoch {epoch}; saved epochs: {_epoch_list(epochs)}")
    feats, labels, index = load_snapshot(run_dir, epoch)
    check_embedding(feats, f"run {run_id} at epoch {epoch}")
    config = run["config"]
    return Embedding(feats, labels, index, "run", run_id, int(epoch), config, class_names_for(config), str(run_dir))


def _epoch_list(epochs: list[int]) -> str:
    return ", ".join(map(str, epochs)) if len(epochs) <= 12 else f"{epochs[0]}…{epochs[-1]} ({len(epochs)} snapshots)"


def run_note(run: dict) -> str:
    """A warning to show beside a failed / interrupted run's embeddings ('' when all is well)."""
    if run["status"] == "failed":
        return f"This run failed ({run['message']}); its embeddings are the snapshots it saved before that."
    if run["status"] == "interrupted":
        return "This run was interrupted; its embeddings are the snapshots it saved before that."
    return ""


# ---- datasets, images and factors -------------------------------------------------------------

_datasets: OrderedDict = OrderedDict()
_datasets_lock = threading.Lock()


def dataset_for(config: dict):
    """The run's ImageSet as it trained on it (its validation split as the test split when it held one
    out), kept in memory for the last few datasets asked for."""
    from sslviz.data import load_dataset
    from sslviz.data.imageset import validation_split
    from sslviz.training.recipes import DEFAULT_IMAGE_SIZE

    size = int(config.get("image_size") or DEFAULT_IMAGE_SIZE)  # a run's stored config has the recipe's
    key = (config.get("dataset", "shapes"), size, config.get("data_root"), int(config.get("seed", 0)),
           config.get("holdout", "test"))
    with _datasets_lock:
        if key in _datasets:
            _datasets.move_to_end(key)
            return _datasets[key]
    data = load_dataset(key[0], image_size=key[1], data_root=key[2], seed=key[3])
    if key[4] == "validation":
        data = validation_split(data, key[3])
    with _datasets_lock:
        _datasets[key] = data
        while len(_datasets) > 3:
            _datasets.popitem(last=False)
    return data


def class_names_for(config: dict) -> list[str]:
    """Class names of the run's dataset; [] when the dataset cannot be loaded (labels then show as numbers).
    An imported embedding keeps its own (sslviz/embeddings/imported.py)."""
    if config.get("method") == "import":
        return list(config.get("class_names") or [])
    try:
        return list(dataset_for(config).class_names)
    except Exception:
        return []


def images_for(emb: Embedding):
    """uint8 tensor n × C × H × W: the test images behind the points, in embedding order."""
    import torch

    if emb.config.get("method") == "import" and not emb.config.get("linked_dataset"):
        from .imported import images

        found = images(emb.run_dir, emb.index) if emb.run_dir else None
        if found is None:
            raise EmbeddingError(f"{emb.config.get('source_file', emb.run_id)}: no images: the file named no readable "
                                 "image paths and no dataset (import it with a paths column or --dataset for thumbnails)")
        return found
    data = dataset_for(emb.config)
    index = torch.as_tensor(emb.index, dtype=torch.long)
    if len(index) and int(index.max()) >= len(data.test):
        raise EmbeddingError(
            f"the snapshot points at test image {int(index.max())} but {emb.config.get('dataset')} has "
            f"{len(data.test)}: the dataset changed since the run"
        )
    return data.test.images[index]


def factors_for(emb: Embedding) -> dict[str, np.ndarray]:
    """Ground-truth factors (shapes: shape, colour, size, x, y, rotation, background) per point; {} if none.
    An imported embedding's metadata columns are its factors (sslviz/embeddings/imported.py)."""
    out = {}
    if emb.config.get("method") == "import":
        from .imported import factors

        out = factors(emb.run_dir, len(emb)) if emb.run_dir else {}
        if not emb.config.get("linked_dataset"):
            return out
    try:
        data = dataset_for(emb.config)
    except Exception:
        return out
    for name, values in (data.test.factors or {}).items():
        values = np.asarray(values)
        if len(values) == len(data.test):
            out[name] = values[emb.index]
    return out


# ---- baselines ----------------------------------------------------------------------------------


def pixels_embedding(store, run_id: str) -> Embedding:
    """Raw pixels (flattened, in [0, 1]) of the images the run's snapshots hold."""
    run = store.get(run_id)
    base = _reference_snapshot(store, run_id, run)
    emb = Embedding(np.empty((0, 0), np.float32), base[1], base[2], "pixels", run_id, None, run["config"],
                    class_names_for(run["config"]), str(store.run_dir(run_id)))
    images = images_for(emb)
    emb.features = images.flatten(1).float().div_(255).numpy()
    check_embedding(emb.features, "the raw-pixel baseline")
    return emb


def random_init_embedding(store, run_id: str) -> Embedding:
    """The run's network before training on the same images.

    That is the epoch-0 snapshot when the run saved one (the trainer seeds the same way); otherwise
    the backbone is rebuilt from the config's seed, the images embedded once, and the result kept
    in the run directory (baseline_random-init.npz).
    """
    run = store.get(run_id)
    run_dir = store.run_dir(run_id)
    config = run["config"]
    if config.get("method") == "import":
        raise EmbeddingError(f"{run.get('name') or run_id}: an imported embedding comes without its network, so it "
                             "has no untrained network to compare with (raw pixels work when it has images)")
    names = class_names_for(config)
    if 0 in snapshot_epochs(run_dir):
        feats, labels, index = load_snapshot(run_dir, 0)
        check_embedding(feats, "the untrained network")
        return Embedding(feats, labels, index, "random-init", run_id, 0, config, names)
    _, labels, index = _reference_snapshot(store, run_id, run)
    cached = run_dir / "baseline_random-init.npz"
    try:
        with np.load(cached, allow_pickle=False) as z:
            if np.array_equal(z["index"], index):
                return Embedding(z["features"].astype(np.float32), labels, index, "random-init", run_id, 0, config, names)
    except (OSError, KeyError, ValueError, EOFError):
        pass
    import torch

    from sslviz.evaluation.protocols import extract_features
    from sslviz.training.config import RunConfig
    from sslviz.training.train import build_method

    cfg = RunConfig.from_dict(config)
    data = dataset_for(config)
    torch.manual_seed(cfg.seed)
    method = build_method(cfg, data, torch.device("cpu"))
    method.eval()
    emb = Embedding(np.empty((0, 0), np.float32), labels, index, "random-init", run_id, 0, config, names)
    emb.features = extract_features(method.embed, images_for(emb), "cpu").numpy().astype(np.float32)
    check_embedding(emb.features, "the untrained network")
    try:
        from sslviz.core.files import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, features=emb.features.astype(np.float16), labels=labels, index=index)
        atomic_write_bytes(cached, buf.getvalue())
    except OSError:
        pass
    return emb


def _reference_snapshot(store, run_id: str, run: dict):
    """Any snapshot of the run (for its labels and image positions); a clear error when there is none."""
    epochs = snapshot_epochs(store.run_dir(run_id))
    if not epochs:
        run_embedding(store, run_id)  # raises the right error (failed / not yet / none)
    return load_snapshot(store.run_dir(run_id), epochs[-1])


def load_embedding_at(root: str, run_id: str, source: str = "run", epoch: int | None = None) -> Embedding:
    """load_embedding for the compute child (a store given by its folder, which pickles)."""
    from sslviz.training.runs import RunStore

    return load_embedding(RunStore(root), run_id, source, epoch)


def load_embedding(store, run_id: str, source: str = "run", epoch: int | None = None) -> Embedding:
    """One entry point: a run's embedding at an epoch, or one of its baselines."""
    if source == "run":
        return run_embedding(store, run_id, epoch)
    if source == "pixels":
        return pixels_embedding(store, run_id)
    if source == "random-init":
        return random_init_embedding(store, run_id)
    raise EmbeddingError(f"source: unknown '{source}'; choose one of {', '.join(SOURCES)}")


def runs_with_embeddings(store, imports: bool = False) -> list[dict]:
    """Training runs that saved at least one snapshot (newest first), each with its 'epochs'; with
    imports=True also the imported embeddings (sslviz/embeddings/imported.py), by when they came."""
    runs = store.list()
    if imports:
        runs = sorted(runs + store.list("import"), key=lambda r: -r["created"])
    out = []
    for run in runs:
        epochs = snapshot_epochs(store.run_dir(run["id"]))
        if epochs:
            out.append({**run, "epochs": epochs})
    return out


def labelled_classes(labels: np.ndarray) -> int:
    return int(len(np.unique(labels[labels >= 0])))


def require_classes(labels: np.ndarray, what: str = "NMI and ARI against the labels") -> None:
    """Raise SingleClass when fewer than two labelled classes are present."""
    k = labelled_classes(labels)
    if k < 2:
        raise SingleClass(
            f"only {'one class' if k == 1 else 'unlabelled points'} here: {what} need at least two classes"
        )
