"""The synthetic `shapes` set: sizes, determinism, factors that match the pixels, and raw pixels
being a poor representation (the point of the set)."""

import math
import time

import numpy as np
import pytest
import torch

import sslviz.data as data
from sslviz.data import shapes

FACTOR_KEYS = {"shape", "colour", "size", "x", "y", "rotation", "background"}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Two shared cores: torch's threads (the kNN below) only fight the other test processes here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small():
    return shapes.generate(n=1600, image_size=32, seed=0)


@pytest.fixture(scope="module")
def full():
    """The default set, 10,000 images, and the CPU seconds it took to make."""
    data.clear_cache()
    shapes.generate(n=64)  # warm-up
    t = time.process_time()
    ds = data.load_dataset("shapes", image_size=32, seed=0)
    cpu = time.process_time() - t
    data.clear_cache()
    return ds, cpu


def test_load_dataset_shapes(full):
    ds, _ = full
    assert ds.name == "shapes" and ds.class_names == shapes.SHAPES and len(ds.class_names) >= 6
    assert len(ds.train) == 8000 and len(ds.test) == 2000
    for split in (ds.train, ds.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (3, 32, 32)
        assert split.labels.dtype == torch.int64
        assert set(split.factors) == FACTOR_KEYS
        assert all(len(v) == len(split) for v in split.factors.values())
        assert np.array_equal(split.factors["shape"], split.labels.numpy())
        assert np.bincount(split.labels.numpy()).tolist() == [len(split) // 8] * 8  # balanced, stratified


def test_generation_is_fast(full):
    _, cpu = full
    assert cpu < 4.0, f"generating 10,000 shapes took {cpu:.1f} s of CPU"  # measured 0.5-0.95 s


def test_cached_in_process():
    data.clear_cache()
    a = data.load_dataset("shapes", image_size=16, seed=0)
    assert data.load_dataset("shapes", image_size=16, seed=0) is a
    assert data.load_dataset("shapes", image_size=16, seed=1) is not a
    data.clear_cache()


def test_dtypes_and_ranges(small):
    images, labels, factors = small
    assert images.shape == (1600, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(len(shapes.SHAPES)))
    assert set(factors) == FACTOR_KEYS and all(len(v) == 1600 for v in factors.values())
    assert np.array_equal(factors["shape"], labels)
    assert factors["colour"].min() >= 0 and factors["colour"].max() < 1
    assert factors["size"].min() >= 0.2 and factors["size"].max() <= 0.4
    assert factors["rotation"].min() >= 0 and factors["rotation"].max() < 2 * math.pi + 1e-6
    assert factors["background"].min() >= 0 and factors["background"].max() <= 1
    s = factors["size"]
    for key in ("x", "y"):  # the whole shape is inside the image
        assert (factors[key] - s).min() >= -1e-6 and (factors[key] + s).max() <= 1 + 1e-6
    assert images.float().std() > 40  # not blank


def test_determinism():
    a, la, fa = shapes.generate(n=300, seed=5)
    b, lb, fb = shapes.generate(n=300, seed=5)
    c, lc, fc = shapes.generate(n=300, seed=6)
    assert torch.equal(a, b) and np.array_equal(la, lb) and all(np.array_equal(fa[k], fb[k]) for k in fa)
    assert not torch.equal(a, c) and not np.array_equal(fa["colour"], fc["colour"])


def test_image_size_follows_argument():
    images, _, _ = shapes.generate(n=16, image_size=20, seed=0)
    assert images.shape == (16, 3, 20, 20)
    ds = data.load_dataset("shapes", image_size=24, seed=2)
    assert ds.image_size == 24 and ds.channels == 3
    data.clear_cache()


def test_factors_match_pixels(small):
    images, labels, f = small
    x = images.float() / 255
    # corners are always background: their brightness (HSV value = max over RGB) is the factor
    corners = torch.stack([x[:, :, 0, 0], x[:, :, 0, -1], x[:, :, -1, 0], x[:, :, -1, -1]], 1).amax(2).mean(1)
    assert np.corrcoef(corners.numpy(), f["background"])[0, 1] > 0.95
    # the centre of mass of the shape (difference from the background) is at (x, y) for symmetric shapes
    bg = x[:, :, :2, :2].mean(dim=(2, 3), keepdim=True)
    mass = (x - bg).abs().sum(1)
    mass = torch.where(mass > 0.5, mass, torch.zeros_like(mass))
    s = images.shape[-1]
    grid = (torch.arange(s) + 0.5) / s
    total = mass.sum((1, 2))
    cx = (mass * grid.view(1, 1, s)).sum((1, 2)) / total
    cy = (mass * grid.view(1, s, 1)).sum((1, 2)) / total
    symmetric = np.isin(labels, [shapes.SHAPES.index(n) for n in ("circle", "square", "cross", "ring")])
    assert np.abs(cx.numpy() - f["x"])[symmetric].mean() < 0.02
    assert np.abs(cy.numpy() - f["y"])[symmetric].mean() < 0.02
    # bigger shapes cover more pixels
    assert np.corrcoef((mass > 0).float().mean((1, 2)).numpy(), f["size"])[0, 1] > 0.6


def _cosine_knn(train_x, train_y, test_x, test_y, k=20):
    a = torch.nn.functional.normalize(train_x.flatten(1).float(), dim=1)
    b = torch.nn.functional.normalize(test_x.flatten(1).float(), dim=1)
    top = (b @ a.T).topk(k, dim=1).indices
    votes = torch.nn.functional.one_hot(train_y[top], int(train_y.max()) + 1).sum(1)
    return (votes.argmax(1) == test_y).float().mean().item()


def test_raw_pixel_knn_is_poor(full):
    """The set is built so that raw pixels are a bad representation (0.36 on all 8,000/2,000; chance 0.125).

    Scored here on half of each split to keep the test light (a smaller bank only helps raw pixels less).
    """
    ds, _ = full
    tr, te = ds.train, ds.test
    acc = _cosine_knn(tr.images[:4000], tr.labels[:4000], te.images[:1000], te.labels[:1000])
    assert acc < 0.6, acc
    assert acc > 1 / len(shapes.SHAPES)  # but better than chance: the shape is in the pixels


def test_shapes_are_separable_without_nuisances():
    """With colour, background, size, position and rotation fixed, every class renders differently."""
    n = len(shapes.SHAPES)
    f = shapes.sample_factors(n, seed=0)
    f["shape"] = np.arange(n)
    for key, value in (("size", 0.35), ("x", 0.5), ("y", 0.5), ("rotation", 0.0), ("background", 0.1),
                       ("colour", 0.3), ("_saturation", 1.0), ("_value", 1.0), ("_bg_saturation", 0.0)):
        f[key] = np.full(n, value)
    masks = shapes.render(f, 32, noise_std=0).float().mean(1).flatten(1)
    contrast = masks.max() - masks.min()
    differ = ((masks[:, None] - masks[None]).abs() > contrast / 2).sum(-1) + torch.eye(n, dtype=torch.long) * 10**6
    assert differ.min() >= 40  # every pair of shapes differs clearly in at least 40 of 1,024 pixels
