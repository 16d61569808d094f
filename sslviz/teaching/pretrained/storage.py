"""How a shipped checkpoint's weights are stored: small, and loadable with `weights_only=True`.

Weight matrices and convolution kernels (every floating-point tensor of 2 or more dimensions) are
stored as int8 with one float32 scale per output channel (symmetric: w ≈ q · scale, q in -127..127,
scale = max|w| of the channel / 127), under the keys `<key>` and `<key>@scale`. Everything else
(batch-norm statistics, biases, prototypes' norms...) is float16; integer buffers stay as they are.
Per-channel int8 keeps each weight within 0.4% of its channel's largest one: the kNN accuracy
re-scored at install stays within 0.01 of the build's (tests/test_zoo.py), at a quarter of float32's
size, which is what lets every method on shapes and on MNIST ship under 30 MB. Written by hand
because it is ten lines; torch's quantisation APIs produce modules, not a plain state dict.

The file itself (`save_payload`) is torch.save's bytes compressed with zlib: torch's zip archive
stores tensors uncompressed, and int8 weights still shrink by about 6% (the 38 entries: 28.7 ->
26.9 MB, 0.9 s to compress at level 9). `load_payload` reads both that and a plain torch.save file.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import torch

SCALE = "@scale"


def pack_state(state: dict) -> dict:
    """int8 per-channel weights (+ their scales), float16 for other floating tensors, integers as they are."""
    out: dict = {}
    for key, v in state.items():
        v = v.detach().cpu()
        if v.is_floating_point() and v.dim() >= 2 and v.numel() >= 64:
            amax = v.float().abs().flatten(1).amax(1).clamp(min=1e-12)
            scale = (amax / 127.0).reshape(-1, *([1] * (v.dim() - 1)))
            out[key] = torch.round(v.float() / scale).clamp_(-127, 127).to(torch.int8).contiguous()
            out[key + SCALE] = scale.contiguous()
        elif v.is_floating_point():
            out[key] = v.half().contiguous()
        else:
            out[key] = v.contiguous()
    return out


def unpack_state(packed: dict) -> dict:
    """float32 weights back from `pack_state`'s dict (also reads float16-only dicts of older builds)."""
    out: dict = {}
    for key, v in packed.items():
        if key.endswith(SCALE):
            continue
        scale = packed.get(key + SCALE)
        if scale is not None:
            out[key] = v.float() * scale.float()
        else:
            out[key] = v.float() if v.is_floating_point() else v
    return out


def save_payload(payload: dict, path: Path) -> int:
    """Write a shipped checkpoint's payload, zlib-compressed; returns its size in bytes."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = zlib.compress(buf.getvalue(), 9)
    Path(path).write_bytes(data)
    return len(data)


def load_payload(path: Path) -> dict:
    """A payload written by `save_payload`, or by a plain torch.save (older builds); weights_only."""
    data = Path(path).read_bytes()
    if not data.startswith(b"PK"):  # torch.save's zip archive starts with PK; otherwise a zlib stream
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise ValueError(f"{path}: neither a torch checkpoint nor a compressed one ({exc})") from None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
