"""The bad inputs of tests/test_bad_input.py: images and zips made by hand, each wrong in one way."""

import io
import struct
import zipfile
import zlib

import numpy as np
from conftest import zip_bytes
from PIL import Image


def img_bytes(mode="RGB", size=(12, 10), fmt="PNG", seed=0, **save) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    if mode in ("I;16", "I"):
        im = Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
    elif mode == "F":
        im = Image.fromarray(rng.random((h, w), dtype=np.float32))
    else:
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        if mode == "P":
            im = im.convert("P")
        elif mode != "RGB":
            im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **save)
    return buf.getvalue()


def png(seed=0) -> bytes:
    return img_bytes(seed=seed)


def huge_png_header(width=40_000, height=40_000) -> bytes:
    """A valid PNG header claiming width×height pixels (a decompression bomb's calling card)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [Image.new("P", (10, 10), i * 40) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def palette_with_transparency() -> bytes:
    im = Image.new("P", (10, 10), 1)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=0)
    return buf.getvalue()



def good_entries(prefix="") -> list:
    return [(f"{prefix}cat/a.png", png(1)), (f"{prefix}cat/b.png", png(2)),
            (f"{prefix}dog/c.png", png(3)), (f"{prefix}dog/d.png", png(4))]


def special(name: str, mode: int, blob=b"x") -> tuple:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return (info, blob)


def patch_headers(blob: bytes, name: str, local_at: int, central_at: int, value: bytes) -> bytes:
    """Overwrite a field of one entry's local and central headers (offsets from each header's start)."""
    raw, key = bytearray(blob), name.encode()
    for sig, at, name_at in ((b"PK\x03\x04", local_at, 30), (b"PK\x01\x02", central_at, 46)):
        i = 0
        while (i := raw.find(sig, i)) >= 0:
            if raw[i + name_at:i + name_at + len(key)] == key:
                raw[i + at:i + at + len(value)] = value
            i += 4
    return bytes(raw)


def encrypted_entry_zip() -> bytes:
    """dog/secret.png flagged as encrypted (general-purpose bit 0)."""
    return patch_headers(zip_bytes(good_entries() + [("dog/secret.png", png(9))]), "dog/secret.png", 6, 8,
                         struct.pack("<H", 0x1))


def lying_size_zip() -> bytes:
    """An entry whose headers say 100 bytes but whose data inflates to 3 MB."""
    blob = zip_bytes(good_entries() + [("cat/lie.bmp", b"\0" * 3_000_000)])
    return patch_headers(blob, "cat/lie.bmp", 22, 24, struct.pack("<I", 100))


def unsupported_method_zip() -> bytes:
    raw = bytearray(zip_bytes([("cat/a.png", png(1)), ("dog/b.png", png(2))], zipfile.ZIP_STORED))
    for sig, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = 0
        while (i := raw.find(sig, i)) >= 0:
            raw[i + method_at:i + method_at + 2] = struct.pack("<H", 99)  # AES-encrypted, unsupported
            i += 4
    return bytes(raw)
