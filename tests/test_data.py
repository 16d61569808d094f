"""The dataset registry, digits, the split/resize helpers and the torchvision loaders.

The torchvision loaders are tested on small files generated here in the exact on-disk layouts
torchvision reads (never on real downloads, and with download=False or a download that fails).
"""

import gzip
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sslviz.data as data
from sslviz.core.errors import DataError
from sslviz.data.split import resize_images, stratified_split


@pytest.fixture(autouse=True)
def _fresh_cache():
    data.clear_cache()
    yield
    data.clear_cache()


# ---------------------------------------------------------------------------------------------
# registry


def test_import_is_light():
    code = ("import sys, sslviz.data; sslviz.data.list_datasets(); "
            "bad = [m for m in ('torch', 'torchvision', 'PIL', 'sklearn') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parent.parent))


def test_list_datasets_and_names():
    names = data.dataset_names()
    assert {"digits", "shapes", "mnist", "fashion-mnist", "cifar10", "svhn", "stl10"} <= set(names)
    listed = data.list_datasets()
    assert [d["name"] for d in listed] == names
    for d in listed:
        assert set(d) == {"name", "description", "channels", "num_classes", "needs_files", "has_factors"}
        assert "\n" not in d["description"] and d["description"]
        assert d["channels"] in (1, 3) and d["num_classes"] >= 2
    by_name = {d["name"]: d for d in listed}
    assert by_name["shapes"]["has_factors"] and not by_name["shapes"]["needs_files"]
    assert not by_name["digits"]["needs_files"] and by_name["cifar10"]["needs_files"]
    assert by_name["mnist"]["channels"] == 1 and by_name["cifar10"]["channels"] == 3
    from sslviz.data.shapes import SHAPES

    assert by_name["shapes"]["num_classes"] == len(SHAPES)


def test_unknown_name_lists_known_names():
    with pytest.raises(DataError) as e:
        data.load_dataset("imagenet")
    msg = str(e.value)
    assert "imagenet" in msg and "digits" in msg and "shapes" in msg and "folder:" in msg and "\n" not in msg


@pytest.mark.parametrize("size", [0, 3, 10_000, 2.5, "32", True])
def test_bad_image_size(size):
    with pytest.raises(DataError, match="image_size"):
        data.load_dataset("digits", image_size=size)


def test_aliases_and_case():
    assert data.canonical_name("CIFAR-10") == "cifar10"
    assert data.canonical_name("Fashion_MNIST") == "fashion-mnist"
    assert data.canonical_name("folder:/x/Y") == "folder:/x/Y"


# ---------------------------------------------------------------------------------------------
# digits


def test_digits():
    ds = data.load_dataset("digits", image_size=16, seed=0)
    assert ds.name == "digits" and ds.class_names == [str(i) for i in range(10)]
    assert len(ds.train) + len(ds.test) == 1797
    assert len(ds.test) == round(1797 * 0.2)
    for split in (ds.train, ds.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (1, 16, 16)
        assert split.labels.dtype == torch.int64 and split.labels.shape == (len(split),)
        assert set(split.labels.tolist()) == set(range(10))  # every class in both splits
    assert ds.train.images.max() == 255 and ds.train.images.min() == 0
    assert ds.channels == 1 and ds.image_size == 16 and ds.num_classes == 10


def test_digits_native_size_keeps_values():
    from sklearn.datasets import load_digits

    ds = data.load_dataset("digits", image_size=8, seed=3)
    bunch = load_digits()
    allowed = set(np.rint(np.arange(17) * 255 / 16).astype(int).tolist())
    assert set(ds.train.images.unique().tolist()) <= allowed
    assert len(ds.train) + len(ds.test) == len(bunch.images)
    # the same images and labels as scikit-learn's loader, in some split
    ours = torch.cat([ds.train.images, ds.test.images])[:, 0].numpy().astype(np.int64)
    theirs = np.rint(bunch.images * 255 / 16).astype(np.int64)
    order = np.lexsort(ours.reshape(len(ours), -1).T)
    order_theirs = np.lexsort(theirs.reshape(len(theirs), -1).T)
    assert np.array_equal(ours[order], theirs[order_theirs])
    labels = torch.cat([ds.train.labels, ds.test.labels]).numpy()
    assert np.bincount(labels).tolist() == np.bincount(bunch.target).tolist()


def test_digits_seed_changes_split_and_cache_returns_same_object():
    a = data.load_dataset("digits", image_size=8, seed=0)
    assert data.load_dataset("digits", image_size=8, seed=0) is a
    b = data.load_dataset("digits", image_size=8, seed=1)
    assert b is not a
    assert not torch.equal(a.test.labels, b.test.labels) or not torch.equal(a.test.images, b.test.images)
    data.clear_cache()
    c = data.load_dataset("digits", image_size=8, seed=0)
    assert c is not a and torch.equal(c.train.images, a.train.images)


# ---------------------------------------------------------------------------------------------
# split and resize helpers


def test_stratified_split_counts_and_determinism():
    labels = np.repeat(np.arange(5), [100, 50, 7, 2, 1])
    tr, te = stratified_split(labels, 0.2, seed=0)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == len(labels)
    assert len(te) == round(len(labels) * 0.2)
    assert tr.dtype == np.int64 and np.all(np.diff(tr) > 0) and np.all(np.diff(te) > 0)
    counts_te = np.bincount(labels[te], minlength=5)
    counts_tr = np.bincount(labels[tr], minlength=5)
    assert counts_te[0] == 20 and counts_te[1] == 10
    assert counts_te[3] == 1 and counts_tr[3] == 1  # two images: one each side
    assert counts_te[4] == 0 and counts_tr[4] == 1  # a single image goes to train
    assert all(counts_tr[:4] >= 1) and all(counts_te[:4] >= 1)
    tr2, te2 = stratified_split(labels, 0.2, seed=0)
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)
    _, te3 = stratified_split(labels, 0.2, seed=1)
    assert not np.array_equal(te, te3)


def test_stratified_split_edge_cases():
    tr, te = stratified_split(np.zeros(0, np.int64))
    assert len(tr) == len(te) == 0
    tr, te = stratified_split(np.arange(10) % 2, test_fraction=0.0)
    assert len(te) == 0 and len(tr) == 10
    with pytest.raises(ValueError):
        stratified_split(np.zeros(3), test_fraction=1.0)


def test_resize_antialiased_and_centre_cropped():
    checker = ((torch.arange(96).view(-1, 1) + torch.arange(96).view(1, -1)) % 2 * 255).to(torch.uint8)
    out = resize_images(checker.view(1, 1, 96, 96), 32)
    assert out.shape == (1, 1, 32, 32) and out.dtype == torch.uint8
    assert (out.float() - 127.5).abs().max() < 40  # antialiased: grey, not an aliased pattern
    same = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    assert resize_images(same, 32) is same
    wide = torch.zeros(1, 1, 10, 30, dtype=torch.uint8)
    wide[..., 10:20] = 255  # the centre third is white: a centre crop keeps only white
    assert resize_images(wide, 10).min() == 255


# ---------------------------------------------------------------------------------------------
# torchvision loaders on generated files


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _fake_mnist(n: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    return images, labels


def _write_idx_set(folder, prefix_images, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, n, seed in (("train", 50, 1), ("t10k", 20, 2)):
        images, labels = _fake_mnist(n, seed)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{part}-{kind}-ubyte"
            if gz:
                with gzip.open(folder / (name + ".gz"), "wb") as f:
                    f.write(_idx_bytes(arr))
            else:
                (folder / name).write_bytes(_idx_bytes(arr))
        written[part] = (images, labels)
    return written


def test_mnist_torchvision_layout(tmp_path):
    written = _write_idx_set(tmp_path / "MNIST" / "raw", "")
    ds = data.load_dataset("mnist", image_size=28, data_root=str(tmp_path), download=False)
    assert len(ds.train) == 50 and len(ds.test) == 20 and ds.channels == 1
    assert np.array_equal(ds.train.images[:, 0].numpy(), written["train"][0])
    assert np.array_equal(ds.test.labels.numpy(), written["t10k"][1])
    assert ds.report["split"] == "official train/test"
    small = data.load_dataset("mnist", image_size=16, data_root=str(tmp_path), download=False)
    assert small.train.images.shape == (50, 1, 16, 16)


def test_fashion_mnist_gzipped_raw(tmp_path):
    written = _write_idx_set(tmp_path / "FashionMNIST" / "raw", "", gz=True)
    ds = data.load_dataset("fashion-mnist", image_size=28, data_root=str(tmp_path), download=False)
    assert ds.class_names[0] == "T-shirt/top" and ds.num_classes == 10
    assert np.array_equal(ds.test.images[:, 0].numpy(), written["t10k"][0])


def test_mnist_t10k_only_special_case(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 10)
    rng.shuffle(labels)
    images = rng.integers(0, 256, (100, 28, 28), dtype=np.uint8)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(labels))  # one gzipped, one not
    ds = data.load_dataset("mnist", image_size=28, data_root=str(tmp_path), seed=0, download=True)
    assert len(ds.train) == 80 and len(ds.test) == 20
    assert np.bincount(ds.test.labels.numpy(), minlength=10).tolist() == [2] * 10
    assert "t10k" in ds.report["note"] and "80/20" in ds.report["note"]
    again = data.load_dataset("mnist", image_size=28, data_root=str(tmp_path), seed=0, download=False)
    assert torch.equal(again.test.images, ds.test.images)
    other = data.load_dataset("mnist", image_size=28, data_root=str(tmp_path), seed=1, download=False)
    assert not torch.equal(other.test.images, ds.test.images)


def test_mnist_four_files_directly_in_root(tmp_path):
    written = _write_idx_set(tmp_path, "", gz=True)
    ds = data.load_dataset("mnist", image_size=28, data_root=str(tmp_path), download=False)
    assert len(ds.train) == 50 and len(ds.test) == 20 and "note" not in ds.report
    assert np.array_equal(ds.test.images[:, 0].numpy(), written["t10k"][0])


def test_corrupt_idx_names_the_file(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    _write_idx_set(raw, "", gz=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        data.load_dataset("fashion-mnist", data_root=str(tmp_path), download=False)


def _cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return {"batch_label": "fake", "labels": (np.arange(n) % 10).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "filenames": [f"{i}.png" for i in range(n)]}


def test_cifar10_layout(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name, seed in [(f"data_batch_{i}", i) for i in range(1, 6)] + [("test_batch", 9)]:
        batches[name] = _cifar_batch(10, seed)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    meta = {"label_names": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    ds = data.load_dataset("cifar10", image_size=32, data_root=str(tmp_path), download=False)
    assert len(ds.train) == 50 and len(ds.test) == 10 and ds.channels == 3
    assert ds.class_names == meta["label_names"]
    first = batches["data_batch_1"]["data"][0].reshape(3, 32, 32)
    assert np.array_equal(ds.train.images[0].numpy(), first)
    assert ds.test.labels.tolist() == list(range(10))
    assert data.load_dataset("cifar10", image_size=16, data_root=str(tmp_path), download=False).image_size == 16


def test_cifar10_refuses_code_in_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(DataError, match="data_batch_1.*refusing"):
        data.load_dataset("cifar10", data_root=str(tmp_path), download=False)


def test_svhn_layout(tmp_path):
    import scipy.io

    rng = np.random.default_rng(0)
    for name, n in (("train_32x32.mat", 30), ("test_32x32.mat", 12)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # 1..10, 10 is the digit 0
        scipy.io.savemat(tmp_path / name, {"X": x, "y": y})
        if name.startswith("train"):
            train_x, train_y = x, y
    ds = data.load_dataset("svhn", image_size=32, data_root=str(tmp_path), download=False)
    assert len(ds.train) == 30 and len(ds.test) == 12 and ds.channels == 3
    assert ds.train.labels[:10].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert np.array_equal(ds.train.images[0].numpy(), np.transpose(train_x[..., 0], (2, 0, 1)))  # as torchvision


def test_stl10_layout(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for part, n in (("train", 10), ("test", 20)):
        x = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        images[part] = x
        x.transpose(0, 1, 3, 2).tofile(folder / f"{part}_X.bin")  # STL-10 is column-major per channel
        (np.arange(n) % 10 + 1).astype(np.uint8).tofile(folder / f"{part}_y.bin")
    (folder / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    ds = data.load_dataset("stl10", image_size=96, data_root=str(tmp_path), download=False)
    assert len(ds.train) == 10 and len(ds.test) == 20 and ds.class_names[3] == "class3"
    assert np.array_equal(ds.train.images.numpy(), images["train"])
    assert ds.test.labels[:10].tolist() == list(range(10))
    small = data.load_dataset("stl10", image_size=32, data_root=str(tmp_path), download=False)
    assert small.train.images.shape == (10, 3, 32, 32)


def test_stl10_truncated_names_file(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    for part in ("train", "test"):
        np.zeros(3 * 96 * 96 + 5, np.uint8).tofile(folder / f"{part}_X.bin")
        np.ones(1, np.uint8).tofile(folder / f"{part}_y.bin")
    with pytest.raises(DataError, match="train_X.bin"):
        data.load_dataset("stl10", data_root=str(tmp_path), download=False)


@pytest.mark.parametrize("name,looked_for", [("mnist", "train-images-idx3-ubyte"), ("fashion-mnist", "FashionMNIST"),
                                             ("cifar10", "data_batch_1"), ("svhn", "train_32x32.mat"),
                                             ("stl10", "train_X.bin")])
def test_missing_files_without_download(tmp_path, name, looked_for):
    with pytest.raises(DataError) as e:
        data.load_dataset(name, data_root=str(tmp_path), download=False)
    msg = str(e.value)
    assert looked_for in msg and str(tmp_path) in msg and "offline" in msg and "\n" not in msg


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    import urllib.error

    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution\nmore text")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    for name in ("cifar10", "mnist"):
        with pytest.raises(DataError) as e:
            data.load_dataset(name, data_root=str(tmp_path), download=True)
        msg = str(e.value)
        assert "offline" in msg and "name resolution" in msg and str(tmp_path) in msg and "\n" not in msg


def test_default_data_root_is_under_run_store(runs_dir):
    with pytest.raises(DataError) as e:
        data.load_dataset("svhn", download=False)
    assert str(runs_dir / "datasets") in str(e.value)
