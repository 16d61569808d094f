"""The dataset registry: every dataset, by name, becomes one in-memory ImageSet.

    load_dataset("shapes")                     generated from the seed, no files
    load_dataset("digits", image_size=16)      scikit-learn's 8×8 digits, bundled
    load_dataset("cifar10", data_root="~/data") torchvision's files, downloaded when allowed
    load_dataset("folder:/path/to/photos")     a user's class subfolders

Importing this package is cheap on purpose (no torch, torchvision or PIL): the Streamlit pages,
the CLI and the folder loader's worker processes import it, and only the loader that is used
pulls in its libraries. Loaded sets are kept in a small in-process LRU cache keyed by all the
arguments, so asking twice (a page rerun, the trainer and the evaluator) costs nothing; the
same object is returned, and callers must not mutate it. `folder:` sets are cached by the
folder loader itself, keyed by the folder's contents, so a changed folder is never served stale.
"""

from __future__ import annotations

import numbers
import os
import threading
from collections import OrderedDict

from sslviz.core.errors import DataError

FOLDER_PREFIX = "folder:"
MEMORY_CACHE_SIZE = 4

# name: (description, channels, num_classes, needs_files, has_factors)
_REGISTRY = {
    "shapes": ("synthetic shapes with known colour, size, position, rotation and background (generated, 10,000)",
               3, 8, False, True),
    "digits": ("scikit-learn's handwritten digits, 8×8 grey upsampled (bundled, 1,797)", 1, 10, False, False),
    "mnist-10k": ("MNIST's 10,000 test digits, 28×28 grey (bundled, CC BY-SA 3.0; split 8,000 / 2,000)",
                  1, 10, False, False),
    "mnist": ("handwritten digits, 28×28 grey (torchvision; 60,000 + 10,000)", 1, 10, True, False),
    "fashion-mnist": ("Zalando clothing photos, 28×28 grey (torchvision; 60,000 + 10,000)", 1, 10, True, False),
    "cifar10": ("small colour photos of 10 object classes, 32×32 (torchvision; 50,000 + 10,000)", 3, 10, True, False),
    "svhn": ("house numbers from Street View, 32×32 colour (torchvision; 73,257 + 26,032)", 3, 10, True, False),
    "stl10": ("colour photos, 96×96, labelled part only (torchvision; 5,000 + 8,000)", 3, 10, True, False),
}

_ALIASES = {"mnist10k": "mnist-10k", "mnist_10k": "mnist-10k", "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar_10": "cifar10", "stl-10": "stl10", "stl_10": "stl10"}

_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def dataset_names() -> list[str]:
    """The names load_dataset knows, besides folder:PATH."""
    return list(_REGISTRY)


def list_datasets() -> list[dict]:
    """One dict per name: name, description, channels, num_classes, needs_files, has_factors."""
    return [dict(name=name, description=d, channels=c, num_classes=k, needs_files=f, has_factors=h)
            for name, (d, c, k, f, h) in _REGISTRY.items()]


def canonical_name(name: str) -> str:
    """The registry's spelling of a dataset name (case, '_' and aliases forgiven); folder: names as given."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"dataset name must be a non-empty string, got {name!r}; known: {_known()}")
    stripped = name.strip()
    if stripped.lower().startswith(FOLDER_PREFIX):
        return FOLDER_PREFIX + stripped[len(FOLDER_PREFIX):]
    key = stripped.lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known: {_known()}")
    return key


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _known() -> str:
    return ", ".join(_REGISTRY) + ", or folder:PATH"


def load_dataset(name: str, image_size: int = 32, data_root: str | None = None, seed: int = 0,
                 download: bool = True, cache_dir: str | None = None):
    """Load a dataset by name as an ImageSet, resized once to image_size×image_size.

    name:       one of dataset_names(), or "folder:PATH"
    image_size: working size in pixels (4..512); antialiased resize at load
    data_root:  where torchvision's files are (default <run store>/datasets)
    seed:       fixes generated data (shapes) and stratified splits (digits, folders)
    download:   let torchvision download missing files
    cache_dir:  where folder: sets cache their decoded arrays (default paths.cache_dir())
    Raises DataError with a one-line message on any failure a user can fix.
    """
    canonical = canonical_name(name)
    if not _is_int(image_size) or not 4 <= image_size <= 512:
        raise DataError(f"{canonical}: image_size must be an integer from 4 to 512, got {image_size!r}")
    if not _is_int(seed) or seed < 0:
        raise DataError(f"{canonical}: seed must be a non-negative integer, got {seed!r}")
    image_size, seed = int(image_size), int(seed)

    if canonical.startswith(FOLDER_PREFIX):  # cached by the folder loader, keyed by the folder's contents
        from .folder import load_folder

        return load_folder(canonical, image_size=image_size, seed=seed, cache_dir=cache_dir)

    root = os.fspath(data_root) if data_root is not None else None
    key = (canonical, image_size, root, seed, bool(download), os.fspath(cache_dir) if cache_dir else None)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    imageset = _load_uncached(canonical, image_size, root, seed, download)
    with _cache_lock:
        _cache[key] = imageset
        while len(_cache) > MEMORY_CACHE_SIZE:
            _cache.popitem(last=False)
    return imageset


def _load_uncached(name: str, image_size: int, data_root, seed: int, download: bool):
    if name == "shapes":
        from .shapes import load_shapes

        return load_shapes(image_size=image_size, seed=seed)
    if name == "digits":
        from .digits import load_digits_set

        return load_digits_set(image_size=image_size, seed=seed)
    if name == "mnist-10k":
        from .mnist_bundled import load_mnist_10k

        return load_mnist_10k(image_size=image_size, seed=seed)
    from .torchvision_sets import load_torchvision_set

    return load_torchvision_set(name, image_size=image_size, data_root=data_root, seed=seed, download=download)


def clear_cache() -> None:
    """Forget the in-process caches (the folder loader's .npz files on disk stay)."""
    from .folder import clear_memory_cache

    with _cache_lock:
        _cache.clear()
    clear_memory_cache()


def __getattr__(attr):  # ImageSet and Split without importing torch at package import
    if attr in ("ImageSet", "Split"):
        from . import imageset

        return getattr(imageset, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
