"""Bad input: every case gets one clear line naming the file or field, and nothing a user had is lost.

CASES below is the table: (case id, input builder, expected fragment of the one-line message).
A builder makes the input in a fresh folder and feeds it to the code a user reaches (the folder
loader behind the allow-list, the zip upload, RunConfig, the CLI) and returns the one line the
user is shown: the error's message, or for inputs that load, the load's report on one line
("<name>: N images in K classes (C channels); skipped <file>: <reason>; warning: ...").
After each case the test checks that an existing trained run and an earlier upload are untouched
(their files byte for byte, the run's row and metrics, its checkpoint still loads).
"""

import contextlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from bad_input_builders import (
    animated_gif,
    encrypted_entry_zip,
    good_entries,
    huge_png_header,
    img_bytes,
    lying_size_zip,
    palette_with_transparency,
    png,
    special,
    unsupported_method_zip,
)
from conftest import tiny_config, zip_bytes
from PIL import Image

import sslviz.data as data
from sslviz.core import access
from sslviz.core.errors import SslvizError
from sslviz.server import uploads
from sslviz.training import train, worker
from sslviz.training.config import RunConfig
from sslviz.training.runs import RunStore

# ---------------------------------------------------------------------------------------------
# What a user reaches


class Env:
    """A fresh input folder inside an allowed data root, and the store the user already has."""

    def __init__(self, tmp: Path, store: RunStore, monkeypatch):
        self.tmp, self.store, self.monkeypatch = tmp, store, monkeypatch
        self.root = tmp / "data"
        self.root.mkdir()
        monkeypatch.setenv("SSLVIZ_DATA_ROOTS", str(self.root))

    def folder(self, name: str, files: dict) -> Path:
        base = self.root / name
        base.mkdir()
        for rel, blob in files.items():
            path = base / rel
            if rel.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob() if callable(blob) else blob)
        return base

    def load(self, path) -> str:
        """folder:PATH as the trainer gets it: the allow-list check, then the loader."""
        spec = f"folder:{path}"
        access.check_dataset(spec, self.store.root)
        ds = data.load_dataset(spec, image_size=8, seed=0, cache_dir=str(self.tmp / "cache"))
        n = len(ds.train) + len(ds.test)
        parts = [f"{Path(str(path)).name}: {n} images in {len(ds.class_names)} classes ({ds.channels} channels)"]
        parts += [f"skipped {s['path']}: {s['reason']}" for s in ds.report["skipped_files"]]
        parts += [f"warning: {w}" for w in ds.report.get("warnings", [])]
        parts += [f"note: {ds.report['note']}"] if ds.report.get("note") else []
        return "; ".join(parts)

    def with_images(self, name: str, extra: dict) -> str:
        """Two good classes plus `extra` files (relative paths), loaded."""
        return self.load(self.folder(name, {"ok/a.png": png(1), "ok/b.png": png(2), "odd/c.png": png(3),
                                            "odd/d.png": png(4), **extra}))

    def upload(self, blob: bytes, name="upload.zip", **limits) -> str:
        for key, value in limits.items():
            self.monkeypatch.setenv(f"SSLVIZ_{key.upper()}", str(value))
        record = uploads.extract_zip(blob, name, self.store.root)
        line = "; ".join(s.strip() for s in uploads.report_lines(record))
        return line + "; " + self.load(record["dataset"][len("folder:"):])

    def config(self, **fields) -> str:
        base = tiny_config().to_dict()
        base.update(fields)
        RunConfig.from_dict(base)
        return "accepted"

    def experiment(self, **fields) -> str:
        """An experiment on the user's trained run, checked as the Label Efficiency page does."""
        from sslviz.experiments import label_efficiency as experiments

        run_id = next(r["id"] for r in self.store.list())
        experiments.prepare({"runs": [run_id], "labels_per_class": [1, 5], "protocols": ["knn"], "seeds": 1,
                             **fields}, self.store)
        return "accepted"

    def cli(self, *argv) -> str:
        from sslviz.cli import main as cli

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main([*argv, "--runs-dir", str(self.store.root)])
        lines = err.getvalue().strip().splitlines()
        assert code == 2 and lines, (code, err.getvalue())
        return lines[-1]

    def settings(self, text: str) -> str:
        from sslviz.core.settings import load_settings

        path = self.tmp / "sslviz.toml"
        path.write_text(text)
        load_settings(path)
        return "accepted"


def limit_pixels(env, n):
    env.monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", n)
    return env


def many_classes(n):
    return {f"class{i:04d}/x.png": png(i % 7) for i in range(n)}


# ---------------------------------------------------------------------------------------------
# THE TABLE: (case id, input builder, expected fragment of the one-line message)

CASES = [
    # images that cannot be used: skipped and named, the rest loads
    ("truncated-png", lambda e: e.with_images("t1", {"odd/t.png": png(5)[:60]}), "skipped odd/t.png: cannot decode"),
    ("truncated-jpeg", lambda e: e.with_images("t2", {"odd/t.jpg": img_bytes(fmt="JPEG", size=(64, 64))[:400]}),
     "skipped odd/t.jpg: cannot decode"),
    ("corrupt-png-body", lambda e: e.with_images("t3", {"odd/x.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 80}),
     "skipped odd/x.png: not a readable image"),
    ("random-bytes-as-png", lambda e: e.with_images("t4", {"odd/r.png": os.urandom(500)}),
     "skipped odd/r.png: not a readable image"),
    ("empty-jpeg", lambda e: e.with_images("t5", {"odd/e.jpg": b""}), "skipped odd/e.jpg: not a readable image"),
    ("html-named-jpg", lambda e: e.with_images("t6", {"odd/page.jpg": b"<html>not a photo</html>"}),
     "skipped odd/page.jpg: not a readable image"),
    ("text-file", lambda e: e.with_images("t7", {"odd/notes.txt": b"hello"}),
     "skipped odd/notes.txt: not an image file"),
    ("pdf-file", lambda e: e.with_images("t8", {"ok/scan.pdf": b"%PDF-1.4"}), "skipped ok/scan.pdf: not an image file"),
    ("file-outside-class-folders", lambda e: e.with_images("t9", {"loose.png": png(6)}),
     "skipped loose.png: not inside a class subfolder"),
    ("decompression-bomb-header", lambda e: e.with_images("b1", {"odd/bomb.png": huge_png_header()}),
     "skipped odd/bomb.png: too large"),
    ("bomb-over-lowered-pil-limit", lambda e: limit_pixels(e, 3000).with_images(
        "b2", {"odd/big.png": img_bytes(size=(80, 60))}), "skipped odd/big.png: too large: 80×60 pixels"),
    # unusual modes: converted, not rejected (every image counts)
    ("16-bit-grey-png", lambda e: e.with_images("m1", {"odd/g16.png": img_bytes("I;16")}), "5 images in 2 classes"),
    ("16-bit-tiff", lambda e: e.with_images("m2", {"odd/g16.tif": img_bytes("I;16", fmt="TIFF")}),
     "5 images in 2 classes"),
    ("palette-png", lambda e: e.with_images("m3", {"odd/p.png": img_bytes("P")}), "5 images in 2 classes (3 channels)"),
    ("palette-transparency", lambda e: e.with_images("m4", {"odd/pt.png": palette_with_transparency()}),
     "5 images in 2 classes (3 channels)"),
    ("cmyk-jpeg", lambda e: e.with_images("m5", {"odd/k.jpg": img_bytes("CMYK", fmt="JPEG")}),
     "5 images in 2 classes (3 channels)"),
    ("cmyk-tiff", lambda e: e.with_images("m6", {"odd/k.tif": img_bytes("CMYK", fmt="TIFF")}),
     "5 images in 2 classes (3 channels)"),
    ("1-bit-png", lambda e: e.with_images("m7", {"odd/bw.png": img_bytes("1")}), "5 images in 2 classes"),
    ("grey-alpha-png", lambda e: e.with_images("m8", {"odd/la.png": img_bytes("LA")}), "5 images in 2 classes"),
    ("float-tiff", lambda e: e.with_images("m9", {"odd/f.tif": img_bytes("F", fmt="TIFF")}), "5 images in 2 classes"),
    ("animated-gif", lambda e: e.with_images("m10", {"odd/anim.gif": animated_gif()}), "5 images in 2 classes"),
    ("one-pixel-image", lambda e: e.with_images("m11", {"odd/dot.png": img_bytes(size=(1, 1))}),
     "5 images in 2 classes"),
    ("panorama-3000x2", lambda e: e.with_images("m12", {"odd/pano.png": img_bytes(size=(3000, 2))}),
     "5 images in 2 classes"),
    ("png-named-jpg", lambda e: e.with_images("m13", {"odd/really_png.jpg": png(7)}), "5 images in 2 classes"),
    # folders
    ("empty-folder", lambda e: e.load(e.folder("f1", {})), "no class subfolders"),
    ("class-folders-without-files", lambda e: e.load(e.folder("f2", {"cat/": b"", "dog/": b""})), "no image files"),
    ("only-non-images", lambda e: e.load(e.folder("f3", {"cat/a.txt": b"x", "dog/b.doc": b"y"})),
     "no image files in"),
    ("only-corrupt-images", lambda e: e.load(e.folder("f4", {"cat/a.png": b"junk", "dog/b.jpg": b"junk"})),
     "no readable image in"),
    ("only-dotfiles", lambda e: e.load(e.folder("f5", {".DS_Store": b"x", ".hidden/a.png": png(1)})),
     "no class subfolders"),
    ("one-class-only", lambda e: e.load(e.folder("f6", {"solo/a.png": png(1), "solo/b.png": png(2)})),
     "warning: only one class ('solo')"),
    ("two-thousand-classes", lambda e: e.load(e.folder("f7", many_classes(2000))),
     "warning: 2,000 of 2,000 classes have a single image"),
    ("empty-class-among-good", lambda e: e.with_images("f8", {"empty/": b""}),
     "warning: 1 class folders without a readable image were left out (e.g. 'empty')"),
    ("train-test-with-empty-test", lambda e: e.load(e.folder("f9", {
        "train/cat/a.png": png(1), "train/cat/b.png": png(2), "train/dog/c.png": png(3),
        "train/dog/d.png": png(4), "test/cat/x.png": b"junk"})), "split 80/20 instead"),
    ("path-is-a-file", lambda e: e.load(e.folder("f10", {"x.png": png(1)}) / "x.png"), "is a file, not a folder"),
    ("missing-folder", lambda e: e.load(e.root / "nope"), "no such folder"),
    ("folder-outside-allowed-roots", lambda e: e.load(e.tmp), "outside the allowed data folders"),
    ("folder-escaping-with-dotdot", lambda e: e.load(e.root / ".." / ".."), "outside the allowed data folders"),
    ("empty-folder-path", lambda e: e.load(""), "no path given"),
    # uploads
    ("zip-dotdot-traversal", lambda e: e.upload(zip_bytes(good_entries() + [("../evil.png", png(5))])),
     "entry '../evil.png' points outside the upload"),
    ("zip-deep-traversal", lambda e: e.upload(zip_bytes(good_entries() + [("cat/../../../x.png", png(5))])),
     "entry 'cat/../../../x.png' points outside"),
    ("zip-backslash-traversal", lambda e: e.upload(zip_bytes(good_entries() + [("..\\..\\x.png", png(5))])),
     "points outside the upload"),
    ("zip-absolute-path", lambda e: e.upload(zip_bytes(good_entries() + [("/etc/cron.d/x.png", png(5))])),
     "entry '/etc/cron.d/x.png' has an absolute path"),
    ("zip-windows-drive-path", lambda e: e.upload(zip_bytes(good_entries() + [("C:\\Windows\\x.png", png(5))])),
     "has an absolute path"),
    ("zip-symlink-entry", lambda e: e.upload(zip_bytes(good_entries() + [special("cat/pw.png", 0o120777, b"/etc/passwd")])),
     "cat/pw.png: symbolic link: not extracted"),
    ("zip-fifo-entry", lambda e: e.upload(zip_bytes(good_entries() + [special("cat/pipe.png", 0o010644)])),
     "cat/pipe.png: not a regular file"),
    ("zip-nested-zip", lambda e: e.upload(zip_bytes(good_entries() + [("cat/more.zip", zip_bytes(good_entries()))])),
     "cat/more.zip: an archive inside the zip: not opened"),
    ("zip-nested-tar-gz", lambda e: e.upload(zip_bytes(good_entries() + [("dog/more.tar.gz", b"\x1f\x8b")])),
     "dog/more.tar.gz: an archive inside the zip"),
    ("zip-bomb-ratio", lambda e: e.upload(zip_bytes(good_entries() + [("cat/bomb.bmp", b"\0" * 30_000_000)])),
     "entry 'cat/bomb.bmp' would expand"),
    ("zip-bomb-total-size", lambda e: e.upload(zip_bytes(good_entries() + [
        (f"cat/big{i}.bmp", os.urandom(600_000)) for i in range(3)]), max_extract_mb=1),
     "would extract more than 1 MB (setting max_extract_mb)"),
    ("zip-lying-sizes", lambda e: e.upload(lying_size_zip()), "entry 'cat/lie.bmp' is corrupt"),
    ("zip-oversize-upload", lambda e: e.upload(zip_bytes(good_entries() + [("cat/big.bmp", os.urandom(1_300_000))],
                                                        zipfile.ZIP_STORED), max_upload_mb=1),
     "is over the upload limit of 1 MB (setting max_upload_mb)"),
    ("zip-too-many-files", lambda e: e.upload(zip_bytes(good_entries() * 1 + [(f"dog/x{i}.png", png(i)) for i in range(4)]),
                                              max_upload_files=5), "8 files is over the limit of 5"),
    ("not-a-zip", lambda e: e.upload(png(1), name="photo.zip"), "photo.zip: not a zip file"),
    ("empty-upload", lambda e: e.upload(b"", name="nothing.zip"), "nothing.zip: the file is empty"),
    ("truncated-zip", lambda e: e.upload(zip_bytes(good_entries())[:300], name="half.zip"), "half.zip: not a zip file"),
    ("zip-without-images", lambda e: e.upload(zip_bytes([("a/readme.txt", b"x"), ("b/data.csv", b"1,2")])),
     "no image files in the zip"),
    ("zip-flat-images", lambda e: e.upload(zip_bytes([("a.png", png(1)), ("b.png", png(2))])),
     "must be inside one folder per class"),
    ("zip-encrypted-entry", lambda e: e.upload(encrypted_entry_zip()),
     "dog/secret.png: encrypted: not extracted"),
    ("zip-duplicate-names", lambda e: e.upload(zip_bytes(good_entries() + [("cat/a.png", png(8))])),
     "cat/a.png: duplicate name in the zip"),
    ("zip-macos-metadata", lambda e: e.upload(zip_bytes(good_entries("pets/") + [("__MACOSX/pets/._a.png", b"x")])),
     "__MACOSX/pets/._a.png: hidden or macOS metadata file"),
    ("zip-control-characters", lambda e: e.upload(zip_bytes(good_entries() + [("cat/bad\x07name.png", png(5))])),
     "control characters in the name"),
    ("zip-unsupported-compression", lambda e: e.upload(unsupported_method_zip()), "unsupported compression"),
    ("zip-corrupt-image-inside", lambda e: e.upload(zip_bytes(good_entries() + [("dog/broken.png", b"junk")])),
     "skipped dog/broken.png: not a readable image"),
    # run configurations
    ("negative-batch-size", lambda e: e.config(batch_size=-5), "batch_size: must be a whole number ≥ 1, got -5"),
    ("zero-batch-size", lambda e: e.config(batch_size=0), "batch_size"),
    ("batch-size-one", lambda e: e.config(batch_size=1), "batch_size: must be at least 2"),
    ("batch-size-text", lambda e: e.config(batch_size="big"), "batch_size"),
    ("lr-zero", lambda e: e.config(lr=0), "lr: must be a positive number, got 0"),
    ("lr-negative", lambda e: e.config(lr=-0.1), "lr: must be a positive number"),
    ("lr-nan", lambda e: e.config(lr=float("nan")), "lr: must be a positive number"),
    ("lr-infinite", lambda e: e.config(lr=float("inf")), "lr: must be a positive number"),
    ("unknown-method", lambda e: e.config(method="magic"), "method: unknown 'magic'"),
    ("unknown-backbone", lambda e: e.config(backbone="vit-huge"), "backbone: unknown 'vit-huge'"),
    ("unknown-field", lambda e: e.config(learning_rate=0.1), "config: unknown field 'learning_rate'"),
    ("zero-epochs", lambda e: e.config(epochs=0), "epochs: must be a whole number ≥ 1"),
    ("fractional-epochs", lambda e: e.config(epochs=2.5), "epochs"),
    ("image-size-too-small", lambda e: e.config(image_size=4), "image_size: must be between 8 and 512"),
    ("image-size-too-large", lambda e: e.config(image_size=100_000), "image_size: must be between 8 and 512"),
    ("negative-time-budget", lambda e: e.config(time_budget=-60), "time_budget"),
    ("negative-weight-decay", lambda e: e.config(weight_decay=-1), "weight_decay"),
    ("text-seed", lambda e: e.config(seed="lucky"), "seed: must be a whole number"),
    ("unknown-device", lambda e: e.config(device="tpu"), "device: unknown 'tpu'"),
    ("labels-per-class-zero", lambda e: e.config(labels_per_class=0), "labels_per_class: must be a whole number ≥ 1, got 0"),
    ("labels-per-class-negative", lambda e: e.config(labels_per_class=-3), "labels_per_class"),
    ("method-params-not-a-mapping", lambda e: e.config(method_params=[1, 2]), "method_params"),
    ("unknown-augmentation-field", lambda e: e.config(pipeline={"wobble": 1}), "augmentation field 'wobble'"),
    ("unknown-dataset", lambda e: data.load_dataset("imagenet"), "unknown dataset 'imagenet'"),
    # label-efficiency experiments
    ("experiment-labels-per-class-zero", lambda e: e.experiment(labels_per_class=[0]),
     "labels_per_class: must be ≥ 1 (or 'all'), got 0"),
    ("experiment-labels-per-class-text", lambda e: e.experiment(labels_per_class=["lots"]),
     "labels_per_class: 'lots' is neither a whole number nor 'all'"),
    ("experiment-no-budget", lambda e: e.experiment(labels_per_class=[]), "labels_per_class: give at least one budget"),
    ("experiment-zero-seeds", lambda e: e.experiment(seeds=0), "seeds: must be a whole number from 1 to 100"),
    ("experiment-unknown-protocol", lambda e: e.experiment(protocols=["vibes"]), "protocol: unknown 'vibes'"),
    ("experiment-unknown-run", lambda e: e.experiment(runs=["no-such-run"]), "no-such-run"),
    # the command line and the settings
    ("cli-negative-batch-size", lambda e: e.cli("train", "--batch-size", "-1"), "error: batch_size"),
    ("cli-labels-per-class-zero", lambda e: e.cli("train", "--labels-per-class", "0"), "error: labels_per_class"),
    ("cli-background-folder-outside-roots", lambda e: e.cli("train", "--dataset", "folder:/etc", "--background"),
     "error: folder:/etc: outside the allowed data folders"),
    ("cli-resume-unknown-run", lambda e: e.cli("resume", "no-such-run"), "no-such-run"),
    ("settings-negative-upload-limit", lambda e: e.settings("[sslviz]\nmax_upload_mb = -1\n"),
     "setting max_upload_mb: invalid value -1"),
]


# ---------------------------------------------------------------------------------------------
# What the user already has, and the driver


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    """A store with a trained run and an earlier upload: what no bad input may damage."""
    root = tmp_path_factory.mktemp("existing") / "runs"
    store = RunStore(root)
    cfg = tiny_config(labels_per_class=8, batch_size=32, eval_train_max=100, eval_test_max=50, epochs=1)
    run_id = store.create(cfg.to_dict(), status="running")
    assert worker.execute(store, run_id, chain=False)["status"] == "completed"
    record = uploads.extract_zip(zip_bytes(good_entries("mine/")), "mine.zip", root)
    return store, run_id, record


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_table_is_big_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case,build,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, build, expected, existing, tmp_path, monkeypatch):
    store, run_id, record = existing
    monkeypatch.chdir(tmp_path)  # ./data of the working directory is an allowed root: keep it ours
    upload_dir = store.root / "uploads" / record["id"]
    run_files, upload_files = _files(store.run_dir(run_id)), _files(upload_dir)
    run_row, metrics = store.get(run_id), store.metrics(run_id)
    env = Env(tmp_path, store, monkeypatch)
    data.clear_cache()
    try:
        message = build(env)
    except SslvizError as exc:  # anything else is a crash and fails the test
        message = str(exc)
    assert expected in message, message
    assert "\n" not in message and "Traceback" not in message
    # nothing the user had is lost
    assert _files(store.run_dir(run_id)) == run_files and _files(upload_dir) == upload_files
    assert store.get(run_id) == run_row and store.metrics(run_id) == metrics
    assert train.load_checkpoint(store.run_dir(run_id) / "checkpoint.pt")["epoch"] == 1
    assert not list((store.root / "uploads").glob(".partial-*"))
    assert uploads.get_upload(record["id"], store.root)["dataset"] == record["dataset"]
    assert store.integrity_ok()
