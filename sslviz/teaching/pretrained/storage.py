"""How a shipped checkpoint's weights are stored: small, and loadable with `weights_only=True`.

Weight matrices and convolution kernels (every floating-point tensor of 2 or more dimensions) are
stored as int8 with one float32 scale per output channel (symmetric: w ≈ q · scale, q in -127..127,
scale = max|w| of the channel / 127), under the keys `<key>` and `<key>@scale`. Everything else
(batch-norm statistics, biases, prototypes' norms...) is float16; integer buffers stay as they are.
Per-channel int8 keeps each weight within 0.4% of its channel's largest one: the kNN accuracy
re-scored at install stays within 0.01 of the build's (tests/test_zoo.py), at a quarter of float32's
size, which is what lets every method on shapes and on MNIST ship under 30 MB. Written by hand
because it is ten lines; torch's quantisation APIs produce modules, not a plain state dict.
"""

from __future__ import annotations

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
