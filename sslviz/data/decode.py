"""Decoding image files into uint8 arrays, in a process pool when there are many.

Any mix of PNG, JPEG, BMP, GIF (first frame), WebP and TIFF in any mode becomes L or RGB (alpha
composited over white), shorter side resized to `size`, centre-cropped (antialiased bilinear).
The pool (forkserver: safe to start from Streamlit's threads) imports numpy and PIL only, and
JPEGs are decoded at reduced size (Image.draft) before the pixels exist. A file that cannot be
used raises `_Skip` with the reason shown to the user; it is skipped, never fatal.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from sslviz.core.errors import DataError

PARALLEL_MIN_FILES = 4000  # below this, starting worker processes costs more than it saves (~0.5 s)


class _Skip(Exception):
    """This file cannot be used; the message is the reason shown to the user."""




def _to_8bit(im):
    """Convert any PIL image to mode L or RGB (alpha composited over white)."""
    from PIL import Image

    mode = im.mode
    if mode in ("1", "L"):
        return im.convert("L")
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer or float grey
        a = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and a.size and a.max() > 255):
            a = a / 257.0
        elif mode == "F" and a.size and a.max() <= 1.0:
            a = a * 255.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("LA", "La", "PA"):
        im, mode = im.convert("LA"), "LA"
    if mode in ("RGBA", "RGBa", "LA"):
        a = np.asarray(im, dtype=np.float32)
        alpha = a[..., -1:] / 255.0
        out = a[..., :-1] * alpha + 255.0 * (1.0 - alpha)
        out = np.rint(out).astype(np.uint8)
        return Image.fromarray(out[..., 0], "L") if mode == "LA" else Image.fromarray(out, "RGB")
    if mode != "RGB":
        return im.convert("RGB")
    return im


def _decode_one(path: str, size: int, max_pixels: int) -> tuple[np.ndarray, bool]:
    """One image file -> (uint8 array: 3×size×size, or size×size when grey; is_grey). Raises _Skip.

    _decode_chunk calls it with warnings silenced: the decompression-bomb limit is checked here.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            if max_pixels and w * h > max_pixels:
                raise _Skip(f"too large: {w}×{h} pixels is over the decompression-bomb limit of "
                            f"{max_pixels:,} (PIL Image.MAX_IMAGE_PIXELS)")
            if im.format == "JPEG" and im.mode in ("RGB", "L"):
                im.draft(im.mode, (size, size))  # decode at 1/2, 1/4 or 1/8 scale when big enough
            if "exif" in im.info and im.getexif().get(0x0112, 1) != 1:
                im = ImageOps.exif_transpose(im)
            im = _to_8bit(im)
            w, h = im.size
            if (w, h) != (size, size):
                m = min(w, h)
                box = ((w - m) / 2, (h - m) / 2, (w + m) / 2, (h + m) / 2)
                im = im.resize((size, size), Image.Resampling.BILINEAR, box=box)
            a = np.asarray(im)
    except _Skip:
        raise
    except Image.DecompressionBombError as e:
        raise _Skip(f"too large (decompression-bomb guard): {e}") from None
    except UnidentifiedImageError:
        raise _Skip("not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, IndexError, TypeError, KeyError,
            ZeroDivisionError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _Skip(f"cannot decode: {reason[:160]}") from None
    if a.ndim == 2:
        return a, True
    a = a.transpose(2, 0, 1)
    return a, bool((a[0] == a[1]).all() and (a[1] == a[2]).all())


def _decode_chunk(paths: list[str], size: int, max_pixels: int):
    """Decode a list of files.

    Returns (images n×3×s×s uint8, grey bool n, ok bool n, {i: reason}, CPU seconds spent).
    """
    import time

    cpu = time.process_time()
    n = len(paths)
    images = np.zeros((n, 3, size, size), np.uint8)
    grey = np.zeros(n, bool)
    ok = np.zeros(n, bool)
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning (checked explicitly), EXIF/palette chatter
        for i, path in enumerate(paths):
            try:
                images[i], grey[i] = _decode_one(path, size, max_pixels)  # a grey 2-D array fills all 3 channels
                ok[i] = True
            except _Skip as e:
                errors[i] = str(e)
    return images, grey, ok, errors, time.process_time() - cpu


def _init_worker(max_pixels: int) -> None:
    """In a pool worker: PIL's own bomb check (at 2× its limit) follows the caller's limit."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels or None


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def decode_files(paths: list[str], size: int, max_pixels: int, workers: int | None = None):
    """Decode all files, in a process pool when there are many. Same return as _decode_chunk (CPU summed)."""
    workers = workers or _workers()
    if workers <= 1 or len(paths) < PARALLEL_MIN_FILES:
        return _decode_chunk(paths, size, max_pixels)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    chunk = min(2000, max(100, math.ceil(len(paths) / (workers * 6))))
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    images = np.empty((len(paths), 3, size, size), np.uint8)
    grey = np.empty(len(paths), bool)
    ok = np.empty(len(paths), bool)
    errors = {}
    cpu = 0.0
    ctx = multiprocessing.get_context("forkserver")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(max_pixels,)) as pool:
            start = 0
            results = pool.map(_decode_chunk, chunks, [size] * len(chunks), [max_pixels] * len(chunks))
            for c, (im, g, o, err, seconds) in zip(chunks, results):
                images[start:start + len(c)], grey[start:start + len(c)], ok[start:start + len(c)] = im, g, o
                errors.update({start + i: r for i, r in err.items()})
                cpu += seconds
                start += len(c)
    except BrokenProcessPool:  # a worker died (out of memory, or a decoder crashed on some file)
        folder = os.path.commonpath(paths) if len(paths) > 1 else paths[0]
        raise DataError(f"decoding the images in {folder} failed: a worker process died "
                        "(out of memory, or an image crashed the decoder)") from None
    return images, grey, ok, errors, cpu
