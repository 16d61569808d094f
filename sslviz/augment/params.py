"""Per-sample random parameters for a batch, drawn at once as tensors (no Python loop over images).

One table of uniforms per image (its column layout is fixed: new ops append columns) becomes every
op's parameters: crop boxes drawn exactly like torchvision's RandomResizedCrop (up to 10 candidates,
the first that fits), flip and rotation coins, jitter factors and their order, grayscale, blur sigma,
solarize. `sslviz.augment.engine.apply` turns them into pixels.
"""

from __future__ import annotations

import math

import torch

from sslviz.core.errors import ConfigError

from .pipelines import PRESETS, Pipeline

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


def _resolve(pipeline: Pipeline | str) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, str):
        if pipeline not in PRESETS:
            raise ConfigError(f"augmentation preset {pipeline!r} is unknown (known: {', '.join(PRESETS)})")
        return PRESETS[pipeline]
    raise TypeError(f"augment: pipeline must be a Pipeline or a preset name, got {type(pipeline).__name__}")
