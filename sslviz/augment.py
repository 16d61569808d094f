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

* on CPU, a numba kernel (``sslviz/_augment_numba.py``) that runs each image through the whole
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

import dataclasses
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sslviz.errors import ConfigError

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
    "default_pipeline",
    "default_pipeline_note",
]

# ---------------------------------------------------------------------------------------------
# Pipeline: the configuration of one view
# ---------------------------------------------------------------------------------------------

_PROBS = ("crop_p", "flip_p", "jitter_p", "gray_p", "blur_p", "solarize_p", "rotate_p")
_PAIRS = ("crop_scale", "crop_ratio", "blur_sigma")


@dataclass
class Pipeline:
    """One augmentation pipeline (one view): each op has a probability and a strength.

    Values are validated on construction and by ``augment`` (a field changed afterwards is
    checked when used); errors are ``ConfigError`` naming the field. ``to_dict``/``from_dict``
    survive a JSON round trip (pairs become lists in JSON and tuples again here).
    """

    crop_p: float = 1.0
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    gray_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5
    rotate_p: float = 0.0
    rotate_degrees: float = 0.0  # small random rotation (useful for digits); folded into the crop's affine

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Normalise types (lists -> tuples, ints -> floats) and check ranges; ConfigError if bad."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _PAIRS:
                if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
                    raise ConfigError(f"augmentation field {f.name!r}: expected a pair [low, high], got {v!r}")
                pair = (_num(f.name, v[0]), _num(f.name, v[1]))
                if not pair[0] <= pair[1]:
                    raise ConfigError(f"augmentation field {f.name!r}: low {pair[0]} is above high {pair[1]}")
                object.__setattr__(self, f.name, pair)
            else:
                object.__setattr__(self, f.name, _num(f.name, v))
        for name in _PROBS:
            _in_range(name, getattr(self, name), 0.0, 1.0)
        lo, hi = self.crop_scale
        if not (0.0 < lo and hi <= 1.0):
            raise ConfigError(f"augmentation field 'crop_scale': must lie in (0, 1], got {self.crop_scale}")
        if not self.crop_ratio[0] > 0.0:
            raise ConfigError(f"augmentation field 'crop_ratio': must be positive, got {self.crop_ratio}")
        if not self.blur_sigma[0] > 0.0:
            raise ConfigError(f"augmentation field 'blur_sigma': must be positive, got {self.blur_sigma}")
        for name in ("brightness", "contrast", "saturation"):
            _in_range(name, getattr(self, name), 0.0, 10.0)
        _in_range("hue", self.hue, 0.0, 0.5)
        _in_range("solarize_threshold", self.solarize_threshold, 0.0, 1.0)
        _in_range("rotate_degrees", self.rotate_degrees, 0.0, 180.0)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (pairs as lists)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: (list(v) if k in _PAIRS else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> Pipeline:
        """Build from a (possibly partial) dict; missing fields take the defaults."""
        if not isinstance(d, dict):
            raise ConfigError(f"augmentation pipeline: expected a mapping of fields, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"augmentation field {k!r} is unknown (known: {', '.join(sorted(known))})")
        return cls(**d)

    def summary(self) -> str:
        """One line describing the ops that are on, for captions and run lists."""
        parts = []
        if self.crop_p > 0:
            parts.append(f"crop {self.crop_scale[0]:g}-{self.crop_scale[1]:g}" + _pct(self.crop_p))
        if self.flip_p > 0:
            parts.append("flip" + _pct(self.flip_p))
        if self.rotate_p > 0 and self.rotate_degrees > 0:
            parts.append(f"rotate ±{self.rotate_degrees:g}°" + _pct(self.rotate_p))
        if self.jitter_p > 0 and (self.brightness or self.contrast or self.saturation or self.hue):
            parts.append(
                f"jitter {self.brightness:g}/{self.contrast:g}/{self.saturation:g}/{self.hue:g}" + _pct(self.jitter_p)
            )
        if self.gray_p > 0:
            parts.append("gray" + _pct(self.gray_p))
        if self.blur_p > 0:
            parts.append(f"blur σ {self.blur_sigma[0]:g}-{self.blur_sigma[1]:g}" + _pct(self.blur_p))
        if self.solarize_p > 0:
            parts.append(f"solarize ≥{self.solarize_threshold:g}" + _pct(self.solarize_p))
        return ", ".join(parts) if parts else "no augmentation"


def _pct(p: float) -> str:
    return "" if p >= 1.0 else f" (p={p:g})"


def _num(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"augmentation field {name!r}: expected a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ConfigError(f"augmentation field {name!r}: expected a finite number, got {v!r}")
    return v


def _in_range(name: str, v: float, lo: float, hi: float) -> None:
    if not lo <= v <= hi:
        raise ConfigError(f"augmentation field {name!r}: {v:g} is outside [{lo:g}, {hi:g}]")


# ---------------------------------------------------------------------------------------------
# Presets and per-dataset defaults
# ---------------------------------------------------------------------------------------------

PRESETS: dict[str, Pipeline] = {
    "simclr": Pipeline(),
    "byol-view1": Pipeline(
        crop_scale=(0.08, 1.0), saturation=0.2, blur_p=1.0, solarize_p=0.0
    ),
    "byol-view2": Pipeline(
        crop_scale=(0.08, 1.0), saturation=0.2, blur_p=0.1, solarize_p=0.2
    ),
    "mocov2": Pipeline(crop_scale=(0.2, 1.0), blur_p=0.5),
    "too-weak": Pipeline(crop_scale=(0.9, 1.0), jitter_p=0.0, gray_p=0.0),
    "too-strong": Pipeline(
        crop_scale=(0.02, 0.15),
        jitter_p=1.0,
        brightness=0.9,
        contrast=0.9,
        saturation=0.9,
        hue=0.5,
        gray_p=0.5,
        blur_p=0.5,
        blur_sigma=(1.0, 3.0),
        solarize_p=0.3,
        rotate_p=1.0,
        rotate_degrees=90.0,
    ),
    "digits": Pipeline(
        crop_scale=(0.6, 1.0),
        crop_ratio=(0.8, 1.25),
        flip_p=0.0,
        jitter_p=0.8,
        brightness=0.4,
        contrast=0.4,
        saturation=0.0,
        hue=0.0,
        gray_p=0.0,
        rotate_p=0.5,
        rotate_degrees=12.0,
    ),
    "natural": Pipeline(),
    "shapes": Pipeline(
        crop_scale=(0.4, 1.0),
        jitter_p=0.9,
        brightness=0.4,
        contrast=0.4,
        saturation=0.8,
        hue=0.5,
        gray_p=0.3,
        rotate_p=0.7,
        rotate_degrees=45.0,
    ),
    "none": Pipeline(crop_p=0.0, flip_p=0.0, jitter_p=0.0, gray_p=0.0),
}

PRESET_NOTES: dict[str, str] = {
    "simclr": "SimCLR's CIFAR-10 recipe (Chen et al. 2020): crop 20-100%, flip, colour jitter 0.4/0.4/0.4/0.1 "
    "(p=0.8), grayscale 0.2; no blur at 32 px. Crop + colour is the pair the paper found essential.",
    "byol-view1": "BYOL's first view (Grill et al. 2020): crops down to 8%, jitter 0.4/0.4/0.2/0.1, "
    "always blurred, never solarized.",
    "byol-view2": "BYOL's second view: same crops and jitter, rarely blurred (p=0.1), solarized 20% of the time; "
    "the asymmetry between the two views is part of the recipe.",
    "mocov2": "MoCo v2 (Chen et al. 2020): SimCLR-style crops and jitter plus Gaussian blur half the time.",
    "too-weak": "Nearly identical views (90-100% crops, no colour change): the task is solved by matching "
    "colour histograms, so the network learns little.",
    "too-strong": "Tiny crops, extreme colour, rotations and solarization: the two views often share nothing, "
    "the loss cannot go down and features stay poor.",
    "digits": "For handwritten digits: no flips (a flipped 2 is not a 2), mild crops (a 20% crop is just a "
    "stroke), small rotations, brightness/contrast only.",
    "natural": "For natural photos (CIFAR-10, STL-10, your folders): SimCLR CIFAR-style crops 20-100%, flip, "
    "jitter 0.4/0.4/0.4/0.1 (p=0.8), grayscale 0.2, no blur at 32 px.",
    "shapes": "For the synthetic shapes: the label is the shape, so colour (strong hue jitter, grayscale), "
    "position (crops), mirror and rotation are all nuisances the embedding should forget.",
    "none": "No augmentation: the views are the images themselves (contrastive learning collapses to "
    "telling images apart by pixels).",
}

_DATASET_PRESET = {
    "digits": "digits",
    "mnist": "digits",
    "fashion-mnist": "digits",
    "shapes": "shapes",
    "cifar10": "natural",
    "stl10": "natural",
    "svhn": "natural",
}

_DATASET_NOTES = {
    "digits": "No flips: a flipped 2 is not a 2; mild crops (60-100%): a 20% crop of a digit is a stroke; "
    "small rotations and brightness/contrast for handwriting variety.",
    "mnist": "No flips: a flipped 2 is not a 2; mild crops (60-100%): a 20% crop of a digit is a stroke; "
    "small rotations and brightness/contrast for handwriting variety.",
    "fashion-mnist": "Mild crops (60-100%) and small rotations keep a garment recognisable; flips are fine "
    "(a mirrored shoe is still a shoe); brightness/contrast only (grayscale images).",
    "shapes": "The label is the shape: crops, flips, rotations and strong colour changes teach the network "
    "to ignore position, orientation and colour.",
    "cifar10": "Natural photos: SimCLR's CIFAR recipe, crops 20-100%, flips, strong colour jitter and "
    "grayscale so colour histograms cannot solve the task; no blur at 32 px.",
    "stl10": "Natural photos: SimCLR's recipe, crops 20-100%, flips, strong colour jitter and grayscale so "
    "colour histograms cannot solve the task.",
    "svhn": "House numbers are digits: no flips (a mirrored 3 is not a 3); otherwise natural-photo crops "
    "and colour jitter, since colours and backgrounds vary.",
    "folder": "Your own photos: the natural-image default (SimCLR-style crops, flips, colour jitter, "
    "grayscale); switch flips off if mirrored images mean something else.",
}


def _dataset_key(dataset: str) -> str:
    key = str(dataset).strip().lower().replace("_", "-")
    if key.startswith("folder:") or key.startswith("zip:") or key.startswith("upload:"):
        return "folder"
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "stl-10": "stl10"}.get(key, key)


def default_pipeline(dataset: str) -> Pipeline:
    """The default augmentation pipeline for a dataset name (a fresh copy; unknown names: natural)."""
    key = _dataset_key(dataset)
    if key == "fashion-mnist":
        return dataclasses.replace(PRESETS["digits"], flip_p=0.5)
    if key == "svhn":
        return dataclasses.replace(PRESETS["natural"], flip_p=0.0)
    return dataclasses.replace(PRESETS[_DATASET_PRESET.get(key, "natural")])


def default_pipeline_note(dataset: str) -> str:
    """One line: why these augmentations are the default for this dataset."""
    key = _dataset_key(dataset)
    return _DATASET_NOTES.get(key, _DATASET_NOTES["folder"])


# ---------------------------------------------------------------------------------------------
# Parameter sampling
# ---------------------------------------------------------------------------------------------

# Column layout of the per-sample uniform table (fixed; new ops must append columns).
_C_CROP, _C_SCALE, _C_RATIO, _C_POS = 0, 1, 11, 21  # coin, 10 scales, 10 log-ratios, (i, j)
_C_FLIP, _C_ROT, _C_ANGLE = 23, 24, 25
_C_JIT, _C_FACT, _C_ORDER = 26, 27, 31  # coin, 4 factors, 4 order keys
_C_GRAY, _C_BLUR, _C_SIGMA, _C_SOL = 35, 36, 37, 38
_NCOLS = 39
_TRIES = 10

JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def sample_params(
    n: int,
    pipeline: Pipeline | str,
    generator: torch.Generator | None = None,
    size: tuple[int, int] = (32, 32),
) -> dict[str, torch.Tensor]:
    """Draw per-sample parameters for ``n`` images of ``size`` (H, W) under ``pipeline``.

    Returns a dict of CPU (or the generator's device) tensors of length n:

    ``crop`` bool, ``crop_box`` float N×4 (top, left, height, width) as fractions of the input's
    H and W (whole-pixel boxes for ``size``; the full image where no crop), ``area`` float
    (crop area / image area), ``flip`` bool, ``rotate`` bool, ``angle`` float degrees (0 where
    not rotated), ``jitter`` bool, ``brightness``/``contrast``/``saturation`` float factors (1
    where not jittered), ``hue`` float shift (0 where not jittered), ``jitter_order`` int64 N×4
    (indices into ``JITTER_OPS`` in application order), ``gray`` bool, ``blur`` bool, ``sigma``
    float (0 where not blurred), ``solarize`` bool, ``solarize_threshold`` float.
    """
    p = _resolve(pipeline)
    p.validate()
    H, W = int(size[0]), int(size[1])
    device = generator.device if generator is not None else torch.device("cpu")
    if device.type == "mps":  # no float64 there: draw in float32, compute the parameters on CPU
        u = torch.rand(n, _NCOLS, generator=generator, device=device).cpu().double()
        device = u.device
    else:
        u = torch.rand(n, _NCOLS, generator=generator, dtype=torch.float64, device=device)

    # --- random resized crop, exactly torchvision's rule, 10 candidates at once ---
    crop = u[:, _C_CROP] < p.crop_p
    area = float(H * W)
    s_lo, s_hi = p.crop_scale
    target = area * (s_lo + u[:, _C_SCALE : _C_SCALE + _TRIES] * (s_hi - s_lo))
    lr_lo, lr_hi = math.log(p.crop_ratio[0]), math.log(p.crop_ratio[1])
    aspect = torch.exp(lr_lo + u[:, _C_RATIO : _C_RATIO + _TRIES] * (lr_hi - lr_lo))
    cw = torch.round(torch.sqrt(target * aspect))
    ch = torch.round(torch.sqrt(target / aspect))
    valid = (cw > 0) & (cw <= W) & (ch > 0) & (ch <= H)
    first = valid.to(torch.uint8).argmax(dim=1, keepdim=True)  # first valid candidate
    w = cw.gather(1, first).squeeze(1)
    h = ch.gather(1, first).squeeze(1)
    top = torch.floor(u[:, _C_POS] * (H - h + 1))
    left = torch.floor(u[:, _C_POS + 1] * (W - w + 1))
    # fallback: central crop of the largest box within the ratio range
    in_ratio = W / H
    if in_ratio < min(p.crop_ratio):
        fw, fh = W, int(round(W / min(p.crop_ratio)))
    elif in_ratio > max(p.crop_ratio):
        fw, fh = int(round(H * max(p.crop_ratio))), H
    else:
        fw, fh = W, H
    ok = valid.any(dim=1)
    w = torch.where(ok, w, float(fw))
    h = torch.where(ok, h, float(fh))
    top = torch.where(ok, top, float((H - fh) // 2))
    left = torch.where(ok, left, float((W - fw) // 2))
    # no crop: the whole image
    w = torch.where(crop, w, float(W))
    h = torch.where(crop, h, float(H))
    top = torch.where(crop, top, 0.0)
    left = torch.where(crop, left, 0.0)
    crop_box = torch.stack((top / H, left / W, h / H, w / W), dim=1).float()

    flip = u[:, _C_FLIP] < p.flip_p
    rotate = (u[:, _C_ROT] < p.rotate_p) & (p.rotate_degrees > 0)
    angle = torch.where(rotate, (2.0 * u[:, _C_ANGLE] - 1.0) * p.rotate_degrees, 0.0)

    jitter = u[:, _C_JIT] < p.jitter_p
    fac = u[:, _C_FACT : _C_FACT + 4]

    def factor(col: int, x: float) -> torch.Tensor:
        lo, hi = max(0.0, 1.0 - x), 1.0 + x
        return torch.where(jitter, lo + fac[:, col] * (hi - lo), 1.0)

    hue = torch.where(jitter, (2.0 * fac[:, 3] - 1.0) * p.hue, 0.0)
    order = torch.argsort(u[:, _C_ORDER : _C_ORDER + 4], dim=1)

    gray = u[:, _C_GRAY] < p.gray_p
    blur = u[:, _C_BLUR] < p.blur_p
    b_lo, b_hi = p.blur_sigma
    sigma = torch.where(blur, b_lo + u[:, _C_SIGMA] * (b_hi - b_lo), 0.0)
    solarize = u[:, _C_SOL] < p.solarize_p

    return {
        "crop": crop,
        "crop_box": crop_box,
        "area": (crop_box[:, 2] * crop_box[:, 3]),
        "flip": flip,
        "rotate": rotate,
        "angle": angle.float(),
        "jitter": jitter,
        "brightness": factor(0, p.brightness).float(),
        "contrast": factor(1, p.contrast).float(),
        "saturation": factor(2, p.saturation).float(),
        "hue": hue.float(),
        "jitter_order": order,
        "gray": gray,
        "blur": blur,
        "sigma": sigma.float(),
        "solarize": solarize,
        "solarize_threshold": torch.full((n,), p.solarize_threshold, dtype=torch.float32, device=device),
    }


def concat_params(*params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Concatenate parameter dicts (e.g. two views under different pipelines) for one ``apply``."""
    return {k: torch.cat([p[k] for p in params]) for k in params[0]}


# ---------------------------------------------------------------------------------------------
# Applying parameters
# ---------------------------------------------------------------------------------------------


def blur_kernel_size(size: int) -> int:
    """SimCLR's rule: about 10% of the image side, odd, at least 3."""
    k = max(3, int(size) // 10)
    return k if k % 2 == 1 else k + 1


def _to_float(images: torch.Tensor) -> torch.Tensor:
    """A fresh float32 copy in [0, 1] (uint8 is divided by 255)."""
    if images.dtype == torch.uint8:
        return images.div(255.0)
    if images.is_floating_point():
        return images.to(torch.float32, copy=True)
    raise ValueError(f"augment: images must be uint8 or float, got {images.dtype}")


def _sampling_grid(
    box: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor, H: int, W: int, out: int
) -> torch.Tensor:
    """Per-sample grid (n×out×out×2, normalised for align_corners=False) for crop+flip+rotate.

    Output pixel u maps to crop-local pixel x = clamp((u + 0.5) * w / out - 0.5, 0, w - 1), the
    half-pixel-centre rule of F.interpolate / F.resized_crop (clamped at the crop edge like
    torchvision); flip negates the offset from the crop centre, rotation turns it about the
    crop centre, and the result is normalised to the whole image. This is the affine that
    F.affine_grid would build from the crop's 2×3 matrix, plus the edge clamp.
    """
    dev = box.device
    n = box.shape[0]
    top, left, h, w = box[:, 0] * H, box[:, 1] * W, box[:, 2] * H, box[:, 3] * W
    u = torch.arange(out, device=dev, dtype=torch.float32).add_(0.5)
    lx = torch.minimum(torch.clamp_min(u[None, :] * (w / out)[:, None] - 0.5, 0.0), (w - 1)[:, None])
    lx = lx - ((w - 1) / 2)[:, None]  # n×out, offset from the crop centre, in pixels
    ly = torch.minimum(torch.clamp_min(u[None, :] * (h / out)[:, None] - 0.5, 0.0), (h - 1)[:, None])
    ly = ly - ((h - 1) / 2)[:, None]
    lx = torch.where(flip[:, None], -lx, lx)
    cx = (left + (w - 1) / 2)[:, None]
    cy = (top + (h - 1) / 2)[:, None]
    rad = angle * (math.pi / 180.0)
    c, s = torch.cos(rad)[:, None], torch.sin(rad)[:, None]
    # X = cx + c*lx - s*ly, Y = cy + s*lx + c*ly, normalised: g = (2X + 1) / W - 1; the terms that
    # depend on x only and on y only are built on n×out vectors and added by broadcasting.
    gx_x = (2.0 * (cx + c * lx) + 1.0) / W - 1.0  # n×out (x)
    gx_y = (-2.0 / W) * s * ly  # n×out (y)
    gy_y = (2.0 * (cy + c * ly) + 1.0) / H - 1.0
    gy_x = (2.0 / H) * s * lx
    grid = torch.empty(n, out, out, 2, device=dev, dtype=torch.float32)
    torch.add(gx_x[:, None, :], gx_y[:, :, None], out=grid[..., 0])
    torch.add(gy_y[:, :, None], gy_x[:, None, :], out=grid[..., 1])
    return grid


# The colour ops below take a fresh n×C×H×W float batch they may overwrite, and return the result.


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma, n×1×H×W, the same float expression as torchvision."""
    r, g, b = x.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    return x.copy_(_gray(x).expand(-1, 3, -1, -1))


def _brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision: blend with black, image * f, clamped."""
    return x.mul_(f.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def _contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision: blend with the mean of the grayscale image, clamped."""
    mean = (_gray(x) if x.shape[1] == 3 else x).mean(dim=(1, 2, 3), keepdim=True)
    return torch.lerp(mean, x, f.view(-1, 1, 1, 1), out=x).clamp_(0.0, 1.0)


def _saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision: blend with the grayscale image, clamped."""
    return torch.lerp(_gray(x), x, f.view(-1, 1, 1, 1), out=x).clamp_(0.0, 1.0)


_HUE_OFF = (3.0, 2.0, 4.0)
_HUE_SGN = (1.0, -1.0, -1.0)
_HUE_BIAS = (-1.0, 2.0, 2.0)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift hue by ``shift`` (fraction of a turn) in HSV space, like torchvision's adjust_hue.

    rgb->hsv as torchvision (the same tie-breaking: red, then green, then blue); saturation and
    value (so max and min) are unchanged by a hue shift, so hsv->rgb is
    channel = min + (max - min) * T(6H), with the hexagon's trapezoids T_R = clamp(|6H-3| - 1),
    T_G = clamp(2 - |6H-2|), T_B = clamp(2 - |6H-4|) (clamp to [0, 1]): the six-sector table of
    torchvision's _hsv_to_rgb in a few whole-batch passes.
    """
    r, g, b = x.unbind(dim=1)
    maxc = torch.maximum(r, g)
    torch.maximum(maxc, b, out=maxc)
    minc = torch.minimum(r, g)
    torch.minimum(minc, b, out=minc)
    rng = maxc - minc
    is_r = maxc == r
    is_g = (maxc == g) & ~is_r
    h6 = torch.sub(r, g).add_(rng, alpha=4.0)  # max is blue: 4 + (r - g) / range
    h6 = torch.where(is_g, torch.sub(b, r).add_(rng, alpha=2.0), h6)  # green: 2 + (b - r) / range
    h6 = torch.where(is_r, g - b, h6)  # red: (g - b) / range
    h6.div_(rng.clamp_min(1e-30))  # grey pixels: 0 / tiny = 0, any hue gives the grey back
    h6.add_(6.0 * shift.view(-1, 1, 1)).remainder_(6.0).unsqueeze_(1)
    dev = x.device
    off = torch.tensor(_HUE_OFF, device=dev).view(1, 3, 1, 1)
    sgn = torch.tensor(_HUE_SGN, device=dev).view(1, 3, 1, 1)
    bias = torch.tensor(_HUE_BIAS, device=dev).view(1, 3, 1, 1)
    t = torch.sub(h6, off, out=x).abs_()  # x's values are no longer needed: reuse its memory
    torch.addcmul(bias, t, sgn, out=t).clamp_(0.0, 1.0)
    return torch.addcmul(minc.unsqueeze(1), rng.unsqueeze(1), t, out=t)


def _solarize(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """torchvision: pixels >= threshold become 1 - pixel."""
    return torch.where(x >= t.view(-1, 1, 1, 1), 1.0 - x, x)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample Gaussian blur: reflect padding + separable grouped conv, one kernel per sample."""
    n, C, H, W = x.shape
    k = blur_kernel_size(H)
    half = k // 2
    if H <= half or W <= half:
        return x  # image too small to reflect-pad
    offs = torch.linspace(-half, half, k, device=x.device, dtype=torch.float32)
    ker = torch.softmax(-0.5 * (offs[None, :] / sigma[:, None]) ** 2, dim=1)  # n×k, sums to 1
    ker = ker.repeat_interleave(C, dim=0)  # (n*C)×k
    y = F.pad(x.reshape(1, n * C, H, W), (half, half, half, half), mode="reflect")
    y = F.conv2d(y, ker.view(n * C, 1, k, 1), groups=n * C)
    y = F.conv2d(y, ker.view(n * C, 1, 1, k), groups=n * C)
    return y.view(n, C, H, W).clamp_(0.0, 1.0)  # the kernel sums to 1; clamp float rounding (1 + 2e-7)


def _on(mask: torch.Tensor, x: torch.Tensor, fn, *args: torch.Tensor) -> torch.Tensor:
    """fn on the samples selected by mask (the whole batch at once when all are); returns the batch."""
    if bool(mask.all()):
        return fn(x, *args)
    idx = mask.nonzero().squeeze(1)
    if idx.numel() > 0:
        x.index_copy_(0, idx, fn(x.index_select(0, idx), *(a.index_select(0, idx) for a in args)))
    return x


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
            from sslviz import _augment_numba

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
    return _apply_torch(images, P, out)


def _apply_torch(images: torch.Tensor, P: dict[str, torch.Tensor], out: int) -> torch.Tensor:
    N, C, H, W = images.shape
    # 1. crop + flip + rotation: one grid_sample over the samples that need resampling
    resample = P["crop"] | P["rotate"]
    if out != H or out != W:
        resample = torch.ones_like(resample)
    if bool(resample.all()):
        grid = _sampling_grid(P["crop_box"], P["flip"], P["angle"], H, W, out)
        src = images if images.dtype == torch.float32 else images.to(torch.float32)
        x = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if images.dtype == torch.uint8:
            x.div_(255.0)
    else:
        x = _to_float(images)
        idx = resample.nonzero().squeeze(1)
        if idx.numel() > 0:
            grid = _sampling_grid(P["crop_box"][idx], P["flip"][idx], P["angle"][idx], H, W, out)
            x.index_copy_(
                0, idx, F.grid_sample(x.index_select(0, idx), grid, "bilinear", "border", align_corners=False)
            )
        x = _on(P["flip"] & ~resample, x, lambda t: t.flip(-1))

    # 2. colour jitter: four ops in a random order per sample, only on the jittered samples
    jit = P["jitter"]
    if bool(jit.any()):
        ops = [(_brightness, P["brightness"], 1.0), (_contrast, P["contrast"], 1.0)]
        if C == 3:
            ops += [(_saturation, P["saturation"], 1.0), (_hue, P["hue"], 0.0)]
        active = [bool(((f != neutral) & jit).any()) for _, f, neutral in ops]
        order = P["jitter_order"]
        for pos in range(4):
            for op, (fn, f, _) in enumerate(ops):
                if active[op]:
                    x = _on(jit & (order[:, pos] == op), x, fn, f)

    # 3. grayscale (3 channels kept); 4. Gaussian blur, per-sample sigma; 5. solarize
    if C == 3:
        x = _on(P["gray"], x, _grayscale)
    x = _on(P["blur"], x, _blur, P["sigma"])
    x = _on(P["solarize"], x, _solarize, P["solarize_threshold"])
    return x.contiguous(memory_format=torch.channels_last)


def _resolve(pipeline: Pipeline | str) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, str):
        if pipeline not in PRESETS:
            raise ConfigError(f"augmentation preset {pipeline!r} is unknown (known: {', '.join(PRESETS)})")
        return PRESETS[pipeline]
    raise TypeError(f"augment: pipeline must be a Pipeline or a preset name, got {type(pipeline).__name__}")


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
