"""Parity of sslviz.augment.engine with torchvision.transforms.v2, applied per image.

Two kinds of checks:
* op level: the same parameters give the same pixels (exact where torchvision's formula is
  reproduced literally, else within float rounding);
* distribution level: over a few hundred images, statistics of the random parameters (or of a
  measurable effect) match torchvision's within tolerances tight enough to catch a wrong range.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.v2 as v2
import torchvision.transforms.v2.functional as TF

from sslviz.augment import engine as A
from sslviz.augment.engine import Pipeline

BACKENDS = ["torch"] + (["numba"] if A.backend_for("cpu") == "numba" else [])
OFF = dict(crop_p=0.0, flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0, solarize_p=0.0, rotate_p=0.0)
JIT0 = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_images(n, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=gen(seed))


def per_image(transform, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.stack([transform(img) for img in x])


def params_for(pipe: Pipeline, n: int, size=(16, 16), seed=0) -> dict:
    return A.sample_params(n, pipe, gen(seed), size=size)


# --- exact and near-exact ops ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_grayscale_exact(backend):
    x = rand_images(32)
    ours = A.augment(x, Pipeline(**{**OFF, "gray_p": 1.0}), gen(), backend=backend)
    assert torch.equal(ours, per_image(v2.RandomGrayscale(p=1.0), x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_solarize_exact(threshold, backend):
    x = rand_images(32)
    ours = A.augment(x, Pipeline(**{**OFF, "solarize_p": 1.0, "solarize_threshold": threshold}), gen(), backend=backend)
    assert torch.equal(ours, per_image(v2.RandomSolarize(threshold=threshold, p=1.0), x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_flip_exact(backend):
    x = rand_images(32)
    ours = A.augment(x, Pipeline(**{**OFF, "flip_p": 1.0}), gen(), backend=backend)
    assert torch.equal(ours, per_image(v2.RandomHorizontalFlip(p=1.0), x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size, sigma", [(32, 1.0), (32, 0.3), (96, 1.7)])
def test_blur_matches_gaussian_blur_for_a_fixed_sigma(size, sigma, backend):
    x = rand_images(4, size=size)
    k = A.blur_kernel_size(size)
    p = params_for(Pipeline(**{**OFF, "blur_p": 1.0}), 4, (size, size))
    p["sigma"][:] = sigma
    ours = A.apply(x, p, backend=backend)
    ref = per_image(v2.GaussianBlur(kernel_size=k, sigma=sigma), x)
    torch.testing.assert_close(ours, ref, atol=2e-6, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resized_crop_matches_for_given_boxes(backend):
    """Our affine grid reproduces F.resized_crop (bilinear) for the drawn whole-pixel boxes,
    including torchvision's clamping at the crop's edges."""
    x = rand_images(24, size=32)
    p = params_for(Pipeline(**{**OFF, "crop_p": 1.0, "flip_p": 0.5}), 24, (32, 32))
    ours = A.apply(x, p, backend=backend)
    for i in range(24):
        t, l, h, w = (p["crop_box"][i] * 32).round().int().tolist()
        ref = TF.resized_crop(x[i], t, l, h, w, [32, 32], antialias=True)
        if p["flip"][i]:
            ref = TF.horizontal_flip(ref)
        torch.testing.assert_close(ours[i], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resized_crop_to_a_larger_output(backend):
    x = rand_images(8, size=16)
    p = params_for(Pipeline(**{**OFF, "crop_p": 1.0}), 8, (16, 16))
    ours = A.apply(x, p, out_size=24, backend=backend)
    for i in range(8):
        t, l, h, w = (p["crop_box"][i] * 16).round().int().tolist()
        ref = TF.resized_crop(x[i], t, l, h, w, [24, 24], antialias=True)
        torch.testing.assert_close(ours[i], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("angle", [7.0, -20.0, 90.0])
def test_rotation_matches_inside_the_image(angle, backend):
    """Rotation about the centre like TF.rotate (bilinear); only the corners differ, where we
    copy edge pixels and torchvision fills black."""
    x = rand_images(4, size=32)
    p = params_for(Pipeline(**{**OFF, "rotate_p": 1.0, "rotate_degrees": 90.0}), 4, (32, 32))
    p["angle"][:] = angle
    ours = A.apply(x, p, backend=backend)
    ref = TF.rotate(x, angle, interpolation=v2.InterpolationMode.BILINEAR)
    torch.testing.assert_close(ours[..., 8:-8, 8:-8], ref[..., 8:-8, 8:-8], atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "op, fn, values",
    [
        ("brightness", TF.adjust_brightness, [0.6, 0.93, 1.4]),
        ("contrast", TF.adjust_contrast, [0.6, 1.1, 1.4]),
        ("saturation", TF.adjust_saturation, [0.0, 0.7, 1.8]),
        ("hue", TF.adjust_hue, [-0.5, -0.1, 0.03, 0.25, 0.5]),
    ],
)
@pytest.mark.parametrize("c", [3, 1])
def test_each_jitter_op_matches_for_given_factors(op, fn, values, c, backend):
    n = len(values)
    x = rand_images(n, c=c)
    x[0, :, :4, :4] = 0.5  # grey pixels: hue is undefined there
    x[0, :, 4:8, :4] = 1.0
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, **JIT0, op: 0.5})
    p = params_for(pipe, n)
    p[op] = torch.tensor(values)
    ours = A.apply(x, p, backend=backend)
    ref = torch.stack([fn(x[i], values[i]) for i in range(n)])
    torch.testing.assert_close(ours, ref, atol=2e-6, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jitter_order_is_honoured_per_sample(backend):
    """Brightness then contrast differs from contrast then brightness (clamping); each sample
    follows its own drawn order, as torchvision does per call."""
    x = rand_images(16)
    strong = {"brightness": 0.9, "contrast": 0.9, "saturation": 0.9, "hue": 0.3}
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, **strong})
    p = params_for(pipe, 16)
    ours = A.apply(x, p, backend=backend)
    fns = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    names = A.JITTER_OPS
    for i in range(16):
        ref = x[i]
        for op in p["jitter_order"][i].tolist():
            ref = fns[op](ref, float(p[names[op]][i]))
        torch.testing.assert_close(ours[i], ref, atol=1e-5, rtol=0)


# --- distributions of the random parameters ----------------------------------------------------


def _stats(v: torch.Tensor) -> tuple[float, float]:
    v = v.double()
    return float(v.mean()), float(v.std())


def test_brightness_factor_distribution():
    """On a flat grey image the mean pixel is 0.5 × factor: compare with ColorJitter(brightness=0.4)."""
    n = 600
    x = torch.full((n, 3, 4, 4), 0.5)
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, **JIT0, "brightness": 0.4})
    ours = A.augment(x, pipe, gen()).mean(dim=(1, 2, 3)) / 0.5
    ref = per_image(v2.ColorJitter(brightness=0.4), x).mean(dim=(1, 2, 3)) / 0.5
    (m1, s1), (m2, s2) = _stats(ours), _stats(ref)
    expected_std = 0.8 / math.sqrt(12)  # uniform on [0.6, 1.4]: 0.231; a wrong range is far off
    assert abs(m1 - 1.0) < 0.03 and abs(m2 - 1.0) < 0.03
    assert abs(s1 - expected_std) < 0.02 and abs(s1 - s2) < 0.03
    assert 0.6 - 1e-6 <= float(ours.min()) and float(ours.max()) <= 1.4 + 1e-6


def test_contrast_effect_distribution():
    """Std of a half-black half-white image scales with the contrast factor."""
    n = 600
    x = torch.zeros(n, 3, 4, 4)
    x[..., 2:] = 1.0
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, **JIT0, "contrast": 0.4})
    ours = A.augment(x, pipe, gen()).std(dim=(1, 2, 3))
    ref = per_image(v2.ColorJitter(contrast=0.4), x).std(dim=(1, 2, 3))
    (m1, s1), (m2, s2) = _stats(ours), _stats(ref)
    assert abs(m1 - m2) < 0.02 and abs(s1 - s2) < 0.015


def _hue_of(x: torch.Tensor) -> torch.Tensor:
    """Hue (0..1) of the first pixel of each image (RGB with distinct channels)."""
    r, g, b = x[:, 0, 0, 0].double(), x[:, 1, 0, 0].double(), x[:, 2, 0, 0].double()
    return (torch.atan2(math.sqrt(3) * (g - b), 2 * r - g - b) / (2 * math.pi)) % 1.0


def test_hue_shift_distribution():
    n = 600
    x = torch.zeros(n, 3, 2, 2)
    x[:, 0], x[:, 1], x[:, 2] = 0.9, 0.2, 0.1  # a red-orange with a well-defined hue
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, **JIT0, "hue": 0.1})
    h0 = _hue_of(x[:1])
    wrap = lambda d: (d + 0.5) % 1.0 - 0.5  # noqa: E731
    ours = wrap(_hue_of(A.augment(x, pipe, gen())) - h0)
    ref = wrap(_hue_of(per_image(v2.ColorJitter(hue=0.1), x)) - h0)
    (m1, s1), (m2, s2) = _stats(ours), _stats(ref)
    # uniform on [-0.1, 0.1]: std 0.0577 (the atan2 hue differs slightly from HSV's piecewise hue)
    assert abs(m1) < 0.01 and abs(m2) < 0.01
    assert abs(s1 - s2) < 0.006
    assert float(ours.abs().max()) <= 0.11


def test_saturation_effect_distribution():
    n = 600
    x = torch.zeros(n, 3, 2, 2)
    x[:, 0], x[:, 1], x[:, 2] = 0.8, 0.4, 0.2
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, **JIT0, "saturation": 0.4})
    spread = lambda y: (y.amax(dim=1) - y.amin(dim=1)).mean(dim=(1, 2))  # noqa: E731
    (m1, s1) = _stats(spread(A.augment(x, pipe, gen())))
    (m2, s2) = _stats(spread(per_image(v2.ColorJitter(saturation=0.4), x)))
    assert abs(m1 - m2) < 0.015 and abs(s1 - s2) < 0.01


@pytest.mark.parametrize(
    "size, scale, ratio",
    [
        ((32, 32), (0.2, 1.0), (3 / 4, 4 / 3)),
        ((32, 32), (0.08, 1.0), (3 / 4, 4 / 3)),
        ((32, 32), (0.6, 1.0), (0.8, 1.25)),
        ((24, 48), (0.5, 1.0), (3 / 4, 4 / 3)),  # wide image: many rejections, central-crop fallbacks
    ],
)
def test_crop_box_distribution_matches_random_resized_crop(size, scale, ratio):
    """Area fraction, aspect ratio and position of our boxes vs v2.RandomResizedCrop.make_params."""
    n = 1500
    H, W = size
    pipe = Pipeline(**{**OFF, "crop_p": 1.0, "crop_scale": scale, "crop_ratio": ratio})
    box = (A.sample_params(n, pipe, gen(), size=size)["crop_box"].double() * torch.tensor([H, W, H, W])).round()
    rrc = v2.RandomResizedCrop(size=8, scale=scale, ratio=ratio)
    img = torch.zeros(3, H, W)
    torch.manual_seed(0)
    ref = torch.tensor(
        [[d["top"], d["left"], d["height"], d["width"]] for d in (rrc.make_params([img]) for _ in range(n))],
        dtype=torch.float64,
    )

    def summary(b):
        area = b[:, 2] * b[:, 3] / (H * W)
        aspect = torch.log(b[:, 3] / b[:, 2])
        cx = (b[:, 1] + b[:, 3] / 2) / W
        full = ((b[:, 2] == H) & (b[:, 3] == W)).double()
        return area, aspect, cx, full

    names, tols = ("area", "log-aspect", "centre-x", "fallback"), (0.02, 0.02, 0.015, 0.03)
    for name, a, r, tol in zip(names, summary(box), summary(ref), tols):
        assert abs(float(a.mean() - r.mean())) < tol, name
        assert abs(float(a.std() - r.std())) < tol, name
    qs = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    area_ours, area_ref = summary(box)[0], summary(ref)[0]
    assert (torch.quantile(area_ours, qs) - torch.quantile(area_ref, qs)).abs().max() < 0.04
    # the boxes always fit and are whole pixels
    assert (box[:, 0] + box[:, 2] <= H).all() and (box[:, 1] + box[:, 3] <= W).all()


def test_crop_area_seen_in_the_pixels():
    """End to end: crop a coordinate ramp and measure the visible extent, ours vs torchvision."""
    n, S = 400, 32
    ramp = torch.linspace(0, 1, S)
    x = torch.zeros(n, 3, S, S)
    x[:, 0] = ramp.view(1, 1, S)  # red = x coordinate
    x[:, 1] = ramp.view(1, S, 1)  # green = y coordinate
    pipe = Pipeline(**{**OFF, "crop_p": 1.0, "crop_scale": (0.2, 1.0)})
    ours = A.augment(x, pipe, gen())
    ref = per_image(v2.RandomResizedCrop(S, scale=(0.2, 1.0)), x)

    def extent(y):
        ex = y[:, 0].amax(dim=(1, 2)) - y[:, 0].amin(dim=(1, 2))
        ey = y[:, 1].amax(dim=(1, 2)) - y[:, 1].amin(dim=(1, 2))
        return ex * ey, y[:, 0].mean(dim=(1, 2))

    (a1, c1), (a2, c2) = extent(ours), extent(ref)
    assert abs(float(a1.mean() - a2.mean())) < 0.03 and abs(float(a1.std() - a2.std())) < 0.03
    assert abs(float(c1.std() - c2.std())) < 0.02  # spread of the crop centre


def test_rotation_angle_distribution():
    n = 2000
    pipe = Pipeline(**{**OFF, "rotate_p": 1.0, "rotate_degrees": 15.0})
    ang = A.sample_params(n, pipe, gen())["angle"]
    rr = v2.RandomRotation(15.0)
    torch.manual_seed(0)
    ref = torch.tensor([rr.make_params([torch.zeros(1, 4, 4)])["angle"] for _ in range(n)])
    (m1, s1), (m2, s2) = _stats(ang), _stats(ref)
    assert abs(m1) < 0.5 and abs(m2) < 0.5 and abs(s1 - s2) < 0.4
    assert float(ang.abs().max()) <= 15.0


def test_blur_sigma_distribution():
    n = 2000
    pipe = Pipeline(**{**OFF, "blur_p": 1.0, "blur_sigma": (0.1, 2.0)})
    sig = A.sample_params(n, pipe, gen())["sigma"]
    gb = v2.GaussianBlur(3, sigma=(0.1, 2.0))
    torch.manual_seed(0)
    ref = torch.tensor([gb.make_params([torch.zeros(1, 4, 4)])["sigma"][0] for _ in range(n)])
    (m1, s1), (m2, s2) = _stats(sig), _stats(ref)
    assert abs(m1 - m2) < 0.04 and abs(s1 - s2) < 0.03


@pytest.mark.parametrize("field, p", [("flip_p", 0.5), ("gray_p", 0.2), ("jitter_p", 0.8), ("solarize_p", 0.2)])
def test_coin_frequencies(field, p):
    n = 4000
    key = {"flip_p": "flip", "gray_p": "gray", "jitter_p": "jitter", "solarize_p": "solarize"}[field]
    got = A.sample_params(n, Pipeline(**{**OFF, field: p}), gen())[key].double().mean()
    assert abs(float(got) - p) < 3 * math.sqrt(p * (1 - p) / n) + 1e-9


def test_whole_simclr_pipeline_statistics():
    """The full SimCLR recipe vs torchvision's Compose on the same images: image statistics agree."""
    n = 400
    x = (torch.rand(n, 3, 1, 1, generator=gen(1)) * 0.6 + 0.2) * torch.ones(n, 3, 16, 16)
    x = (x + 0.15 * torch.rand(n, 3, 16, 16, generator=gen(2))).clamp(0, 1)
    ours = A.augment(x, "simclr", gen())
    tv = v2.Compose(
        [
            v2.RandomResizedCrop(16, scale=(0.2, 1.0)),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
        ]
    )
    ref = per_image(tv, x)
    stats = (
        lambda y: y.mean(dim=(1, 2, 3)),
        lambda y: y.std(dim=(1, 2, 3)),
        lambda y: (y.amax(1) - y.amin(1)).mean(dim=(1, 2)),  # colourfulness
    )
    for stat in stats:
        (m1, s1), (m2, s2) = _stats(stat(ours)), _stats(stat(ref))
        assert abs(m1 - m2) < 0.03 and abs(s1 - s2) < 0.03


# --- the CPU kernel (numba) and the torch ops (GPU path) agree ----------------------------------


@pytest.mark.skipif("numba" not in BACKENDS, reason="numba not available")
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("out_size", [None, 10, 24])
@pytest.mark.parametrize("preset", ["simclr", "byol-view1", "byol-view2", "too-strong", "digits", "shapes"])
def test_numba_and_torch_backends_agree(c, dtype, out_size, preset):
    x = torch.randint(0, 256, (24, c, 16, 16), generator=gen(1), dtype=torch.uint8)
    if dtype != torch.uint8:
        x = x.float() / 255
    p = params_for(A.PRESETS[preset], 24, (16, 16), seed=2)
    a = A.apply(x, p, out_size, backend="numba")
    b = A.apply(x, p, out_size, backend="torch")
    assert a.shape == b.shape
    assert a.is_contiguous(memory_format=torch.channels_last) and b.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
