"""What a label-efficiency experiment evaluates: its subjects (runs and baselines), the data they
share, and their frozen features.

`Inputs(cfg, store)` checks everything a user can get wrong before any work starts, each with a
one-line SslvizError: a run that does not exist, is not a training run, or has no checkpoint yet;
runs on different datasets (a paired comparison needs one); a dataset without labels or with a
single class (with the folder-per-class layout to fix it). It fills in what the runs imply
(dataset, image size, backbone, the seed that fixes the dataset's split) and collects notes a
reader should see (budgets clipped to what a class has, subsampled pools).

The data: the training split is the pool the labelled images are drawn from (at most `pool_max`
of them, a fixed subset), the test split is what every protocol is scored on (at most
`test_max`). Features of a run are extracted once per checkpoint and cached in its folder
(`labeleff_features_<key>.npz`, float16, keyed by the checkpoint's size and time and the pool and
test indices), so a second experiment on the same run starts at once.

Baselines: `pixels` (the flattened image), `pca` (64 components fitted on the pool's pixels),
`random-init` (the runs' backbone with the random weights of seed `data_seed`, untrained) and
`supervised` (that same untrained backbone, trained on the labelled images: protocol "scratch").

Imported embeddings (sslviz/embeddings/imported.py) are evaluated on their own rows: the import's train
rows are the pool, its test rows the test set, the features are the file's; no baselines (`_from_imports`).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sslviz.core.errors import ConfigError, DataError, SslvizError
from sslviz.evaluation.fewshot_stats import clip_notes, effective_per_class, stratified_draw

BASELINES = ("pixels", "pca", "random-init", "supervised")
BASELINE_LABELS = {"pixels": "raw pixels", "pca": "PCA of pixels", "random-init": "untrained network",
                   "supervised": "supervised from scratch"}
SCRATCH = "scratch"  # the protocol of the supervised baseline: the fine-tune recipe from random weights
FEATURE_PROTOCOLS = ("knn", "linear", "self-training")
PCA_COMPONENTS = 64
IMPORT = "import"  # an imported embedding's kind and method (sslviz/embeddings/imported.py)
NO_LABELS_HELP = ("evaluation needs labels. Put the images in one folder per class (photos/cat/*.jpg, "
                  "photos/dog/*.jpg, ...) and load the dataset as folder:photos")


@dataclass(eq=False)  # hashed by identity: cells are keyed by their subject
class Subject:
    """One row group of the results: a trained run, or a baseline."""

    key: str  # run id, or the baseline's name
    method: str
    run_id: str | None
    label: str
    image_size: int
    run_config: object = None  # the run's RunConfig (None for baselines)
    checkpoint: Path | None = None

    @property
    def protocols(self) -> tuple[str, ...]:
        if self.method == "supervised" and self.run_id is None:
            return (SCRATCH,)
        if self.method == IMPORT:  # features only: no network to fine-tune
            return FEATURE_PROTOCOLS
        return FEATURE_PROTOCOLS + ("finetune",)

    def skip_reason(self, protocol: str) -> str | None:
        """Why this subject cannot use a protocol it nominally has (None: it can)."""
        if protocol == "finetune" and self.method in ("pixels", "pca"):
            return f"{self.label}: fine-tuning needs a network; {self.method} has none"
        if protocol == "finetune" and self.run_id is None and self.method == "random-init":
            return "untrained network + finetune is the supervised-from-scratch baseline ('supervised')"
        return None


def _checked_runs(cfg, store) -> list[tuple[dict, object, Path]]:
    from sslviz.training.config import RunConfig

    out = []
    for run_id in cfg.runs:
        run = store.get(run_id)  # RunStoreError: no such run
        if run["kind"] != "train":
            raise ConfigError(f"run '{run_id}': is a {run['kind']} job, not a trained run")
        ckpt = store.run_dir(run_id) / "checkpoint.pt"
        if not ckpt.exists():
            state = {"queued": "it is still queued", "running": "it has not finished its first epoch"}.get(
                run["status"], f"it is {run['status']}")
            raise SslvizError(f"run '{run_id}': has no checkpoint yet ({state}); there is nothing to evaluate")
        out.append((run, RunConfig.from_dict(run["config"]), ckpt))
    return out


class Inputs:
    """The subjects, data, draws and features of one experiment, each loaded once."""

    def __init__(self, cfg, store):
        self.cfg, self.store = cfg, store
        self.notes: list[str] = []
        self.subjects: list[Subject] = []
        self._features: dict = {}
        self._backbones: dict = {}
        if any(store.get(r)["kind"] == IMPORT for r in cfg.runs):
            self._from_imports()
            return
        runs = _checked_runs(cfg, store)
        self._fill_from_runs(runs)
        self._load_data()
        for run, rc, ckpt in runs:
            self.subjects.append(Subject(run["id"], rc.method, run["id"], run["name"] or run["id"], rc.image_size,
                                         rc, ckpt))
        for b in cfg.baselines:
            self.subjects.append(Subject(b, b, None, BASELINE_LABELS[b], cfg.image_size))

    def _fill_from_runs(self, runs) -> None:
        from sslviz.data import canonical_name

        cfg = self.cfg
        if runs:
            first = runs[0][1]
            names = {canonical_name(rc.dataset) for _, rc, _ in runs}
            if len(names) > 1:
                listing = ", ".join(f"{r['id']} on {rc.dataset}" for r, rc, _ in runs)
                raise ConfigError(f"runs: a paired comparison needs one dataset, got {listing}")
            if cfg.dataset and canonical_name(cfg.dataset) not in names:
                raise ConfigError(f"dataset: '{cfg.dataset}' differs from the runs' dataset '{first.dataset}'")
            cfg.dataset = first.dataset
            cfg.image_size = cfg.image_size or first.image_size
            cfg.backbone = cfg.backbone or first.backbone
            cfg.data_root = cfg.data_root if cfg.data_root is not None else first.data_root
            if len({rc.data_root for _, rc, _ in runs}) > 1:
                self.notes.append(f"the runs read the dataset from different folders; using {cfg.data_root}")
            if cfg.data_seed is None:
                cfg.data_seed = first.seed
            seeds = {rc.seed for _, rc, _ in runs}
            if len(seeds) > 1:
                self.notes.append(f"the runs were trained with different seeds ({sorted(seeds)}); all are scored on "
                                  f"the split of seed {cfg.data_seed}, so a few test images may have been in another "
                                  "run's (unlabelled) training images")
        if cfg.image_size is None and cfg.dataset:  # baselines only: the recipe's working size for the data
            from sslviz.training.config import RunConfig
            from sslviz.training.recipes import resolve

            cfg.image_size = resolve(RunConfig(method="random-init", dataset=cfg.dataset, data_root=cfg.data_root,
                                               seed=cfg.data_seed or 0)).image_size
        cfg.image_size = cfg.image_size or 32
        cfg.backbone = cfg.backbone or "small-cnn"
        cfg.data_seed = cfg.data_seed or 0

    def _load_data(self) -> None:
        from sslviz.data import load_dataset
        from sslviz.methods.models import pick_device

        cfg = self.cfg
        self.device = pick_device(cfg.device)
        self.data = load_dataset(cfg.dataset, image_size=cfg.image_size, data_root=cfg.data_root, seed=cfg.data_seed)
        train_y, test_y = self.data.train.labels.numpy(), self.data.test.labels.numpy()
        classes = np.unique(train_y[train_y >= 0])
        if len(classes) == 0 or (test_y >= 0).sum() == 0:
            raise DataError(f"dataset {cfg.dataset}: has no labels; {NO_LABELS_HELP}")
        if len(classes) < 2:
            only = self.data.class_names[int(classes[0])] if self.data.class_names else classes[0]
            raise DataError(f"dataset {cfg.dataset}: has a single class ('{only}'), so there is nothing to "
                            f"tell apart; {NO_LABELS_HELP}")
        rng = np.random.default_rng([cfg.data_seed, 1])
        pool = np.arange(len(train_y))
        if len(pool) > cfg.pool_max:
            pool = np.sort(rng.permutation(pool)[: cfg.pool_max])
            self.notes.append(f"the training split has {len(train_y):,} images; a fixed random {cfg.pool_max:,} of "
                              "them are the pool the labelled images are drawn from")
        test = np.flatnonzero(test_y >= 0)
        if len(test) > cfg.test_max:
            n_test = len(test)
            test = np.sort(rng.permutation(test)[: cfg.test_max])
            self.notes.append(f"a fixed random {cfg.test_max:,} of the {n_test:,} test images are scored")
        self.pool_idx, self.test_idx = pool, test
        self.pool_y, self.test_y = train_y[pool], test_y[test]
        self.num_classes = self.data.num_classes
        self.class_names = list(self.data.class_names)
        self.notes += clip_notes(self.pool_y, cfg.labels_per_class, self.class_names)

    def _from_imports(self) -> None:
        """Imported embeddings bring features, labels and a train/test split of their own rows, but no
        images and no network: the pool is the import's train rows, the test set its test rows (its
        'split' column, else the seeded split made at import), and the baselines are left out."""
        from sslviz.embeddings.embedding import load_snapshot
        from sslviz.embeddings.imported import split_rows
        from sslviz.evaluation.protocols import standardise

        cfg, store = self.cfg, self.store
        runs = [store.get(r) for r in cfg.runs]
        others = [r["id"] for r in runs if r["kind"] != IMPORT]
        if others:
            raise ConfigError(f"runs: {', '.join(others)} and imported embeddings cannot share an experiment: an import "
                              "is scored on its own rows, a trained run on its dataset's; evaluate them separately")
        loaded = []
        for r in runs:
            feats, labels, _ = load_snapshot(store.run_dir(r["id"]), 0)
            loaded.append((r, feats, labels, *split_rows(store.run_dir(r["id"]))))
        first, _, y, train, test = loaded[0]
        for r, _, y2, train2, _ in loaded[1:]:
            if not (np.array_equal(y, y2) and np.array_equal(train, train2)):
                raise ConfigError(f"runs: {first['id']} and {r['id']} are imports of different rows (labels or split "
                                  "differ); a paired comparison needs the same rows")
        if cfg.baselines:
            self.notes.append(f"baselines ({', '.join(cfg.baselines)}) left out: they need the images and a network, "
                              "which an imported embedding does not bring")
            cfg.baselines = []
        train, test = train[y[train] >= 0], test[y[test] >= 0]
        if len(np.unique(y[train])) < 2 or not len(test):
            raise DataError(f"{first['name'] or first['id']}: needs labelled train rows of two classes or more and "
                            "labelled test rows (a 'split' column, or the 80/20 split made at import)")
        rng = np.random.default_rng([0, 1])
        if len(train) > cfg.pool_max:
            train = np.sort(rng.permutation(train)[: cfg.pool_max])
            self.notes.append(f"a fixed random {cfg.pool_max:,} of the import's train rows are the pool")
        if len(test) > cfg.test_max:
            test = np.sort(rng.permutation(test)[: cfg.test_max])
            self.notes.append(f"a fixed random {cfg.test_max:,} of the import's test rows are scored")
        cfg.dataset, cfg.data_seed, cfg.backbone = first["config"].get("dataset") or IMPORT, 0, "none"
        self.device, self.data = "cpu", None
        self.pool_idx, self.test_idx, self.pool_y, self.test_y = train, test, y[train], y[test]
        self.num_classes = int(y.max()) + 1
        names = list(first["config"].get("class_names") or [])
        self.class_names = names if len(names) >= self.num_classes else [str(i) for i in range(self.num_classes)]
        self.notes.append(f"imported embeddings: the pool is the import's {len(train):,} labelled train rows, the test "
                          f"set its {len(test):,} labelled test rows ({(first['summary'].get('import') or {}).get('split')})")
        self.notes += clip_notes(self.pool_y, cfg.labels_per_class, self.class_names)
        for r, feats, *_ in loaded:
            subject = Subject(r["id"], IMPORT, r["id"], r["name"] or r["id"], 0)
            self.subjects.append(subject)
            pool_s, test_s = standardise(feats[train], feats[test])
            self._features[subject.key] = {"pool": feats[train], "test": feats[test], "pool_std": pool_s,
                                           "test_std": test_s}

    # ---- draws ---------------------------------------------------------------------------------
    def draw(self, budget, seed: int) -> np.ndarray:
        """Positions in the pool of the labelled images of (budget, seed): the same for every subject."""
        return stratified_draw(self.pool_y, budget, seed)

    def effective(self, budget) -> float:
        return effective_per_class(self.pool_y, budget)

    def unlabelled(self, labelled: np.ndarray, seed: int, max_n: int) -> np.ndarray:
        """A seeded random part of the pool outside `labelled` (self-training's unlabelled images)."""
        rest = np.setdiff1d(np.arange(len(self.pool_idx)), labelled)
        return np.sort(rest[np.random.default_rng([int(seed), 11]).permutation(len(rest))[:max_n]])

    # ---- images and networks -------------------------------------------------------------------
    def images(self, image_size: int):
        """(pool images, test images) uint8 at a size; the split must be the same as at the base size."""
        from sslviz.data import load_dataset

        cfg = self.cfg
        data = self.data if image_size == cfg.image_size else load_dataset(
            cfg.dataset, image_size=image_size, data_root=cfg.data_root, seed=cfg.data_seed)
        if not np.array_equal(data.train.labels.numpy()[self.pool_idx], self.pool_y):
            raise DataError(f"{cfg.dataset}: the split differs at image size {image_size}; evaluate runs of one size")
        return data.train.images[self.pool_idx], data.test.images[self.test_idx]

    def method(self, subject: Subject):
        """The subject's method with its weights (a run's checkpoint; fresh weights for baselines)."""
        import torch

        from sslviz.training.config import RunConfig
        from sslviz.training.train import build_method, load_checkpoint

        if subject.run_id is not None:
            method = build_method(subject.run_config, self.data, self.device)
            try:
                method.load_state_dict(load_checkpoint(subject.checkpoint, self.device)["model"])
            except Exception as exc:  # a truncated, foreign or mismatched checkpoint
                raise SslvizError(f"run '{subject.run_id}': cannot load its checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:160]})") from None
            return method.eval()
        rc = RunConfig(method="random-init" if subject.method == "supervised" else subject.method,
                       dataset=self.cfg.dataset, backbone=self.cfg.backbone, image_size=self.cfg.image_size,
                       seed=self.cfg.data_seed, device="cpu")
        torch.manual_seed(self.cfg.data_seed)  # the untrained network is the same in every experiment
        method = build_method(rc, self.data, self.device)
        if subject.method == "pca":
            method.hp["components"] = PCA_COMPONENTS
            method.prepare(self.images(self.cfg.image_size)[0].to(self.device))
        return method.eval()

    def backbone(self, subject: Subject):
        if subject.key not in self._backbones:
            self._backbones[subject.key] = self.method(subject).backbone
        return self._backbones[subject.key]

    # ---- features ------------------------------------------------------------------------------
    def _cache_path(self, subject: Subject) -> Path | None:
        if subject.run_id is None:
            return None
        st = subject.checkpoint.stat()
        key = json.dumps([self.cfg.dataset, subject.image_size, self.cfg.data_root, self.cfg.data_seed,
                          st.st_mtime_ns, st.st_size, hashlib.sha1(self.pool_idx.tobytes()).hexdigest(),
                          hashlib.sha1(self.test_idx.tobytes()).hexdigest()])
        return subject.checkpoint.parent / f"labeleff_features_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def features(self, subject: Subject) -> dict:
        """{'pool', 'test': features; 'pool_std', 'test_std': standardised with the pool's statistics}."""
        if subject.key in self._features:
            return self._features[subject.key]
        import torch

        from sslviz.evaluation.protocols import extract_features, standardise

        cache = self._cache_path(subject)
        pool_f = test_f = None
        if cache is not None and cache.exists():
            try:
                with np.load(cache) as z:
                    pool_f, test_f = z["pool"].astype(np.float32), z["test"].astype(np.float32)
            except Exception:  # a damaged cache is rebuilt
                pool_f = test_f = None
        if pool_f is None:
            method = self.method(subject)
            self._backbones.setdefault(subject.key, method.backbone)
            pool_x, test_x = self.images(subject.image_size)
            with torch.no_grad():
                pool_f = extract_features(method.embed, pool_x, self.device).numpy()
                test_f = extract_features(method.embed, test_x, self.device).numpy()
            half = _half_safe(pool_f) and _half_safe(test_f)
            if half:  # the numbers a cached copy gives, so a second experiment reproduces the first
                pool_f = pool_f.astype(np.float16).astype(np.float32)
                test_f = test_f.astype(np.float16).astype(np.float32)
            if cache is not None and half:
                from sslviz.core.files import atomic_write_bytes

                buf = io.BytesIO()
                np.savez(buf, pool=pool_f.astype(np.float16), test=test_f.astype(np.float16))
                try:
                    atomic_write_bytes(cache, buf.getvalue())
                except OSError:
                    pass  # a read-only run folder: no cache, same numbers
        if not (np.isfinite(pool_f).all() and np.isfinite(test_f).all()):
            raise SslvizError(f"{subject.label}: its features contain NaN or infinite values (a diverged run); "
                              "evaluate an earlier checkpoint or retrain with a lower lr")
        pool_s, test_s = standardise(pool_f, test_f)
        self._features[subject.key] = {"pool": pool_f, "test": test_f, "pool_std": pool_s, "test_std": test_s}
        return self._features[subject.key]


def _half_safe(x: np.ndarray) -> bool:
    """Can float16 hold these features (finite, below 60,000)?"""
    return bool(np.isfinite(x).all() and np.abs(x).max(initial=0) < 6e4)
