"""MNIST, Fashion-MNIST, CIFAR-10, SVHN and STL-10: torchvision's datasets, on disk or downloaded.

Files live where torchvision puts them under `data_root` (default: <run store>/datasets), so a
folder that torchvision already filled works as it is:

  mnist          <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte
  fashion-mnist  <root>/FashionMNIST/raw/ (same four names)
  cifar10        <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
  svhn           <root>/{train,test}_32x32.mat
  stl10          <root>/stl10_binary/{train,test}_{X,y}.bin (+ class_names.txt)

What is read how, and why:
- MNIST and Fashion-MNIST are read by torchvision.datasets.MNIST / FashionMNIST themselves
  (they check only that the files exist). If the raw folder holds only the .gz files (an
  interrupted download), the IDX files are read here directly.
- CIFAR-10, SVHN and STL-10 are *downloaded* by torchvision (which checks the archive's MD5), but
  *read* here, with the same layout and the same decoding as torchvision: torchvision's loaders
  re-check every file's MD5 at every load (STL-10's includes the 2.4 GB unlabeled file, which we
  do not use), which makes each load slow and makes it impossible to test them on small generated
  files. CIFAR-10's pickles are read with an unpickler that accepts nothing but numpy arrays.
- Official train/test splits everywhere (STL-10: the labelled 5,000 / 8,000; no unlabeled part).

Special case, for benchmarks: if `data_root` for `mnist` directly holds t10k-images-idx3-ubyte(.gz)
and t10k-labels-idx1-ubyte(.gz) (and no torchvision layout), those 10,000 images are the whole
set, split stratified 8,000/2,000 from the seed; report["note"] says so. If it directly holds all
four MNIST files, they are used with the official split.

When the files are missing and downloading is off or fails (this machine may be offline),
DataError says which files were looked for in which folder.
"""

from __future__ import annotations

import gzip
import importlib
import os
import pickle
from pathlib import Path

import numpy as np

from sslviz.core.errors import DataError

DIGIT_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_NAMES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
SVHN_FILES = ["train_32x32.mat", "test_32x32.mat"]
STL10_FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]


# ---------------------------------------------------------------------------------------------
# Small readers of the on-disk formats


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def _find(folder: Path, name: str, gz: bool = True) -> Path | None:
    """folder/name, or folder/name.gz when allowed; None when neither is a file."""
    for candidate in (folder / name, folder / (name + ".gz")) if gz else (folder / name,):
        if candidate.is_file():
            return candidate
    return None


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format; gzipped when the name ends in .gz) as a numpy array."""
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
        if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
            raise ValueError("not an IDX file (bad magic number)")
        ndim = data[3]
        shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        dtype = np.dtype(_IDX_DTYPES[data[2]])
        offset = 4 + 4 * ndim
        count = int(np.prod(shape)) if shape else 0
        if len(data) < offset + count * dtype.itemsize:
            raise ValueError(f"truncated: header says {shape}, file has {len(data)} bytes")
        return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
    except (OSError, ValueError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read {path}: {_one_line(e)}") from None


def _idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_path} and {labels_path} do not match: images {images.shape}, labels {labels.shape}")
    return images.astype(np.uint8, copy=False), labels.astype(np.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches: dicts, lists, strings and numpy arrays, nothing else (no code)."""

    _ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 stores bytes
            return super().find_class(module, name)
        if module.split(".")[0] == "numpy" and name in self._ALLOWED:
            if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
                module = "numpy._core" + module[len("numpy.core"):]
            return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _read_cifar_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        raise DataError(f"cannot read {path}: {_one_line(e)}") from None


# ---------------------------------------------------------------------------------------------
# Download through torchvision, with errors as one line


def _torchvision():
    import torchvision

    return torchvision


def _missing(folder: Path, names: list[str], gz: bool = False) -> list[str]:
    return [n for n in names if _find(folder, n, gz) is None]


def _download(name: str, make, folder: Path, files: list[str], download: bool) -> None:
    """Run torchvision's download (make()); raise DataError naming the files when that is not possible."""
    looked = f"{name}: dataset files not found under {folder} (looked for {', '.join(files)})"
    if not download:
        raise DataError(f"{looked}; downloading is off (download=False), so put the files there "
                        "(this machine may be offline)")
    try:
        make()
    except Exception as e:  # noqa: BLE001 - torchvision raises URLError, RuntimeError, OSError, ...
        reason = _one_line(e)
        raise DataError(f"{looked}, and downloading them failed - the machine may be offline ({reason})") from None


def _split_set(name, class_names, train_x, train_y, test_x, test_y, image_size, report):
    """An ImageSet from official train and test arrays (uint8 N×C×H×W numpy or torch)."""
    import torch

    from .split import make_imageset, resize_images

    images = resize_images(torch.cat([torch.as_tensor(train_x), torch.as_tensor(test_x)]), image_size)
    labels = np.concatenate([np.asarray(train_y, np.int64), np.asarray(test_y, np.int64)])
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DataError(f"{name}: labels outside 0..{len(class_names) - 1} in {report.get('source', 'the files')}")
    n_train = len(train_y)
    report = {"split": "official train/test", **report}
    return make_imageset(name, class_names, images, labels, np.arange(n_train), np.arange(n_train, len(labels)),
                         report=report)


# ---------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST


def _load_mnist_family(name: str, root: Path, image_size: int, seed: int, download: bool):
    tv_name, class_names = {"mnist": ("MNIST", DIGIT_NAMES), "fashion-mnist": ("FashionMNIST", FASHION_NAMES)}[name]
    raw = root / tv_name / "raw"

    if name == "mnist" and _missing(raw, MNIST_FILES, gz=True):
        direct = _mnist_in_root(root, image_size, seed)
        if direct is not None:
            return direct

    if _missing(raw, MNIST_FILES, gz=True):
        def fetch():
            cls = getattr(_torchvision().datasets, tv_name)
            for train in (True, False):
                cls(str(root), train=train, download=True)

        _download(name, fetch, raw, MNIST_FILES, download)
        still = _missing(raw, MNIST_FILES, gz=True)
        if still:
            raise DataError(f"{name}: after the download, {raw} still lacks {', '.join(still)}")

    report = {"source": str(raw)}
    if not _missing(raw, MNIST_FILES, gz=False):
        import torchvision

        cls = getattr(torchvision.datasets, tv_name)
        try:
            train, test = cls(str(root), train=True), cls(str(root), train=False)
            arrays = train.data, train.targets, test.data, test.targets
        except Exception as e:  # noqa: BLE001 - torchvision raises bare assertions/ValueErrors on bad files
            raise DataError(f"{name}: cannot read the IDX files in {raw}: {_one_line(e)}") from None
        train_x, train_y, test_x, test_y = arrays
    else:  # only (some) gzipped files: read them here
        paths = [_find(raw, f) for f in MNIST_FILES]
        train_x, train_y = _idx_pair(paths[0], paths[1])
        test_x, test_y = _idx_pair(paths[2], paths[3])
    return _split_set(name, class_names, train_x[:, None], train_y, test_x[:, None], test_y, image_size, report)


def _mnist_in_root(root: Path, image_size: int, seed: int):
    """MNIST IDX files lying directly in root: all four (official split) or only t10k (benchmarks)."""
    from .split import make_imageset, resize_images, stratified_split

    paths = [_find(root, f) for f in MNIST_FILES]
    if all(paths):
        train_x, train_y = _idx_pair(paths[0], paths[1])
        test_x, test_y = _idx_pair(paths[2], paths[3])
        return _split_set("mnist", DIGIT_NAMES, train_x[:, None], train_y, test_x[:, None], test_y, image_size,
                          {"source": str(root)})
    if paths[2] and paths[3]:
        import torch

        images, labels = _idx_pair(paths[2], paths[3])
        if len(labels) and (labels.min() < 0 or labels.max() > 9):
            raise DataError(f"mnist: labels outside 0..9 in {paths[3]}")
        images = resize_images(torch.from_numpy(images).unsqueeze(1), image_size)
        train_idx, test_idx = stratified_split(labels, 0.2, seed)
        note = (f"only the MNIST test files (t10k, {len(labels):,} images) were found in {root}; they are the whole "
                f"set here, split stratified {len(train_idx):,}/{len(test_idx):,} from seed {seed}")
        return make_imageset("mnist", DIGIT_NAMES, images, labels, train_idx, test_idx,
                             report={"source": str(root), "split": "stratified from t10k", "note": note})
    return None


# ---------------------------------------------------------------------------------------------
# CIFAR-10, SVHN, STL-10: torchvision downloads, we read


def _load_cifar10(root: Path, image_size: int, download: bool):
    folder = root / "cifar-10-batches-py"
    if _missing(folder, CIFAR10_FILES):
        _download("cifar10", lambda: _torchvision().datasets.CIFAR10(str(root), train=True, download=True), folder,
                  CIFAR10_FILES, download)
        still = _missing(folder, CIFAR10_FILES)
        if still:
            raise DataError(f"cifar10: after the download, {folder} still lacks {', '.join(still)}")

    def batch(fname):
        path = folder / fname
        entry = _read_cifar_pickle(path)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(entry["labels"], dtype=np.int64)
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(f"cannot read {path}: not a CIFAR-10 batch ({_one_line(e)})") from None
        if len(data) != len(labels):
            raise DataError(f"cannot read {path}: {len(data)} images but {len(labels)} labels")
        return data, labels

    parts = [batch(f) for f in CIFAR10_FILES[:5]]
    train_x, train_y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    test_x, test_y = batch("test_batch")
    names = CIFAR10_NAMES
    if (folder / "batches.meta").is_file():
        meta = _read_cifar_pickle(folder / "batches.meta")
        if isinstance(meta, dict) and len(meta.get("label_names", [])) == 10:
            names = [str(n) for n in meta["label_names"]]
    return _split_set("cifar10", names, train_x, train_y, test_x, test_y, image_size, {"source": str(folder)})


def _load_svhn(root: Path, image_size: int, download: bool):
    if _missing(root, SVHN_FILES):
        def fetch():
            for split in ("train", "test"):
                _torchvision().datasets.SVHN(str(root), split=split, download=True)

        _download("svhn", fetch, root, SVHN_FILES, download)

    def read(fname):
        import scipy.io

        path = root / fname
        try:
            mat = scipy.io.loadmat(str(path))
            # 32×32×3×N -> N×3×32×32, the same transpose as torchvision's SVHN
            x = np.transpose(np.asarray(mat["X"], dtype=np.uint8), (3, 2, 0, 1))
            y = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
        except Exception as e:  # noqa: BLE001 - scipy raises many kinds on a bad .mat
            raise DataError(f"cannot read {path}: {_one_line(e)}") from None
        if len(x) != len(y):
            raise DataError(f"cannot read {path}: {len(x)} images but {len(y)} labels")
        y[y == 10] = 0  # SVHN labels the digit 0 as 10
        return x, y

    train_x, train_y = read("train_32x32.mat")
    test_x, test_y = read("test_32x32.mat")
    return _split_set("svhn", DIGIT_NAMES, train_x, train_y, test_x, test_y, image_size, {"source": str(root)})


def _load_stl10(root: Path, image_size: int, download: bool):
    folder = root / "stl10_binary"
    if _missing(folder, STL10_FILES):
        _download("stl10", lambda: _torchvision().datasets.STL10(str(root), split="train", download=True), folder,
                  STL10_FILES, download)

    def read(x_name, y_name):
        x_path, y_path = folder / x_name, folder / y_name
        try:
            raw = np.fromfile(x_path, dtype=np.uint8)
            labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1  # 1-based on disk
        except OSError as e:
            raise DataError(f"cannot read {x_path}: {_one_line(e)}") from None
        if raw.size % (3 * 96 * 96) or raw.size // (3 * 96 * 96) != len(labels):
            raise DataError(f"cannot read {x_path}: {raw.size} bytes is not {len(labels)} images of 3×96×96 "
                            f"(as {y_path} says)")
        # stored column-major per channel, like torchvision's reader: N×3×96×96, then swap H and W
        return raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2), labels

    train_x, train_y = read("train_X.bin", "train_y.bin")
    test_x, test_y = read("test_X.bin", "test_y.bin")
    names = STL10_NAMES
    names_file = folder / "class_names.txt"
    if names_file.is_file():
        lines = [line.strip() for line in names_file.read_text(errors="replace").splitlines() if line.strip()]
        if len(lines) == 10:
            names = lines
    return _split_set("stl10", names, train_x, train_y, test_x, test_y, image_size, {"source": str(folder)})


def load_torchvision_set(name: str, image_size: int = 32, data_root: str | os.PathLike | None = None, seed: int = 0,
                         download: bool = True):
    """Load one of mnist, fashion-mnist, cifar10, svhn, stl10 as an ImageSet."""
    if data_root is None:
        from sslviz.core.paths import home

        root = home() / "datasets"
    else:
        root = Path(data_root).expanduser()
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise DataError(f"{name}: data_root {root} is not a folder")
    if name in ("mnist", "fashion-mnist"):
        return _load_mnist_family(name, root, image_size, seed, download)
    if name == "cifar10":
        return _load_cifar10(root, image_size, download)
    if name == "svhn":
        return _load_svhn(root, image_size, download)
    if name == "stl10":
        return _load_stl10(root, image_size, download)
    raise DataError(f"{name}: not a torchvision dataset known to sslviz")
