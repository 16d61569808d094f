"""`folder:PATH`: a user's own images, one subfolder per class (or train/ and test/ of them).

Layouts:
  PATH/<class>/**/<image>                    split stratified 80/20 from the seed
  PATH/train/<class>/..., PATH/test/<class>/...  the user's own split (classes: the union)

Any mix of PNG, JPEG, BMP, GIF (first frame), WebP and TIFF in any mode: palette, 16-bit grey,
CMYK, with or without alpha (composited over white). The set is grey (1 channel) when every image
is grey, RGB otherwise. Each image is resized so that its shorter side is `image_size` and
centre-cropped to a square (antialiased bilinear), once, at load. JPEG EXIF rotation is applied.

Files that cannot be used are skipped and counted, never fatal: report["skipped"] (int) and
report["skipped_files"] (the first 20 as {"path", "reason"}): non-image files, corrupt or
truncated images, and images over PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS; the size
is checked from the header, before anything is decoded). Dotfiles (.DS_Store) are ignored.
A folder with no readable image, a missing path or a file instead of a folder raise DataError.
What loads but will disappoint is named in report["warnings"] (one line each): a single class,
classes of one image (a folder per image, not per class?), classes dropped for having no readable image.

Why it is fast: a folder of 60,000 small JPEGs must load in seconds, not minutes, so decoding
runs in a process pool over chunks of files (forkserver: safe to start from Streamlit's threads;
the workers import numpy and PIL only), JPEGs are decoded at reduced size (Image.draft: the DCT
is scaled down before the pixels exist), and the result is cached as one .npz in the cache folder,
keyed by (resolved path, every file's relative path, size and mtime, image_size): loading the same
folder again only lists it and reads one array. Any change to the folder makes a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from sslviz.core.errors import DataError

from .decode import decode_files

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
CACHE_VERSION = 1
MAX_REPORTED_SKIPS = 20
MEMORY_CACHE_SIZE = 2

_memo: OrderedDict = OrderedDict()
_memo_lock = threading.Lock()



# ---------------------------------------------------------------------------------------------
# Listing


def _scan(root: Path, spec: str):
    """List the folder. Returns (layout, class_names, files, skipped).

    files: sorted list of (relative path, class index, is_test, size, mtime_ns);
    skipped: list of (relative path, reason) for files that are clearly not images.
    """
    train, test = root / "train", root / "test"
    if train.is_dir() and test.is_dir():
        layout, parts = "train/test folders", [(train, False), (test, True)]
    else:
        layout, parts = "class folders", [(root, False)]
    class_dirs = {}
    skipped = []
    for base, _ in parts:
        with os.scandir(base) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    class_dirs.setdefault(entry.name, None)
                else:
                    skipped.append((os.path.relpath(entry.path, root), "not inside a class subfolder"))
    class_names = sorted(class_dirs)
    if not class_names:
        raise DataError(f"{spec}: no class subfolders in {root} (expected {root}/<class>/<images>, or "
                        f"train/<class>/ and test/<class>/)")
    files = []
    for base, is_test in parts:
        base_rel = "" if base == root else base.name + "/"
        for label, cls in enumerate(class_names):
            if (base / cls).is_dir():
                _walk(str(base / cls), f"{base_rel}{cls}/", label, is_test, files, skipped, set())
    return layout, class_names, files, skipped


def _walk(folder: str, rel: str, label: int, is_test: bool, files: list, skipped: list, seen: set) -> None:
    """Append (relative path, label, is_test, size, mtime_ns) for the image files under folder, in name order.

    Follows symbolic links to folders, but never into a folder it is already inside or has listed.
    """
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        skipped.append((rel.rstrip("/"), f"cannot list: {e.strerror or e}"))
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        try:
            if entry.is_dir():
                _walk(entry.path, f"{rel}{name}/", label, is_test, files, skipped, seen)
                continue
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                skipped.append((rel + name, "not an image file (by its extension)"))
                continue
            st = entry.stat()
        except OSError as e:
            skipped.append((rel + name, f"cannot read: {e.strerror or e}"))
            continue
        files.append((rel + name, label, is_test, st.st_size, st.st_mtime_ns))


def _cache_key(root: Path, image_size: int, max_pixels: int, class_names, files, skipped) -> str:
    """'<folder and size>-<contents>': the first part names the cache files that a new one replaces."""
    where = hashlib.sha256(json.dumps([str(root), int(image_size)]).encode()).hexdigest()[:12]
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, str(root), int(image_size), int(max_pixels), class_names, skipped]).encode())
    for rel, cls, is_test, size, mtime in files:
        h.update(f"\0{rel}\0{cls}\0{int(is_test)}\0{size}\0{mtime}".encode("utf-8", "surrogateescape"))
    return f"{where}-{h.hexdigest()[:24]}"


# ---------------------------------------------------------------------------------------------
# Cache


def _read_cache(path: Path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {"images": z["images"], "labels": z["labels"], "is_test": z["is_test"],
                    "class_names": [str(c) for c in z["class_names"]], "info": json.loads(str(z["info"]))}
    except Exception:  # noqa: BLE001 - a broken cache file is rebuilt, never fatal
        return None


def _write_cache(path: Path, arrays: dict) -> str | None:
    """Write atomically (temp file + rename) and delete this folder's older cache files (same
    folder and image_size, other contents). Returns None, or why it could not be written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, images=arrays["images"], labels=arrays["labels"], is_test=arrays["is_test"],
                     class_names=np.array(arrays["class_names"], dtype=str), info=np.array(json.dumps(arrays["info"])))
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return e.strerror or str(e)
    prefix = path.name.split("-")[0] + "-"
    for old in path.parent.glob(prefix + "*.npz"):
        if old != path:
            try:
                old.unlink()
            except OSError:
                pass
    return None


# ---------------------------------------------------------------------------------------------
# The loader


def _build(root: Path, spec: str, image_size: int, layout, class_names, files, listed_skips, max_pixels):
    paths = [str(root / rel) for rel, *_ in files]
    images, grey, ok, errors, cpu = decode_files(paths, image_size, max_pixels)
    skipped = list(listed_skips) + [(files[i][0], r) for i, r in sorted(errors.items())]
    if not ok.any():
        example = f"; e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise DataError(f"{spec}: no readable image in {root} ({len(skipped)} files skipped{example})")
    keep = np.flatnonzero(ok)
    labels = np.array([files[i][1] for i in keep], np.int64)
    is_test = np.array([files[i][2] for i in keep], bool)
    images = images[keep]
    all_grey = bool(grey[keep].all())
    images = np.ascontiguousarray(images[:, :1] if all_grey else images)
    # drop classes without any readable image, keeping the order of the rest
    present = np.unique(labels)
    present_set = set(present.tolist())
    empty = [c for i, c in enumerate(class_names) if i not in present_set]
    remap = np.full(len(class_names), -1, np.int64)
    remap[present] = np.arange(len(present))
    labels = remap[labels]
    info = {"layout": layout, "skipped": len(skipped),
            "skipped_files": [{"path": p, "reason": r} for p, r in skipped[:MAX_REPORTED_SKIPS]],
            "empty_classes": empty, "grey": all_grey}
    return {"images": images, "labels": labels, "is_test": is_test,
            "class_names": [class_names[i] for i in present], "info": info, "decode_cpu_seconds": round(cpu, 3)}


def load_folder(spec: str, image_size: int = 32, seed: int = 0, cache_dir: str | os.PathLike | None = None,
                max_pixels: int | None = None):
    """Load `folder:PATH` (spec is the whole name, or just the path) as an ImageSet."""
    import time

    t0 = time.perf_counter()
    path = spec[len("folder:"):] if spec.startswith("folder:") else spec
    spec = f"folder:{path}"
    if not path.strip():
        raise DataError("folder: no path given (use folder:/path/to/images)")
    root = Path(path.strip()).expanduser()
    if not root.exists():
        raise DataError(f"{spec}: no such folder ({root.absolute()})")
    if not root.is_dir():
        raise DataError(f"{spec}: {root.absolute()} is a file, not a folder of class subfolders")
    root = root.resolve()
    if max_pixels is None:
        from PIL import Image

        max_pixels = int(Image.MAX_IMAGE_PIXELS or 0)
    try:
        layout, class_names, files, listed_skips = _scan(root, spec)
    except PermissionError as e:
        raise DataError(f"{spec}: cannot read {e.filename or root}: permission denied") from None
    key = _cache_key(root, image_size, max_pixels, class_names, files, listed_skips)
    with _memo_lock:
        hit = _memo.get((key, seed))
        if hit is not None:
            _memo.move_to_end((key, seed))
            return hit

    if cache_dir is None:
        from sslviz.core.paths import cache_dir as default_cache_dir

        cache_dir = default_cache_dir()
    cache_file = Path(cache_dir) / "folders" / f"{key}.npz"
    arrays = _read_cache(cache_file) if cache_file.is_file() else None
    from_cache = arrays is not None
    cache_note = None
    if arrays is None:
        if not files:
            example = f"; e.g. {listed_skips[0][0]}: {listed_skips[0][1]}" if listed_skips else ""
            raise DataError(f"{spec}: no image files in {root} ({len(listed_skips)} other files{example})")
        arrays = _build(root, spec, image_size, layout, class_names, files, listed_skips, max_pixels)
        cache_note = _write_cache(cache_file, arrays)

    imageset = _to_imageset(arrays, spec, root, seed)
    imageset.report.update({"cached": from_cache, "cache_file": str(cache_file),
                            "load_seconds": round(time.perf_counter() - t0, 3)})
    if not from_cache:
        imageset.report["decode_cpu_seconds"] = arrays["decode_cpu_seconds"]  # summed over the worker processes
    if cache_note:
        imageset.report["cache_error"] = f"cache not written to {cache_file}: {cache_note}"
    with _memo_lock:
        _memo[(key, seed)] = imageset
        while len(_memo) > MEMORY_CACHE_SIZE:
            _memo.popitem(last=False)
    return imageset


def _to_imageset(arrays: dict, spec: str, root: Path, seed: int):
    import torch

    from .split import make_imageset, stratified_split

    info = dict(arrays["info"])
    labels, is_test = arrays["labels"], arrays["is_test"]
    report = {"source": str(root), **info, "n": int(len(labels))}
    if info["layout"] == "train/test folders" and is_test.any() and (~is_test).any():
        train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        report["split"] = "the folder's train/ and test/"
    else:
        train_idx, test_idx = stratified_split(labels, 0.2, seed)
        report["split"] = f"stratified 80/20 from seed {seed}"
        if info["layout"] == "train/test folders":
            report["note"] = "train/ or test/ has no readable image, so the images were split 80/20 instead"
    report["warnings"] = _warnings(arrays["class_names"], labels, info.get("empty_classes", []))
    images = torch.from_numpy(arrays["images"])
    name = spec
    return make_imageset(name, arrays["class_names"], images, labels, train_idx, test_idx, report=report)


def _warnings(class_names: list[str], labels: np.ndarray, empty: list[str]) -> list[str]:
    """What will make training or scoring this set disappointing, one line each."""
    out = []
    if len(class_names) == 1:
        out.append(f"only one class ('{class_names[0]}'): training works, but kNN accuracy and "
                   "label-efficiency need at least two classes")
    counts = np.bincount(labels, minlength=len(class_names)) if len(labels) else np.zeros(0, int)
    single = [class_names[i] for i in np.flatnonzero(counts == 1)]
    if single and len(class_names) > 1:
        out.append(f"{len(single):,} of {len(class_names):,} classes have a single image (e.g. '{single[0]}'): "
                   "kNN and few-shot scores will be unreliable; is there one folder per image instead of per class?")
    if empty:
        out.append(f"{len(empty):,} class folders without a readable image were left out (e.g. '{empty[0]}')")
    return out


def clear_memory_cache() -> None:
    with _memo_lock:
        _memo.clear()
