"""Unit tests for the batched augmentation engine (sslviz.augment.engine)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from sslviz.augment import engine as A
from sslviz.augment.engine import PRESET_NOTES, PRESETS, Pipeline, augment
from sslviz.core.errors import ConfigError
from sslviz.training.recipes import default_pipeline, default_pipeline_note

BACKENDS = ["torch"] + (["numba"] if A.backend_for("cpu") == "numba" else [])
OFF = dict(crop_p=0.0, flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0, solarize_p=0.0, rotate_p=0.0)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n=8, c=3, size=16, dtype=torch.uint8, seed=0):
    g = gen(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    return torch.rand(n, c, size, size, generator=g, dtype=dtype)


# --- shape, dtype, range -----------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("out_size", [None, 12, 24])
def test_shape_dtype_range(c, dtype, out_size):
    x = images(6, c, 16, dtype)
    pipe = dataclasses.replace(PRESETS["simclr"], blur_p=0.5, solarize_p=0.5, rotate_p=0.5, rotate_degrees=20)
    y = augment(x, pipe, gen(), out_size=out_size)
    out = out_size or 16
    assert y.shape == (6, c, out, out)
    assert y.dtype == torch.float32
    assert y.device == x.device
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.isfinite(y).all()
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_non_square_input_gives_square_output():
    x = images(4, 3, 16)[:, :, :, :12]
    y = augment(x, "simclr", gen(), out_size=10)
    assert y.shape == (4, 3, 10, 10)


def test_empty_batch():
    y = augment(torch.zeros(0, 3, 8, 8, dtype=torch.uint8), "simclr", gen())
    assert y.shape == (0, 3, 8, 8)


def test_bad_input_shape_is_rejected():
    with pytest.raises(ValueError, match="C = 1 or 3"):
        augment(torch.zeros(2, 4, 8, 8, dtype=torch.uint8), "simclr", gen())
    with pytest.raises(ValueError):
        augment(torch.zeros(3, 8, 8, dtype=torch.uint8), "simclr", gen())


# --- randomness: independence and reproducibility ----------------------------------------------


def test_identical_images_get_different_views():
    x = images(1, 3, 16).expand(8, -1, -1, -1).contiguous()
    y = augment(x, "simclr", gen())
    flat = y.reshape(8, -1)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.equal(flat[i], flat[j]), (i, j)


def test_parameters_differ_across_samples():
    p = A.sample_params(64, PRESETS["too-strong"], gen(), size=(32, 32))
    assert len({tuple(r) for r in p["crop_box"].tolist()}) > 32
    assert p["brightness"].unique().numel() > 32
    assert p["angle"].unique().numel() > 32
    assert 0 < int(p["flip"].sum()) < 64
    # every jitter order is a permutation of the four ops
    assert torch.equal(p["jitter_order"].sort(dim=1).values, torch.arange(4).expand(64, 4))
    assert p["jitter_order"][:, 0].unique().numel() == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_output_different_seed_different_output(backend):
    x = images(64, 3, 16)
    pipe = dataclasses.replace(PRESETS["simclr"], blur_p=0.5, solarize_p=0.3, rotate_p=0.5, rotate_degrees=15)
    a = augment(x, pipe, gen(123), backend=backend)
    b = augment(x, pipe, gen(123), backend=backend)
    c = augment(x, pipe, gen(124), backend=backend)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_concurrent_calls_from_threads_are_safe_and_reproducible():
    """Streamlit runs each session's script in its own thread: calls may overlap."""
    from concurrent.futures import ThreadPoolExecutor

    x = images(64, 3, 16)
    want = [augment(x, "simclr", gen(s)) for s in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda s: augment(x, "simclr", gen(s)), range(6)))
    assert all(torch.equal(a, b) for a, b in zip(want, got))


def test_backend_choice(monkeypatch):
    assert A.backend_for("cpu", "torch") == "torch"
    assert A.backend_for("meta") == "torch"
    monkeypatch.setenv(A.BACKEND_ENV, "torch")
    assert A.backend_for("cpu") == "torch"
    monkeypatch.setenv(A.BACKEND_ENV, "bogus")
    with pytest.raises(ValueError):
        A.backend_for("cpu")


def test_global_rng_when_no_generator():
    x = images(8, 3, 16)
    torch.manual_seed(5)
    a = augment(x, "simclr")
    torch.manual_seed(5)
    b = augment(x, "simclr")
    assert torch.equal(a, b)


def test_changing_one_strength_keeps_the_other_draws():
    """The uniform table is drawn whatever the settings: a slider moves one op only."""
    base = PRESETS["simclr"]
    p1 = A.sample_params(32, base, gen(7), size=(32, 32))
    p2 = A.sample_params(32, dataclasses.replace(base, brightness=0.8, blur_p=1.0), gen(7), size=(32, 32))
    for k in ("crop_box", "flip", "contrast", "hue", "jitter_order", "gray"):
        assert torch.equal(p1[k], p2[k]), k
    assert not torch.equal(p1["brightness"], p2["brightness"])


def test_two_views_are_different_and_shaped():
    x = images(8, 3, 16)
    v1, v2 = A.two_views(x, "byol-view1", "byol-view2", generator=gen())
    assert v1.shape == v2.shape == (8, 3, 16, 16)
    assert not torch.equal(v1, v2)
    w1, w2 = A.two_views(x, "byol-view1", "byol-view2", generator=gen())
    assert torch.equal(v1, w1) and torch.equal(v2, w2)


# --- identities and known values ---------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", [1, 3])
def test_all_probabilities_zero_is_identity(c, backend):
    x = images(8, c, 16)
    y = augment(x, Pipeline(**OFF), gen(), backend=backend)
    assert torch.equal(y, x.float() / 255)
    xf = images(8, c, 16, torch.float32)
    assert torch.equal(augment(xf, Pipeline(**OFF), gen(), backend=backend), xf)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_strengths_with_probability_one_is_identity(backend):
    x = images(8, 3, 16)
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, "brightness": 0, "contrast": 0, "saturation": 0, "hue": 0})
    assert torch.equal(augment(x, pipe, gen(), backend=backend), x.float() / 255)


def test_input_is_not_modified():
    x = images(8, 3, 16, torch.float32)
    before = x.clone()
    augment(x, Pipeline(**OFF), gen())
    augment(x, "too-strong", gen())
    assert torch.equal(x, before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flip_p1_equals_torch_flip(backend):
    x = images(8, 3, 16)
    y = augment(x, Pipeline(**{**OFF, "flip_p": 1.0}), gen(), backend=backend)
    assert torch.equal(y, torch.flip(x.float() / 255, dims=[-1]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_flip_after_crop_mirrors_the_crop(backend):
    """Same seed, flip on vs off: the same crops, mirrored."""
    x = images(8, 3, 16)
    crop = dict(OFF, crop_p=1.0)
    a = augment(x, Pipeline(**crop), gen(3), backend=backend)
    b = augment(x, Pipeline(**{**crop, "flip_p": 1.0}), gen(3), backend=backend)
    torch.testing.assert_close(b, torch.flip(a, dims=[-1]), atol=1e-5, rtol=0)


def test_out_size_without_crop_resizes_the_whole_image():
    x = torch.zeros(1, 1, 4, 4)
    x[..., :, 2:] = 1.0  # right half white
    y = augment(x, Pipeline(**OFF), gen(), out_size=8)
    assert torch.equal(y[0, 0, :, :3], torch.zeros(8, 3))
    assert torch.equal(y[0, 0, :, 5:], torch.ones(8, 3))


def test_solarize_known_values():
    x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]).view(1, 1, 1, 5).expand(2, 3, 5, 5).contiguous()
    y = augment(x, Pipeline(**{**OFF, "solarize_p": 1.0, "solarize_threshold": 0.5}), gen())
    want = torch.tensor([0.0, 0.25, 0.5, 0.25, 0.0]).view(1, 1, 1, 5).expand(2, 3, 5, 5)
    assert torch.equal(y, want)


def test_grayscale_known_values():
    x = torch.zeros(3, 3, 4, 4)
    x[0, 0] = 1.0  # red
    x[1, 1] = 1.0  # green
    x[2, 2] = 1.0  # blue
    y = augment(x, Pipeline(**{**OFF, "gray_p": 1.0}), gen())
    for i, w in enumerate([0.2989, 0.587, 0.114]):
        torch.testing.assert_close(y[i], torch.full((3, 4, 4), w), atol=1e-6, rtol=0)


def test_colour_ops_on_one_channel_are_brightness_and_contrast_only():
    x = images(8, 1, 16)
    only = Pipeline(
        **{**OFF, "jitter_p": 1.0, "brightness": 0, "contrast": 0, "saturation": 0.9, "hue": 0.5, "gray_p": 1.0}
    )
    assert torch.equal(augment(x, only, gen()), x.float() / 255)
    bright = Pipeline(**{**OFF, "jitter_p": 1.0, "brightness": 0.5, "contrast": 0, "saturation": 0, "hue": 0})
    assert not torch.equal(augment(x, bright, gen()), x.float() / 255)


def test_brightness_uses_the_drawn_factor():
    x = torch.full((16, 3, 4, 4), 0.5)
    pipe = Pipeline(**{**OFF, "jitter_p": 1.0, "brightness": 0.4, "contrast": 0, "saturation": 0, "hue": 0})
    p = A.sample_params(16, pipe, gen(), size=(4, 4))
    y = A.apply(x, p)
    torch.testing.assert_close(y[:, 0, 0, 0], (0.5 * p["brightness"]).clamp(0, 1))
    assert float(p["brightness"].min()) >= 0.6 and float(p["brightness"].max()) <= 1.4


def test_jitter_is_applied_only_where_the_coin_says():
    x = images(64, 3, 8)
    pipe = Pipeline(**{**OFF, "jitter_p": 0.5})
    p = A.sample_params(64, pipe, gen(), size=(8, 8))
    y = A.apply(x, p)
    same = (y == x.float() / 255).reshape(64, -1).all(dim=1)
    assert torch.equal(same, ~p["jitter"])
    assert 10 < int(p["jitter"].sum()) < 54


def test_rotation_by_90_degrees_turns_the_image_counter_clockwise():
    x = images(1, 3, 8, torch.float32)
    pipe = Pipeline(**{**OFF, "rotate_p": 1.0, "rotate_degrees": 90})
    p = A.sample_params(1, pipe, gen())
    p["angle"][:] = 90.0
    y = A.apply(x, p)
    torch.testing.assert_close(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_blur_kernel_size_rule():
    assert [A.blur_kernel_size(s) for s in (8, 28, 32, 64, 96, 224)] == [3, 3, 3, 7, 9, 23]


def test_blur_keeps_a_constant_image_and_smooths_noise():
    x = torch.full((4, 3, 16, 16), 0.3)
    pipe = Pipeline(**{**OFF, "blur_p": 1.0, "blur_sigma": (1.0, 2.0)})
    torch.testing.assert_close(augment(x, pipe, gen()), x, atol=1e-6, rtol=0)
    noise = images(4, 3, 16, torch.float32)
    assert float(augment(noise, pipe, gen()).std()) < 0.7 * float(noise.std())


def test_sample_params_keys_and_shapes():
    p = A.sample_params(5, PRESETS["simclr"], gen(), size=(32, 32))
    for k, v in p.items():
        assert v.shape[0] == 5, k
    assert p["crop_box"].shape == (5, 4) and p["jitter_order"].shape == (5, 4)
    box = p["crop_box"] * 32
    assert torch.equal(box, box.round())  # whole-pixel boxes, like torchvision
    assert float(p["area"].min()) > 0.0 and float(p["area"].max()) <= 1.0
    assert ((box[:, 0] + box[:, 2]) <= 32).all() and ((box[:, 1] + box[:, 3]) <= 32).all()


def test_apply_checks_parameter_count():
    p = A.sample_params(3, PRESETS["simclr"], gen(), size=(8, 8))
    with pytest.raises(ValueError, match="parameter sets"):
        A.apply(images(4, 3, 8), p)


# --- Pipeline config ---------------------------------------------------------------------------


def test_to_dict_from_dict_json_round_trip():
    for pipe in PRESETS.values():
        d = json.loads(json.dumps(pipe.to_dict()))
        back = Pipeline.from_dict(d)
        assert back == pipe
        assert isinstance(back.crop_scale, tuple) and isinstance(back.blur_sigma, tuple)


def test_from_dict_partial_uses_defaults():
    assert Pipeline.from_dict({"flip_p": 0}) == Pipeline(flip_p=0.0)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"colour": 1}, "colour"),
        ({"flip_p": 1.5}, "flip_p"),
        ({"crop_p": -0.1}, "crop_p"),
        ({"crop_scale": [0.5, 0.2]}, "crop_scale"),
        ({"crop_scale": [0.0, 1.0]}, "crop_scale"),
        ({"crop_scale": [0.2, 0.5, 1.0]}, "crop_scale"),
        ({"crop_ratio": [-1, 1]}, "crop_ratio"),
        ({"hue": 0.6}, "hue"),
        ({"brightness": -0.1}, "brightness"),
        ({"blur_sigma": [0, 1]}, "blur_sigma"),
        ({"solarize_threshold": 2}, "solarize_threshold"),
        ({"rotate_degrees": 400}, "rotate_degrees"),
        ({"gray_p": "high"}, "gray_p"),
        ({"jitter_p": True}, "jitter_p"),
        ({"contrast": float("nan")}, "contrast"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(bad, field):
    with pytest.raises(ConfigError) as e:
        Pipeline.from_dict(bad)
    msg = str(e.value)
    assert field in msg and "\n" not in msg


def test_from_dict_rejects_non_mapping():
    with pytest.raises(ConfigError):
        Pipeline.from_dict(["flip_p"])


def test_field_changed_after_construction_is_checked_when_used():
    pipe = Pipeline()
    pipe.flip_p = 2.0
    with pytest.raises(ConfigError, match="flip_p"):
        augment(images(2, 3, 8), pipe, gen())


def test_unknown_preset_name():
    with pytest.raises(ConfigError, match="nope"):
        augment(images(2, 3, 8), "nope", gen())


def test_summary_is_one_line():
    assert "flip" in PRESETS["simclr"].summary()
    assert "flip" not in PRESETS["digits"].summary()
    assert Pipeline(**OFF).summary() == "no augmentation"


# --- presets and per-dataset defaults ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("c", [1, 3])
def test_every_preset_runs(name, c):
    y = augment(images(8, c, 16), name, gen())
    assert y.shape == (8, c, 16, 16)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_required_presets_and_notes():
    for name in ("simclr", "byol-view1", "byol-view2", "mocov2", "too-weak", "too-strong", "digits", "natural"):
        assert name in PRESETS
    assert set(PRESET_NOTES) == set(PRESETS)
    assert all(note and "\n" not in note for note in PRESET_NOTES.values())
    v1, v2 = PRESETS["byol-view1"], PRESETS["byol-view2"]
    assert (v1.blur_p, v2.blur_p, v1.solarize_p, v2.solarize_p) == (1.0, 0.1, 0.0, 0.2)
    d = PRESETS["digits"]
    assert d.flip_p == 0.0 and d.crop_scale[0] >= 0.5 and d.rotate_p > 0 and d.rotate_degrees > 0
    n = PRESETS["natural"]
    assert (n.crop_scale, n.flip_p, n.jitter_p, n.gray_p, n.blur_p) == ((0.2, 1.0), 0.5, 0.8, 0.2, 0.0)
    assert (n.brightness, n.contrast, n.saturation, n.hue) == (0.4, 0.4, 0.4, 0.1)


@pytest.mark.parametrize(
    "dataset, flips",
    [
        ("digits", False),
        ("mnist", False),
        ("fashion-mnist", False),
        ("fashion_mnist", False),
        ("mnist-10k", False),
        ("svhn", False),
        ("cifar10", True),
        ("stl10", True),
        ("shapes", True),
        ("folder:/data/my photos", True),
        ("something-new", True),
    ],
)
def test_default_pipeline_per_dataset(dataset, flips):
    pipe = default_pipeline(dataset)
    assert isinstance(pipe, Pipeline)
    assert (pipe.flip_p > 0) == flips
    note = default_pipeline_note(dataset)
    assert note and "\n" not in note
    if dataset in ("digits", "mnist"):
        assert pipe.crop_scale[0] >= 0.5 and "flip" in note.lower()
    if dataset == "shapes":
        assert pipe.rotate_p > 0 and pipe.gray_p > 0 and pipe.hue >= 0.3
    if dataset in ("cifar10", "stl10", "folder:/data/my photos"):
        assert pipe == PRESETS["natural"]


def test_default_pipeline_is_a_copy():
    pipe = default_pipeline("cifar10")
    pipe.flip_p = 0.0
    assert PRESETS["natural"].flip_p == 0.5
