"""Augmentation pipelines: the configuration of one view, the papers' presets, per-dataset defaults.

A `Pipeline` is a small dataclass (each op with a probability and a strength) that is validated
on construction, travels as JSON in a run's config and is what the Augmentations page edits.
The engine that applies it is `sslviz.augment.engine`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from sslviz.core.errors import ConfigError

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
    "grey-objects": Pipeline(saturation=0.0, hue=0.0, gray_p=0.0),
    "colour-centred": Pipeline(flip_p=0.0),
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

# drawn images whose content sits in the middle: the digits' geometry, the shapes' colour changes
PRESETS["graphics-centred"] = dataclasses.replace(PRESETS["digits"], jitter_p=0.9, saturation=0.8, hue=0.5, gray_p=0.3)

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
    "grey-objects": "For greyscale photos of objects anywhere in the frame: SimCLR-style crops 20-100% and "
    "flips, brightness/contrast jitter (there is no colour to change).",
    "colour-centred": "For colour images whose content is centred and has a handedness (house numbers): the "
    "natural-photo recipe without flips.",
    "shapes": "For drawn colour images (the synthetic shapes, icons): the colours are the drawer's choice, so "
    "strong hue jitter and grayscale; position (crops), mirror and rotation are nuisances too.",
    "graphics-centred": "For drawn images whose content sits in the middle (icons, coloured digits): the "
    "digits' mild crops, small rotations and no flips, with the shapes' strong colour changes (a drawer's "
    "colour choice is a nuisance).",
    "none": "No augmentation: the views are the images themselves (contrastive learning collapses to "
    "telling images apart by pixels).",
}

def pipeline_for_kind(preset: str, traits=None) -> Pipeline:
    """A fresh copy of the preset a recipe names for a kind of data (sslviz.training.recipes)."""
    if preset not in PRESETS:
        raise ConfigError(f"recipe: unknown augmentation preset {preset!r}")
    return dataclasses.replace(PRESETS[preset])
