"""Batched image augmentations with independent random parameters per image.

One engine serves the live preview on the Augmentations page and the training loop, so what a
student sees is exactly what the network trains on.

Why hand-written
----------------
torchvision's transforms draw one set of parameters per call, so a batch needs a Python loop
over images; on the 2-core development CPU that runs at ~3,000 32×32 images/s, slower than the
small backbones train. Here the parameters of a whole batch are drawn at once as tensors
(``sample_params``) and applied to the whole N×C×H×W batch (``apply``), with no Python loop over
images. Two implementations apply them, with the same formulas:

* on CPU, a numba kernel (``sslviz/augment/numba_kernel.py``) that runs each image through the whole
  pipeline while it sits in cache, the batch split over threads: ~4x less CPU time than the
  torch ops, whose ~60 passes over the batch in memory dominate on a small CPU;
* elsewhere (GPU), or without numba, or with SSLVIZ_AUGMENT_BACKEND=torch: batched torch ops
  (one grid_sample for crop+flip+rotation, per-sample factors broadcast over the batch).

They agree to float rounding (~1e-6; tested), and each is bit-reproducible on one machine. The
numba kernel compiles once per machine (tens of seconds; cached on disk, ``warmup()`` forces it).
``bench/bench_augment.py`` measures the speed against torchvision; ``tests/test_augment_parity.py``
checks every op against ``torchvision.transforms.v2``.

How each op maps to torchvision (order as applied: crop+flip+rotate, jitter, gray, blur, solarize)
----------------------------------------------------------------------------------------------
* ``crop_*``  -> ``v2.RandomResizedCrop(out, scale, ratio)`` applied with probability
  ``crop_p``. The box is drawn exactly like torchvision: up to 10 (area, log-aspect) candidates,
  rounded to whole pixels, the first that fits wins, else the central-crop fallback (vectorised:
  10 candidates per sample, pick the first valid). The resize is bilinear with half-pixel
  centres and edge clamping at the crop border, as ``F.resized_crop`` does; it has no
  antialiasing, which only matters when a crop is *shrunk* (e.g. 96 px STL-10 to a 64 px
  output); for upsampling (every crop of a 32 px image) the two agree to float rounding.
  Without a crop (crop_p coin false) the whole image is used, resized if out_size differs.
* ``flip_p``  -> ``v2.RandomHorizontalFlip(flip_p)`` (after the crop).
* ``rotate_*`` -> ``v2.RandomRotation(rotate_degrees)`` with probability ``rotate_p``; angle
  uniform in [-d, d], positive = counter-clockwise. Crop, flip and rotation are folded into ONE
  per-sample affine sampling grid and a single ``F.grid_sample`` (bilinear,
  ``align_corners=False``; the numba kernel evaluates the same grid per pixel): the crop box is
  rotated about its centre. Deviation: pixels that
  fall outside the image copy the nearest edge pixel (``padding_mode="border"``) instead of
  torchvision's black fill, so black corners cannot tell the network an image was rotated.
* ``jitter_p, brightness, contrast, saturation, hue`` -> ``v2.RandomApply([v2.ColorJitter(b,
  c, s, h)], p=jitter_p)``. Factors are drawn per sample like torchvision: brightness, contrast,
  saturation uniform in [max(0, 1-x), 1+x], hue shift uniform in [-h, h]; the four ops run in
  an independent random order per sample (torchvision: per call, i.e. per image); each op is
  the same formula as torchvision's (blend with black / grey mean / grayscale, clamped; hue is
  a shift in HSV space, batched rgb->hsv->rgb with a compact but equivalent formula).
* ``gray_p`` -> ``v2.RandomGrayscale(gray_p)``: ITU-R 601-2 luma (0.2989 R + 0.587 G +
  0.114 B), kept as 3 channels; bit-identical to torchvision.
* ``blur_*`` -> ``v2.RandomApply([v2.GaussianBlur(k, blur_sigma)], p=blur_p)`` with sigma
  uniform per sample and kernel size ``k`` about 10% of the output like SimCLR (odd, >= 3: 3 at
  32 px, 9 at 96 px, 23 at 224 px); reflect padding; separable grouped convolution with one
  kernel per sample (torchvision: one 2-D kernel, same values).
* ``solarize_*`` -> ``v2.RandomSolarize(threshold, p=solarize_p)``: pixels >= threshold become
  1 - pixel; bit-identical to torchvision.

1-channel images (digits, MNIST): only brightness and contrast act; saturation, hue and
grayscale are no-ops there (as in torchvision, which returns a 1-channel image unchanged).

Where things are
----------------
``sslviz/augment/pipelines.py`` holds the ``Pipeline`` dataclass, the papers' presets and the
per-dataset defaults (re-exported here); ``sslviz/augment/torch_ops.py`` the batched torch ops;
``sslviz/augment/numba_kernel.py`` the CPU kernel; this module draws the parameters and picks the path.

Randomness
----------
Every call draws the same fixed table of uniforms (one row per image) whatever the
probabilities and strengths are, and derives the parameters from it. So with a seeded
generator the output is bit-identical on the same machine, and in the teaching UI moving one
slider (say brightness) changes only that op on the same drawn views, and it changes smoothly.
``sample_params`` exposes the drawn parameters; ``apply`` applies given parameters;
``augment = apply(sample_params(...))``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from .params import JITTER_OPS, _resolve, concat_params, sample_params
from .pipelines import PRESET_NOTES, PRESETS, Pipeline
from .torch_ops import apply_torch, blur_kernel_size

__all__ = [
    "Pipeline",
    "augment",
    "two_views",
    "sample_params",
    "concat_params",
    "apply",
    "JITTER_OPS",
    "blur_kernel_size",
    "backend_for",
    "warmup",
    "PRESETS",
    "PRESET_NOTES",
]

# ---------------------------------------------------------------------------------------------
# Backends: numba kernel on CPU, torch ops elsewhere
# ---------------------------------------------------------------------------------------------

BACKEND_ENV = "SSLVIZ_AUGMENT_BACKEND"  # "auto" (default), "torch" or "numba"
_numba_module: Any = None
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _numba_kernel():
    """The compiled CPU kernel module, or None when numba is not importable."""
    global _numba_module
    if _numba_module is None:
        try:
            from . import numba_kernel as _augment_numba

            _numba_module = _augment_numba
        except Exception:  # noqa: BLE001 - numba missing or broken: the torch path does the same work
            _numba_module = False
    return _numba_module or None


def backend_for(device: torch.device | str = "cpu", backend: str | None = None) -> str:
    """Which implementation ``apply`` uses on ``device``: "numba" (CPU, when importable) or "torch".

    ``backend`` (or the environment variable SSLVIZ_AUGMENT_BACKEND) forces one: "torch" works
    everywhere; "numba" only on CPU.
    """
    choice = (backend or os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if choice not in ("auto", "torch", "numba"):
        raise ValueError(f"augment backend must be auto, torch or numba, got {choice!r}")
    if choice == "torch":
        return "torch"
    if torch.device(device).type != "cpu":
        if choice == "numba":
            raise ValueError("augment backend 'numba' runs on CPU only")
        return "torch"
    if _numba_kernel() is None:
        if choice == "numba":
            raise RuntimeError("augment backend 'numba' requested but numba cannot be imported")
        return "torch"
    return "numba"


def warmup(float_input: bool = False) -> str:
    """Compile (or load from numba's disk cache) the CPU kernel for uint8 input (and float input
    when asked), so that the first real call is fast. Returns the CPU backend name."""
    name = backend_for("cpu")
    if name == "numba":
        p = sample_params(2, PRESETS["too-strong"], torch.Generator().manual_seed(0), size=(8, 8))
        apply(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), p)
        if float_input:
            apply(torch.zeros(2, 3, 8, 8), p)
    return name


def _apply_numba(images: torch.Tensor, P: dict[str, torch.Tensor], out: int) -> torch.Tensor:
    kern = _numba_kernel()
    N, C, H, W = images.shape
    if images.dtype == torch.uint8:
        src, scale = images.contiguous(), 255.0
    else:
        src, scale = images.to(torch.float32).contiguous(), 1.0
    res = torch.empty(N, out, out, C, dtype=torch.float32)  # channels_last memory of N×C×out×out
    resample = P["crop"] | P["rotate"]
    if out != H or out != W:
        resample = torch.ones_like(resample)

    def arr(t: torch.Tensor, dtype: torch.dtype):
        return t.to(dtype).contiguous().numpy()

    args = (
        src.numpy(),
        res.numpy(),
        np.float32(scale),
        arr(P["crop_box"], torch.float32),
        arr(P["flip"], torch.bool),
        arr(P["angle"], torch.float32),
        arr(resample, torch.bool),
        arr(P["jitter"], torch.bool),
        arr(P["brightness"], torch.float32),
        arr(P["contrast"], torch.float32),
        arr(P["saturation"], torch.float32),
        arr(P["hue"], torch.float32),
        arr(P["jitter_order"], torch.int64),
        arr(P["gray"], torch.bool),
        arr(P["blur"], torch.bool),
        arr(P["sigma"], torch.float32),
        blur_kernel_size(out),
        arr(P["solarize"], torch.bool),
        arr(P["solarize_threshold"], torch.float32),
    )
    # Split the batch over threads (the kernel releases the GIL); at least 16 images per thread.
    parts = max(1, min(torch.get_num_threads(), N // 16))
    bounds = [N * i // parts for i in range(parts + 1)]
    if parts == 1:
        kern.run(*args, 0, N)
    else:
        global _pool
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="sslviz-augment")
        futures = [_pool.submit(kern.run, *args, bounds[i], bounds[i + 1]) for i in range(1, parts)]
        kern.run(*args, bounds[0], bounds[1])
        for f in futures:
            f.result()
    return res.permute(0, 3, 1, 2)


def apply(
    images: torch.Tensor,
    params: dict[str, torch.Tensor],
    out_size: int | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Apply drawn parameters (from ``sample_params``) to a batch; see ``augment``.

    ``backend``: None/"auto" (numba kernel on CPU when available, torch ops otherwise), "torch"
    or "numba". The two give the same views to float rounding (~1e-6).
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"augment: images must be N×C×H×W with C = 1 or 3, got shape {tuple(images.shape)}")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"augment: images must be uint8 or float, got {images.dtype}")
    N, C, H, W = images.shape
    if params["crop"].shape[0] != N:
        raise ValueError(f"augment: {params['crop'].shape[0]} parameter sets for {N} images")
    out = H if out_size is None else int(out_size)
    if out < 1:
        raise ValueError(f"augment: out_size must be positive, got {out_size}")
    dev = images.device
    if N == 0:
        return torch.empty(0, C, out, out, device=dev).contiguous(memory_format=torch.channels_last)
    P = {k: v.to(dev) for k, v in params.items()}
    if backend_for(dev, backend) == "numba":
        return _apply_numba(images, P, out)
    return apply_torch(images, P, out)


def augment(
    images: torch.Tensor,
    pipeline: Pipeline | str,
    generator: torch.Generator | None = None,
    out_size: int | None = None,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """Augment a batch with independent random parameters per image.

    images: uint8 N×C×H×W (C = 1 or 3) or float in [0, 1]. pipeline: a ``Pipeline`` or a
    ``PRESETS`` name. Returns float32 N×C×out×out in [0, 1] (out = out_size or H), on the
    images' device, contiguous channels_last. A seeded ``generator`` gives bit-identical output
    on the same machine; None uses torch's global RNG.
    """
    pipeline = _resolve(pipeline)
    if images.dim() != 4:
        raise ValueError(f"augment: images must be N×C×H×W, got shape {tuple(images.shape)}")
    params = sample_params(images.shape[0], pipeline, generator, size=(images.shape[2], images.shape[3]))
    return apply(images, params, out_size, backend)


def two_views(
    images: torch.Tensor,
    pipeline: Pipeline | str,
    pipeline2: Pipeline | str | None = None,
    generator: torch.Generator | None = None,
    out_size: int | None = None,
    *,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent views of each image (the second under ``pipeline2``, default the same,
    e.g. BYOL's asymmetric pair), done as one batched pass over 2N images."""
    p1 = _resolve(pipeline)
    p2 = p1 if pipeline2 is None else _resolve(pipeline2)
    if images.dim() != 4:
        raise ValueError(f"augment: images must be N×C×H×W, got shape {tuple(images.shape)}")
    N, size = images.shape[0], (images.shape[2], images.shape[3])
    params = concat_params(sample_params(N, p1, generator, size), sample_params(N, p2, generator, size))
    both = apply(torch.cat([images, images]), params, out_size, backend)
    return both[:N], both[N:]
