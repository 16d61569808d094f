"""Datasets by name: every registered dataset (registry.py: one entry each) becomes one in-memory ImageSet.

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

import os
import threading
from collections import OrderedDict

from sslviz.core.errors import DataError

from .registry import (CHANNELS, FOLDER_PREFIX, KINDS, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, DataKind, Dataset,
                       check_image_size, entries, kind_of, lookup, register, unregister)
from .registry import known as _known

__all__ = ["CHANNELS", "FOLDER_PREFIX", "KINDS", "MAX_IMAGE_SIZE", "MIN_IMAGE_SIZE", "DataKind", "Dataset",
           "canonical_name", "clear_cache", "dataset_names", "entries", "kind_of", "list_datasets", "load_dataset",
           "lookup", "register", "unregister"]

MEMORY_CACHE_SIZE = 4

_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def dataset_names() -> list[str]:
    """The names load_dataset knows, besides folder:PATH."""
    return [entry.name for entry in entries()]


def list_datasets() -> list[dict]:
    """One dict per name: name, description, channels, num_classes, needs_files, has_factors."""
    return [dict(name=e.name, description=e.description, channels=e.channels, num_classes=e.num_classes,
                 needs_files=e.needs_files, has_factors=e.has_factors) for e in entries()]


def canonical_name(name: str) -> str:
    """The registry's spelling of a dataset name (case, '_' and aliases forgiven); folder: names as given."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"dataset name must be a non-empty string, got {name!r}; known: {_known()}")
    stripped = name.strip()
    if stripped.lower().startswith(FOLDER_PREFIX):
        return FOLDER_PREFIX + stripped[len(FOLDER_PREFIX):]
    entry = lookup(stripped)
    if entry is None:
        raise DataError(f"unknown dataset {name!r}; known: {_known()}")
    return entry.name


def _is_int(value) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def load_dataset(name: str, image_size: int = 32, data_root: str | None = None, seed: int = 0,
                 download: bool = True, cache_dir: str | None = None):
    """Load a dataset by name as an ImageSet, resized once to image_size×image_size.

    name:       one of dataset_names(), or "folder:PATH"
    image_size: working size in pixels (MIN_IMAGE_SIZE..MAX_IMAGE_SIZE, 4..512); antialiased resize at load
    data_root:  where torchvision's files are (default <run store>/datasets)
    seed:       fixes generated data (shapes) and stratified splits (digits, folders)
    download:   let torchvision download missing files
    cache_dir:  where folder: sets cache their decoded arrays (default paths.cache_dir())
    Raises DataError with a one-line message on any failure a user can fix.
    """
    canonical = canonical_name(name)
    image_size = check_image_size(canonical, image_size)
    if not _is_int(seed) or seed < 0:
        raise DataError(f"{canonical}: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)

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
    return lookup(name).loader(name, image_size, seed, data_root, download)


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
