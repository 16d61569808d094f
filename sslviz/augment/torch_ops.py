"""The torch-ops path of the augmentation engine (GPU, or CPU without numba).

Every op works on a whole N×C×H×W float batch with per-sample parameters broadcast over it; the
formulas are those of torchvision.transforms.v2 (see `sslviz.augment.engine` for the mapping and the
numba kernel that computes the same on CPU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Applying parameters
# ---------------------------------------------------------------------------------------------


def blur_kernel_size(size: int) -> int:
    """SimCLR's rule: about 10% of the image side, odd, at least 3."""
    k = max(3, int(size) // 10)
    return k if k % 2 == 1 else k + 1


def _to_float(images: torch.Tensor) -> torch.Tensor:
    """A fresh float32 copy in [0, 1] (uint8 is divided by 255)."""
    if images.dtype == torch.uint8:
        return images.div(255.0)
    if images.is_floating_point():
        return images.to(torch.float32, copy=True)
    raise ValueError(f"augment: images must be uint8 or float, got {images.dtype}")


def _sampling_grid(
    box: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor, H: int, W: int, out: int
) -> torch.Tensor:
    """Per-sample grid (n×out×out×2, normalised for align_corners=False) for crop+flip+rotate.

    Output pixel u maps to crop-local pixel x = clamp((u + 0.5) * w / out - 0.5, 0, w - 1), the
    half-pixel-centre rule of F.interpolate / F.resized_crop (clamped at the crop edge like
    torchvision); flip negates the offset from the crop centre, rotation turns it about the
    crop centre, and the result is normalised to the whole image. This is the affine that
    F.affine_grid would build from the crop's 2×3 matrix, plus the edge clamp.
    """
    dev = box.device
    n = box.shape[0]
    top, left, h, w = box[:, 0] * H, box[:, 1] * W, box[:, 2] * H, box[:, 3] * W
    u = torch.arange(out, device=dev, dtype=torch.float32).add_(0.5)
    lx = torch.minimum(torch.clamp_min(u[None, :] * (w / out)[:, None] - 0.5, 0.0), (w - 1)[:, None])
    lx = lx - ((w - 1) / 2)[:, None]  # n×out, offset from the crop centre, in pixels
    ly = torch.minimum(torch.clamp_min(u[None, :] * (h / out)[:, None] - 0.5, 0.0), (h - 1)[:, None])
    ly = ly - ((h - 1) / 2)[:, None]
    lx = torch.where(flip[:, None], -lx, lx)
    cx = (left + (w - 1) / 2)[:, None]
    cy = (top + (h - 1) / 2)[:, None]
    rad = angle * (math.pi / 180.0)
    c, s = torch.cos(rad)[:, None], torch.sin(rad)[:, None]
    # X = cx + c*lx - s*ly, Y = cy + s*lx + c*ly, normalised: g = (2X + 1) / W - 1; the terms that
    # depend on x only and on y only are built on n×out vectors and added by broadcasting.
    gx_x = (2.0 * (cx + c * lx) + 1.0) / W - 1.0  # n×out (x)
    gx_y = (-2.0 / W) * s * ly  # n×out (y)
    gy_y = (2.0 * (cy + c * ly) + 1.0) / H - 1.0
    gy_x = (2.0 / H) * s * lx
    grid = torch.empty(n, out, out, 2, device=dev, dtype=torch.float32)
    torch.add(gx_x[:, None, :], gx_y[:, :, None], out=grid[..., 0])
    torch.add(gy_y[:, :, None], gy_x[:, None, :], out=grid[..., 1])
    return grid


# The colour ops below take a fresh n×C×H×W float batch they may overwrite, and return the result.


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma, n×1×H×W, the same float expression as torchvision."""
    r, g, b = x.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    return x.copy_(_gray(x).expand(-1, 3, -1, -1))


def _brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision: blend with black, image * f, clamped."""
    return x.mul_(f.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def _contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision: blend with the mean of the grayscale image, clamped."""
    mean = (_gray(x) if x.shape[1] == 3 else x).mean(dim=(1, 2, 3), keepdim=True)
    return torch.lerp(mean, x, f.view(-1, 1, 1, 1), out=x).clamp_(0.0, 1.0)


def _saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision: blend with the grayscale image, clamped."""
    return torch.lerp(_gray(x), x, f.view(-1, 1, 1, 1), out=x).clamp_(0.0, 1.0)


_HUE_OFF = (3.0, 2.0, 4.0)
_HUE_SGN = (1.0, -1.0, -1.0)
_HUE_BIAS = (-1.0, 2.0, 2.0)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift hue by ``shift`` (fraction of a turn) in HSV space, like torchvision's adjust_hue.

    rgb->hsv as torchvision (the same tie-breaking: red, then green, then blue); saturation and
    value (so max and min) are unchanged by a hue shift, so hsv->rgb is
    channel = min + (max - min) * T(6H), with the hexagon's trapezoids T_R = clamp(|6H-3| - 1),
    T_G = clamp(2 - |6H-2|), T_B = clamp(2 - |6H-4|) (clamp to [0, 1]): the six-sector table of
    torchvision's _hsv_to_rgb in a few whole-batch passes.
    """
    r, g, b = x.unbind(dim=1)
    maxc = torch.maximum(r, g)
    torch.maximum(maxc, b, out=maxc)
    minc = torch.minimum(r, g)
    torch.minimum(minc, b, out=minc)
    rng = maxc - minc
    is_r = maxc == r
    is_g = (maxc == g) & ~is_r
    h6 = torch.sub(r, g).add_(rng, alpha=4.0)  # max is blue: 4 + (r - g) / range
    h6 = torch.where(is_g, torch.sub(b, r).add_(rng, alpha=2.0), h6)  # green: 2 + (b - r) / range
    h6 = torch.where(is_r, g - b, h6)  # red: (g - b) / range
    h6.div_(rng.clamp_min(1e-30))  # grey pixels: 0 / tiny = 0, any hue gives the grey back
    h6.add_(6.0 * shift.view(-1, 1, 1)).remainder_(6.0).unsqueeze_(1)
    dev = x.device
    off = torch.tensor(_HUE_OFF, device=dev).view(1, 3, 1, 1)
    sgn = torch.tensor(_HUE_SGN, device=dev).view(1, 3, 1, 1)
    bias = torch.tensor(_HUE_BIAS, device=dev).view(1, 3, 1, 1)
    t = torch.sub(h6, off, out=x).abs_()  # x's values are no longer needed: reuse its memory
    torch.addcmul(bias, t, sgn, out=t).clamp_(0.0, 1.0)
    return torch.addcmul(minc.unsqueeze(1), rng.unsqueeze(1), t, out=t)


def _solarize(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """torchvision: pixels >= threshold become 1 - pixel."""
    return torch.where(x >= t.view(-1, 1, 1, 1), 1.0 - x, x)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample Gaussian blur: reflect padding + separable grouped conv, one kernel per sample."""
    n, C, H, W = x.shape
    k = blur_kernel_size(H)
    half = k // 2
    if H <= half or W <= half:
        return x  # image too small to reflect-pad
    offs = torch.linspace(-half, half, k, device=x.device, dtype=torch.float32)
    ker = torch.softmax(-0.5 * (offs[None, :] / sigma[:, None]) ** 2, dim=1)  # n×k, sums to 1
    ker = ker.repeat_interleave(C, dim=0)  # (n*C)×k
    y = F.pad(x.reshape(1, n * C, H, W), (half, half, half, half), mode="reflect")
    y = F.conv2d(y, ker.view(n * C, 1, k, 1), groups=n * C)
    y = F.conv2d(y, ker.view(n * C, 1, 1, k), groups=n * C)
    return y.view(n, C, H, W).clamp_(0.0, 1.0)  # the kernel sums to 1; clamp float rounding (1 + 2e-7)


def _on(mask: torch.Tensor, x: torch.Tensor, fn, *args: torch.Tensor) -> torch.Tensor:
    """fn on the samples selected by mask (the whole batch at once when all are); returns the batch."""
    if bool(mask.all()):
        return fn(x, *args)
    idx = mask.nonzero().squeeze(1)
    if idx.numel() > 0:
        x.index_copy_(0, idx, fn(x.index_select(0, idx), *(a.index_select(0, idx) for a in args)))
    return x


def apply_torch(images: torch.Tensor, P: dict[str, torch.Tensor], out: int) -> torch.Tensor:
    N, C, H, W = images.shape
    # 1. crop + flip + rotation: one grid_sample over the samples that need resampling
    resample = P["crop"] | P["rotate"]
    if out != H or out != W:
        resample = torch.ones_like(resample)
    if bool(resample.all()):
        grid = _sampling_grid(P["crop_box"], P["flip"], P["angle"], H, W, out)
        src = images if images.dtype == torch.float32 else images.to(torch.float32)
        x = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if images.dtype == torch.uint8:
            x.div_(255.0)
    else:
        x = _to_float(images)
        idx = resample.nonzero().squeeze(1)
        if idx.numel() > 0:
            grid = _sampling_grid(P["crop_box"][idx], P["flip"][idx], P["angle"][idx], H, W, out)
            x.index_copy_(
                0, idx, F.grid_sample(x.index_select(0, idx), grid, "bilinear", "border", align_corners=False)
            )
        x = _on(P["flip"] & ~resample, x, lambda t: t.flip(-1))

    # 2. colour jitter: four ops in a random order per sample, only on the jittered samples
    jit = P["jitter"]
    if bool(jit.any()):
        ops = [(_brightness, P["brightness"], 1.0), (_contrast, P["contrast"], 1.0)]
        if C == 3:
            ops += [(_saturation, P["saturation"], 1.0), (_hue, P["hue"], 0.0)]
        active = [bool(((f != neutral) & jit).any()) for _, f, neutral in ops]
        order = P["jitter_order"]
        for pos in range(4):
            for op, (fn, f, _) in enumerate(ops):
                if active[op]:
                    x = _on(jit & (order[:, pos] == op), x, fn, f)

    # 3. grayscale (3 channels kept); 4. Gaussian blur, per-sample sigma; 5. solarize
    if C == 3:
        x = _on(P["gray"], x, _grayscale)
    x = _on(P["blur"], x, _blur, P["sigma"])
    x = _on(P["solarize"], x, _solarize, P["solarize_threshold"])
    return x.contiguous(memory_format=torch.channels_last)
