"""Uploaded zips of class folders, extracted safely under the run store and loadable as `folder:`.

    record = extract_zip(data, "pets.zip", store_root)   # checks, extracts, returns the record
    record["dataset"]                                    # "folder:<store>/uploads/<id>/..."
    check_upload(record["id"], store_root)               # decode every image once (warms the cache)

Layout under the store: `uploads/<id>/` holds the extracted files, `uploads/<id>.json` the record
(name, owner, sizes, the skipped-files report, the decode check). Extraction goes to a hidden
`uploads/.partial-<id>/` first and is renamed into place only when every entry was written, so a
refused or failed upload leaves nothing behind and never touches an earlier upload or a run.

What is refused (UploadError, one line naming the upload and the entry; nothing is extracted):
  - an upload larger than max_upload_mb (settings), or not a zip file at all
  - more than max_upload_files entries
  - an entry whose name is absolute (`/etc/x`, `C:\\x`, `\\\\server\\x`) or climbs out with `..`
    (backslashes count as separators: zips made on Windows use them)
  - a zip bomb: an entry over 1 MB that expands more than MAX_RATIO times, or entries that would
    expand to more than max_extract_mb in all; sizes are also counted while extracting, so a
    header that lies about its size is caught too (and zipfile checks each entry's CRC)
  - images only at the top level (no class folders), or no image file at all

What is skipped and listed in the record's report (the rest of the upload is extracted):
  symbolic links and other special entries (never created), zips and archives inside the zip
  (never opened: they are how recursive zip bombs work), encrypted entries, files that are not
  images by their extension, hidden and macOS metadata files (`.DS_Store`, `__MACOSX/`),
  duplicate names, names with control characters or over the file system's length limits.

Files are created with O_EXCL | O_NOFOLLOW below a folder this module just made, and each target
is checked to resolve inside it, so no entry can write anywhere else. Images are decoded only
later, by the folder loader, with PIL's decompression-bomb limit (sslviz/data/folder.py).
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import shutil
import stat
import time
import zipfile
import zlib
from pathlib import Path

from sslviz.core.errors import SslvizError

MAX_RATIO = 200  # an entry over RATIO_MIN_BYTES expanding more than this is a zip bomb
RATIO_MIN_BYTES = 1 << 20
MAX_REPORTED = 50
CHUNK = 1 << 20
ARCHIVE_EXTENSIONS = {".zip", ".jar", ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".tar", ".zst"}
RECORD_VERSION = 1


class UploadError(SslvizError):
    """An upload was refused; nothing of it was kept."""


def uploads_dir(store_root: str | os.PathLike | None = None) -> Path:
    from sslviz.core.paths import home

    path = home(store_root) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def limits(settings=None) -> dict:
    """The limits in bytes / counts, from the settings."""
    from sslviz.core.settings import load_settings

    s = settings or load_settings()
    return {"max_bytes": s.max_upload_mb * 1024 * 1024, "max_files": s.max_upload_files,
            "max_extract_bytes": s.max_extract_mb * 1024 * 1024, "max_upload_mb": s.max_upload_mb,
            "max_extract_mb": s.max_extract_mb}


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MB"


def _slug(name: str) -> str:
    stem = Path(name.replace("\\", "/")).name
    stem = stem[:-4] if stem.lower().endswith(".zip") else stem
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:24].strip("-")
    return slug or "upload"


# ---------------------------------------------------------------------------------------------
# Entry names


def _entry_parts(upload: str, raw: str) -> list[str]:
    """The safe relative path of an entry as parts; raises UploadError for absolute or climbing names."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UploadError(f"{upload}: entry '{raw}' has an absolute path; nothing was extracted")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UploadError(f"{upload}: entry '{raw}' points outside the upload (path traversal with '..'); "
                          "nothing was extracted")
    return parts


def _skip_reason(info: zipfile.ZipInfo, parts: list[str], image_extensions) -> str | None:
    """Why this (safe-named) entry is not extracted, or None to extract it."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if parts and parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return "hidden or macOS metadata file: ignored"
    if kind == stat.S_IFLNK:
        return "symbolic link: not extracted (links could point anywhere)"
    if kind not in (0, stat.S_IFREG):
        return "not a regular file: not extracted"
    if any(ord(c) < 32 or c == "\x7f" for c in info.filename):
        return "control characters in the name: not extracted"
    if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts) or len(info.filename) > 1024:
        return "name too long for the file system: not extracted"
    ext = os.path.splitext(parts[-1])[1].lower()
    if ext in ARCHIVE_EXTENSIONS:
        return "an archive inside the zip: not opened (unzip it into class folders first)"
    if info.flag_bits & 0x1:
        return "encrypted: not extracted"
    if ext not in image_extensions:
        return "not an image file (by its extension)"
    return None


# ---------------------------------------------------------------------------------------------
# Extraction


def _read_zip(data, upload: str, lim: dict) -> tuple[zipfile.ZipFile, int]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        fh = io.BytesIO(bytes(data))
    else:
        fh = data
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    if size > lim["max_bytes"]:
        raise UploadError(f"{upload}: {_mb(size)} is over the upload limit of {lim['max_upload_mb']} MB "
                          "(setting max_upload_mb); nothing was extracted")
    if size == 0:
        raise UploadError(f"{upload}: the file is empty")
    try:
        return zipfile.ZipFile(fh), size
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadError(f"{upload}: not a zip file ({str(exc).splitlines()[0][:120] or type(exc).__name__})") from None


def _plan(zf: zipfile.ZipFile, upload: str, lim: dict):
    """Check every entry; returns (to extract: [(info, parts)], skipped: [(name, reason)])."""
    from sslviz.data.folder import IMAGE_EXTENSIONS

    infos = zf.infolist()
    files = [i for i in infos if not i.is_dir()]
    if len(files) > lim["max_files"]:
        raise UploadError(f"{upload}: {len(files):,} files is over the limit of {lim['max_files']:,} "
                          "(setting max_upload_files); nothing was extracted")
    todo, skipped, seen, total = [], [], set(), 0
    for info in files:
        parts = _entry_parts(upload, info.filename)
        if not parts:
            continue
        reason = _skip_reason(info, parts, IMAGE_EXTENSIONS)
        key = "/".join(parts)
        if reason is None and key in seen:
            reason = "duplicate name in the zip: the first one was kept"
        if reason:
            skipped.append((info.filename, reason))
            continue
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise UploadError(f"{upload}: entry '{info.filename}' would expand {info.file_size / max(1, info.compress_size):,.0f}× "
                              f"(to {_mb(info.file_size)}): a zip bomb; nothing was extracted")
        total += info.file_size
        if total > lim["max_extract_bytes"]:
            raise UploadError(f"{upload}: would extract more than {lim['max_extract_mb']} MB (setting max_extract_mb); "
                              "nothing was extracted")
        seen.add(key)
        todo.append((info, parts))
    return todo, skipped


def _write_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, base: Path, upload: str,
                 budget: list[int]) -> int:
    """Stream one entry into target (a new file); returns the bytes written."""
    if not os.path.realpath(target).startswith(os.path.realpath(base) + os.sep):
        raise UploadError(f"{upload}: entry '{info.filename}' points outside the upload; nothing was extracted")
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    written = 0
    with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o644), "wb") as dst:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            budget[0] -= len(chunk)
            if written > info.file_size or budget[0] < 0:
                raise UploadError(f"{upload}: entry '{info.filename}' expands past its stated size or the "
                                  "extraction limit: a zip bomb; nothing was extracted")
            dst.write(chunk)
    return written


def _dataset_root(base: Path, upload: str, image_extensions) -> Path:
    """The folder that holds the class folders: descend through lone wrapper folders (pets.zip/pets/cat/...)."""
    root = base
    while True:
        entries = [e for e in root.iterdir() if not e.name.startswith(".")]
        dirs = [e for e in entries if e.is_dir()]
        images = [e for e in entries if e.is_file() and e.suffix.lower() in image_extensions]
        if len(dirs) == 1 and not images and any(d.is_dir() for d in dirs[0].iterdir()):
            root = dirs[0]
            continue
        if images and not dirs:
            raise UploadError(f"{upload}: the {len(images)} images must be inside one folder per class "
                              f"(e.g. cat/1.png, dog/2.png), not at the top level of the zip")
        return root


def extract_zip(data, name: str, store_root: str | os.PathLike | None = None, owner: str = "",
                settings=None) -> dict:
    """Check and extract an uploaded zip (bytes or a binary file object) under the store's uploads
    folder; returns its record. Raises UploadError with one line; nothing is kept then."""
    from sslviz.core.files import atomic_write_text
    from sslviz.data.folder import IMAGE_EXTENSIONS

    upload = Path(str(name).replace("\\", "/")).name or "upload.zip"
    lim = limits(settings)
    zf, size = _read_zip(data, upload, lim)
    with zf:
        todo, skipped = _plan(zf, upload, lim)
        if not todo:
            example = f"; e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
            raise UploadError(f"{upload}: no image files in the zip ({len(skipped)} other entries{example})")
        folder = uploads_dir(store_root)
        upload_id = f"{_slug(upload)}-{secrets.token_hex(3)}"
        partial = folder / f".partial-{upload_id}"
        try:
            partial.mkdir()
        except OSError as exc:
            raise UploadError(f"{upload}: cannot write to the run store's uploads folder "
                              f"({exc.strerror or exc}); nothing was extracted") from None
        try:
            budget, written, count = [lim["max_extract_bytes"]], 0, 0
            for info, parts in todo:
                try:
                    written += _write_entry(zf, info, partial.joinpath(*parts), partial, upload, budget)
                    count += 1
                except FileExistsError:  # a file and a folder of the same name, or names equal on this disk
                    skipped.append((info.filename, "clashes with another entry's name: not extracted"))
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    raise UploadError(f"{upload}: entry '{info.filename}' is corrupt ({str(exc)[:100]}); "
                                      "nothing was extracted") from None
                except NotImplementedError as exc:
                    raise UploadError(f"{upload}: entry '{info.filename}' uses an unsupported compression "
                                      f"({exc}); nothing was extracted") from None
                except OSError as exc:
                    if exc.errno == errno.ENAMETOOLONG:
                        skipped.append((info.filename, "name too long for the file system: not extracted"))
                        continue
                    raise UploadError(f"{upload}: cannot write to the run store's uploads folder "
                                      f"({exc.strerror or exc}); nothing was extracted") from None
            root = _dataset_root(partial, upload, IMAGE_EXTENSIONS)
            rel = root.relative_to(partial)
            final = folder / upload_id
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    dataset_path = final / rel
    record = {
        "version": RECORD_VERSION, "id": upload_id, "name": upload, "owner": owner, "created": time.time(),
        "zip_bytes": size, "extracted_files": count,
        "extracted_bytes": written, "root": str(rel) if str(rel) != "." else "",
        "dataset": f"folder:{dataset_path}", "classes": _class_counts(dataset_path, IMAGE_EXTENSIONS),
        "skipped": len(skipped),
        "skipped_files": [{"path": p, "reason": r} for p, r in skipped[:MAX_REPORTED]],
        "check": None,
    }
    try:
        atomic_write_text(folder / f"{upload_id}.json", json.dumps(record, indent=1))
    except OSError as exc:
        shutil.rmtree(final, ignore_errors=True)
        raise UploadError(f"{upload}: cannot write its record ({getattr(exc, 'strerror', None) or exc})") from None
    return record


def _class_counts(root: Path, image_extensions) -> dict[str, int]:
    counts = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        counts[d.name] = sum(1 for f in d.rglob("*") if f.is_file() and f.suffix.lower() in image_extensions)
    return counts


# ---------------------------------------------------------------------------------------------
# Records


def get_upload(upload_id: str, store_root: str | os.PathLike | None = None) -> dict:
    if not re.fullmatch(r"[a-z0-9-]{1,40}", str(upload_id)):
        raise UploadError(f"upload '{upload_id}': not an upload id")
    path = uploads_dir(store_root) / f"{upload_id}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UploadError(f"upload '{upload_id}': no such upload in {path.parent}") from None
    except (OSError, ValueError) as exc:
        raise UploadError(f"upload '{upload_id}': its record {path} cannot be read ({exc})") from None


def list_uploads(store_root: str | os.PathLike | None = None) -> list[dict]:
    """Every upload's record, newest first (a broken record is left out, never fatal)."""
    out = []
    folder = uploads_dir(store_root)
    for path in folder.glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (folder / record.get("id", "")).is_dir():
            out.append(record)
    return sorted(out, key=lambda r: r.get("created", 0), reverse=True)


def delete_upload(upload_id: str, store_root: str | os.PathLike | None = None) -> None:
    get_upload(upload_id, store_root)
    folder = uploads_dir(store_root)
    (folder / f"{upload_id}.json").unlink(missing_ok=True)
    shutil.rmtree(folder / upload_id, ignore_errors=True)


def check_upload(upload_id: str, store_root: str | os.PathLike | None = None, image_size: int = 32) -> dict:
    """Decode every image of an upload once (the folder loader's report: skipped files, warnings)
    and store the outcome in its record; the decoded set stays in the cache for training. The image
    size and the channels are held to the dataset registry's limits (sslviz/data/registry.py)."""
    from sslviz.core.files import atomic_write_text
    from sslviz.core.paths import cache_dir
    from sslviz.data import CHANNELS, check_image_size, load_dataset

    record = get_upload(upload_id, store_root)
    image_size = check_image_size(f"upload {upload_id}", image_size)  # the registry's limits, as for any set
    try:
        ds = load_dataset(record["dataset"], image_size=image_size, seed=0, cache_dir=str(cache_dir(store_root)))
        if ds.channels not in CHANNELS:
            raise UploadError(f"{record['name']}: decoded to {ds.channels} channels; a dataset has one of {CHANNELS}")
        rep = ds.report
        record["check"] = {"ok": True, "images": rep.get("n"), "classes": len(ds.class_names),
                           "channels": ds.channels, "skipped": rep.get("skipped", 0),
                           "skipped_files": rep.get("skipped_files", []), "warnings": rep.get("warnings", []),
                           "image_size": image_size}
    except SslvizError as exc:
        record["check"] = {"ok": False, "error": str(exc)}
    atomic_write_text(uploads_dir(store_root) / f"{upload_id}.json", json.dumps(record, indent=1))
    return record


def report_lines(record: dict) -> list[str]:
    """The record as short lines for the UI and the CLI: what was extracted, what was skipped and why."""
    classes = record.get("classes", {})
    lines = [f"{record['name']}: {record['extracted_files']:,} images in {len(classes)} class folders "
             f"({', '.join(f'{k} {v}' for k, v in list(classes.items())[:8])}{', …' if len(classes) > 8 else ''})"]
    if record.get("skipped"):
        n = record["skipped"]
        lines.append(f"{n} {'entry' if n == 1 else 'entries'} not extracted:")
        lines += [f"  {s['path']}: {s['reason']}" for s in record.get("skipped_files", [])]
    check = record.get("check")
    if check and check.get("ok"):
        lines.append(f"decoded {check['images']:,} images ({check['channels']} channels)"
                     + (f"; {check['skipped']} could not be used:" if check["skipped"] else ""))
        lines += [f"  {s['path']}: {s['reason']}" for s in check.get("skipped_files", [])]
        lines += [f"note: {w}" for w in check.get("warnings", [])]
    elif check:
        lines.append(f"error: {check['error']}")
    return lines
