"""`folder:PATH`: mixed formats and modes, skipped files, layouts, errors, the decode cache."""

import numpy as np
import pytest
import torch
from PIL import Image

import sslviz.data as data
from sslviz.core.errors import DataError
from sslviz.data import decode as decode_mod


@pytest.fixture(autouse=True)
def _fresh_cache():
    data.clear_cache()
    yield
    data.clear_cache()


def _rgb(rng, h=20, w=24):
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _grey(rng, h=20, w=20):
    return Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")


def _mixed_tree(root):
    """Two classes of mixed formats and modes, plus one corrupt image, a text file and a dotfile."""
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        _rgb(rng).save(root / cls / "a.png")
        _rgb(rng).save(root / cls / "b.jpg", quality=90)
        _rgb(rng).save(root / cls / "c.bmp")
        _rgb(rng).convert("P").save(root / cls / "d.gif")
        _rgb(rng).save(root / cls / "e.webp")
        _grey(rng).save(root / cls / "f.png")
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:8, :, 3] = 255  # top half opaque red, bottom half fully transparent (-> white)
    Image.fromarray(rgba, "RGBA").save(root / "cat" / "g_rgba.png")
    Image.fromarray(np.full((16, 16), 128 * 257, np.uint16)).save(root / "dog" / "h_16bit.png")
    (root / "dog" / "sub").mkdir()
    _rgb(rng).save(root / "dog" / "sub" / "nested.tiff")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (root / "dog" / "truncated.jpg").write_bytes((root / "dog" / "b.jpg").read_bytes()[:60])
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\1")
    return root


def test_mixed_tree(tmp_path):
    root = _mixed_tree(tmp_path / "pets")
    ds = data.load_dataset(f"folder:{root}", image_size=16, seed=0, cache_dir=str(tmp_path / "cache"))
    assert ds.class_names == ["cat", "dog"] and ds.channels == 3 and ds.image_size == 16
    n = len(ds.train) + len(ds.test)
    assert n == 7 + 8  # cat: 6 + rgba; dog: 6 + 16-bit + nested
    assert ds.train.images.dtype == torch.uint8 and ds.train.labels.dtype == torch.int64
    for split in (ds.train, ds.test):
        assert set(split.labels.tolist()) == {0, 1}
    report = ds.report
    assert report["skipped"] == 3 and not report["cached"]
    reasons = {s["path"]: s["reason"] for s in report["skipped_files"]}
    assert set(reasons) == {"cat/broken.png", "dog/truncated.jpg", "dog/notes.txt"}
    assert "not an image" in reasons["dog/notes.txt"]
    assert ds.name == f"folder:{root}"


def _only_image(ds):
    return torch.cat([ds.train.images, ds.test.images])[0]


def test_modes_converted(tmp_path):
    # RGBA composited over white, alongside one RGB image so the set is colour
    root = tmp_path / "rgba"
    (root / "a").mkdir(parents=True)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:8, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "a" / "x.png")
    ds = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(tmp_path / "c"))
    img = _only_image(ds)
    assert ds.channels == 3
    assert img[:, :8].tolist() == [[[200] * 16] * 8, [[0] * 16] * 8, [[0] * 16] * 8]
    assert (img[:, 8:] == 255).all()
    # 16-bit grey scaled, not clipped; all-grey set -> one channel
    root = tmp_path / "grey16"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 128 * 257, np.uint16)).save(root / "a" / "x.png")
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(root / "a" / "y.png")
    ds = data.load_dataset(f"folder:{root}", image_size=8, cache_dir=str(tmp_path / "c"))
    assert ds.channels == 1
    values = sorted(torch.cat([ds.train.images, ds.test.images]).unique().tolist())
    assert values == [128, 255]


def test_all_grey_is_one_channel_and_palette_grey_counts(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "grey"
    for cls in ("x", "y"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            _grey(rng).save(root / cls / f"{i}.png")
        _grey(rng).convert("RGB").save(root / cls / "rgb_but_grey.png")  # grey content in an RGB file
    ds = data.load_dataset(f"folder:{root}", image_size=12, cache_dir=str(tmp_path / "c"))
    assert ds.channels == 1 and ds.train.images.shape[1:] == (1, 12, 12)


def test_train_test_layout(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "split"
    for part, n in (("train", 4), ("test", 2)):
        for cls in ("a", "b", "c"):
            (root / part / cls).mkdir(parents=True)
            for i in range(n):
                _rgb(rng).save(root / part / cls / f"{i}.png")
    (root / "README.md").write_text("ignored: not in train/ or test/")
    ds = data.load_dataset(f"folder:{root}", image_size=8, cache_dir=str(tmp_path / "c"))
    assert ds.class_names == ["a", "b", "c"]
    assert len(ds.train) == 12 and len(ds.test) == 6
    assert np.bincount(ds.test.labels.numpy()).tolist() == [2, 2, 2]
    assert ds.report["layout"] == "train/test folders"


def test_stratified_split_and_singletons(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "strat"
    for cls, n in (("big", 10), ("pair", 2), ("single", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            _rgb(rng).save(root / cls / f"{i}.png")
    ds = data.load_dataset(f"folder:{root}", image_size=8, seed=0, cache_dir=str(tmp_path / "c"))
    names = ds.class_names
    test_counts = np.bincount(ds.test.labels.numpy(), minlength=3)
    train_counts = np.bincount(ds.train.labels.numpy(), minlength=3)
    assert test_counts[names.index("big")] == 2 and train_counts[names.index("big")] == 8
    assert test_counts[names.index("pair")] == 1 and train_counts[names.index("pair")] == 1
    assert test_counts[names.index("single")] == 0 and train_counts[names.index("single")] == 1
    again = data.load_dataset(f"folder:{root}", image_size=8, seed=0, cache_dir=str(tmp_path / "c"))
    assert again is ds
    other = data.load_dataset(f"folder:{root}", image_size=8, seed=1, cache_dir=str(tmp_path / "c"))
    assert other.report["cached"]  # same decoded arrays, another split


def test_errors(tmp_path):
    cache = str(tmp_path / "c")
    with pytest.raises(DataError, match="no such folder") as e:
        data.load_dataset(f"folder:{tmp_path / 'nope'}", cache_dir=cache)
    assert str(tmp_path / "nope") in str(e.value)
    a_file = tmp_path / "file.png"
    a_file.write_bytes(b"x")
    with pytest.raises(DataError, match="not a folder"):
        data.load_dataset(f"folder:{a_file}", cache_dir=cache)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no class subfolders") as e:
        data.load_dataset(f"folder:{empty}", cache_dir=cache)
    assert str(empty) in str(e.value)
    (empty / "cls").mkdir()
    with pytest.raises(DataError, match="no image files") as e:
        data.load_dataset(f"folder:{empty}", cache_dir=cache)
    (empty / "cls" / "junk.png").write_bytes(b"garbage")
    (empty / "cls" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no readable image") as e:
        data.load_dataset(f"folder:{empty}", cache_dir=cache)
    assert str(empty) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataError, match="no path"):
        data.load_dataset("folder:", cache_dir=cache)


def test_decompression_bomb_is_skipped(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    root = tmp_path / "bomb"
    (root / "a").mkdir(parents=True)
    _rgb(rng, 10, 10).save(root / "a" / "small.png")
    Image.new("L", (200, 200)).save(root / "a" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    ds = data.load_dataset(f"folder:{root}", image_size=8, cache_dir=str(tmp_path / "c"))
    assert len(ds.train) + len(ds.test) == 1
    assert ds.report["skipped"] == 1 and "too large" in ds.report["skipped_files"][0]["reason"]


def test_cache_file_and_no_decode_on_second_load(tmp_path, monkeypatch):
    root = _mixed_tree(tmp_path / "pets")
    cache = tmp_path / "cache"
    first = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(cache))
    files = list((cache / "folders").glob("*.npz"))
    assert len(files) == 1 and first.report["cache_file"] == str(files[0])
    data.clear_cache()  # forget the in-process copy: the next load must come from the .npz

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the folder is cached")

    monkeypatch.setattr(decode_mod, "_decode_one", no_decoding)
    second = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(cache))
    assert second.report["cached"] and second.report["skipped"] == first.report["skipped"]
    assert torch.equal(second.train.images, first.train.images) and second.class_names == first.class_names
    # any change to the folder is a new key: adding an image decodes again
    Image.new("RGB", (8, 8)).save(root / "cat" / "new.png")
    with pytest.raises(AssertionError, match="decoded although"):
        data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(cache))
    # the new contents replace the old cache file; a different image_size is another entry
    monkeypatch.undo()
    third = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(cache))
    assert not third.report["cached"] and len(third.train) + len(third.test) == len(first.train) + len(first.test) + 1
    assert [p.name for p in (cache / "folders").glob("*.npz")] == [third.report["cache_file"].rsplit("/", 1)[-1]]
    data.load_dataset(f"folder:{root}", image_size=8, cache_dir=str(cache))
    assert len(list((cache / "folders").glob("*.npz"))) == 2


def test_broken_cache_file_is_rebuilt(tmp_path):
    root = _mixed_tree(tmp_path / "pets")
    cache = tmp_path / "cache"
    first = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(cache))
    data.clear_cache()
    (cache / "folders").joinpath(first.report["cache_file"].rsplit("/", 1)[-1]).write_bytes(b"junk")
    second = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(cache))
    assert not second.report["cached"] and torch.equal(second.train.images, first.train.images)


def test_parallel_decode_matches_serial(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    root = tmp_path / "many"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(30):
            _rgb(rng, 12, 12).save(root / cls / f"{i}.jpg", quality=85)
    (root / "a" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    serial = data.load_dataset(f"folder:{root}", image_size=10, cache_dir=str(tmp_path / "c1"))
    monkeypatch.setattr(decode_mod, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(decode_mod, "_workers", lambda: 2)
    data.clear_cache()
    parallel = data.load_dataset(f"folder:{root}", image_size=10, cache_dir=str(tmp_path / "c2"))
    assert not parallel.report["cached"]
    assert torch.equal(parallel.train.images, serial.train.images)
    assert torch.equal(parallel.test.labels, serial.test.labels)
    assert parallel.report["skipped"] == 1 and parallel.report["skipped_files"][0]["path"] == "a/bad.jpg"


def test_exif_rotation_applied(tmp_path):
    root = tmp_path / "exif"
    (root / "a").mkdir(parents=True)
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels[:, :8] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(pixels).save(root / "a" / "x.jpg", exif=exif.tobytes(), quality=95)
    ds = data.load_dataset(f"folder:{root}", image_size=16, cache_dir=str(tmp_path / "c"))
    img = _only_image(ds).float()
    assert img[:, :8].mean() > 200 and img[:, 8:].mean() < 50  # white half is now on top
