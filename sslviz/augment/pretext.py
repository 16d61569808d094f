"""Pretext-task generators: a batch of images -> (inputs the network sees, targets it must produce).

Each generator is a pure function of the batch (and a torch.Generator for its random choices),
used by the methods for training and by the teaching page to show the task.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
import torch


def rotation_task(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RotNet (Gidaris et al., 2018): every image in all 4 rotations (0, 90, 180, 270 degrees).

    Returns inputs 4N×C×H×W (grouped by angle: the N images at 0°, then at 90°, ...) and targets
    4N in {0, 1, 2, 3} (the number of quarter turns, counter-clockwise). Images must be square.
    """
    rotated = [torch.rot90(images, k, dims=(-2, -1)) for k in range(4)]
    targets = torch.arange(4, device=images.device).repeat_interleave(images.shape[0])
    return torch.cat(rotated), targets


def undo_rotation(inputs: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Rotate each image back by its number of quarter turns (used to check a task and to show answers)."""
    return torch.stack([torch.rot90(x, -int(k), dims=(-2, -1)) for x, k in zip(inputs, quarter_turns)])


# --- jigsaw (Noroozi & Favaro, 2016) ----------------------------------------------------------


def jigsaw_grid(size: int) -> int:
    """Tiles per side for an image of `size` pixels: 2×2 up to 32 px (16 px tiles), 3×3 above."""
    return 2 if size <= 32 else 3


@lru_cache(maxsize=8)
def _jigsaw_permutations(grid: int, count: int, seed: int) -> torch.Tensor:
    perms = np.array(list(itertools.permutations(range(grid * grid))), dtype=np.int8)
    if count >= len(perms):
        return torch.from_numpy(perms.astype(np.int64))
    # Noroozi & Favaro (2016), Alg. 1: greedily add the permutation whose smallest Hamming
    # distance to those already chosen is largest, so that no two classes look nearly alike.
    first = int(np.random.default_rng(seed).integers(len(perms)))
    chosen = [first]
    nearest = (perms != perms[first]).sum(1)
    for _ in range(count - 1):
        best = int(nearest.argmax())
        chosen.append(best)
        nearest = np.minimum(nearest, (perms != perms[best]).sum(1))
    return torch.from_numpy(perms[chosen].astype(np.int64))


def jigsaw_permutations(grid: int = 2, count: int | None = None, seed: int = 0) -> torch.Tensor:
    """The fixed set of tile orders (P × grid², long), deterministic from the seed.

    2×2: all 24 permutations. 3×3: `count` (default 64) of the 9! orders chosen by maximal
    minimum Hamming distance (Noroozi & Favaro 2016, Alg. 1). Row p, position i: which tile of
    the original image is shown at position i (reading order).
    """
    n_all = math.factorial(grid * grid)
    count = min(count or (n_all if grid == 2 else 64), n_all)
    return _jigsaw_permutations(grid, count, seed).clone()


def split_tiles(images: torch.Tensor, grid: int) -> torch.Tensor:
    """N×C×H×W -> N × grid² × C × H/grid × W/grid, tiles in reading order."""
    n, c, h, w = images.shape
    if h % grid or w % grid:
        raise ValueError(f"jigsaw: image size {h}×{w} is not divisible by the {grid}×{grid} grid")
    t = images.reshape(n, c, grid, h // grid, grid, w // grid).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(n, grid * grid, c, h // grid, w // grid)  # N × T × C × th × tw, reading order


def join_tiles(tiles: torch.Tensor, grid: int) -> torch.Tensor:
    """The inverse of `split_tiles`."""
    n, _, c, th, tw = tiles.shape
    return tiles.reshape(n, grid, grid, c, th, tw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, grid * th, grid * tw)


def jigsaw_task(
    images: torch.Tensor, permutations: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Jigsaw puzzles (Noroozi & Favaro, 2016): each image cut into a grid of tiles, the tiles
    shuffled by one of `permutations` (P × T); the target is that permutation's index.

    Returns inputs N×C×H×W (the shuffled image; position i shows original tile perm[i]) and
    targets N in [0, P). The shuffle is exact (no gap, no resampling), so `undo_jigsaw` restores
    the images bit for bit; the method adds the gap/jitter against shortcuts when it cuts tiles.
    """
    grid = math.isqrt(permutations.shape[1])
    targets = torch.randint(len(permutations), (images.shape[0],), generator=generator, device=images.device)
    order = permutations.to(images.device)[targets]
    tiles = split_tiles(images, grid)
    rows = torch.arange(images.shape[0], device=images.device)[:, None]
    return join_tiles(tiles[rows, order], grid), targets


def undo_jigsaw(inputs: torch.Tensor, targets: torch.Tensor, permutations: torch.Tensor) -> torch.Tensor:
    """Put every tile back where it came from: the exact inverse of `jigsaw_task`."""
    grid = math.isqrt(permutations.shape[1])
    inverse = permutations.to(inputs.device)[targets].argsort(dim=1)
    rows = torch.arange(inputs.shape[0], device=inputs.device)[:, None]
    return join_tiles(split_tiles(inputs, grid)[rows, inverse], grid)


# --- relative patch position (Doersch et al., 2015) --------------------------------------------

# The 8 neighbours of the centre cell of a 3×3 grid, in reading order: (row offset, column offset).
RELATIVE_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
RELATIVE_NAMES = ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")


def relative_position_layout(size: int, gap: int = 2) -> tuple[int, int, int]:
    """(cell, patch, origin): the image holds a 3×3 grid of `cell`-pixel cells starting at pixel
    `origin`; each patch is `patch` = cell - gap pixels, centred in its cell, so neighbouring
    patches never touch (Doersch et al.'s gap)."""
    cell = size // 3
    patch = cell - gap
    if patch < 2:
        raise ValueError(f"relative position: {size}-px images are too small for a gap of {gap}")
    return cell, patch, (size - 3 * cell) // 2


def crop_at(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """Per-image square crops: N×C×size×size from top-left corners (top[i], left[i])."""
    ar = torch.arange(size, device=images.device)
    rows = (top[:, None] + ar)[:, :, None]  # N × s × 1
    cols = (left[:, None] + ar)[:, None, :]  # N × 1 × s
    n = torch.arange(images.shape[0], device=images.device)[:, None, None]
    return images.permute(0, 2, 3, 1)[n, rows, cols].permute(0, 3, 1, 2)


def relative_position_task(
    images: torch.Tensor, generator: torch.Generator | None = None, gap: int = 2, jitter: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Context prediction (Doersch, Gupta, Efros, 2015): the centre patch of a 3×3 grid and one of
    its 8 neighbours; the target (0..7, see RELATIVE_OFFSETS) says which neighbour it is.

    Patches are cell - gap pixels (see `relative_position_layout`); with `jitter` > 0 each patch is
    moved independently by up to `jitter` pixels (kept inside the image), as in the paper, so
    that lining up edges or textures across the gap does not solve the task.
    Returns centre N×C×p×p, neighbour N×C×p×p, targets N.
    """
    n, size, dev = images.shape[0], images.shape[-1], images.device
    cell, patch, origin = relative_position_layout(size, gap)
    targets = torch.randint(8, (n,), generator=generator, device=dev)
    offsets = torch.tensor(RELATIVE_OFFSETS, device=dev)[targets]  # N × 2

    def corner(cell_rc: torch.Tensor) -> torch.Tensor:  # N × 2 top-left corner of a patch
        at = origin + cell_rc * cell + gap // 2
        if jitter:
            at = at + torch.randint(-jitter, jitter + 1, at.shape, generator=generator, device=dev)
        return at.clamp(0, size - patch)

    c = corner(torch.ones(n, 2, dtype=torch.long, device=dev))
    b = corner(1 + offsets)
    return crop_at(images, c[:, 0], c[:, 1], patch), crop_at(images, b[:, 0], b[:, 1], patch), targets


# --- colorization (Zhang et al., 2016) ---------------------------------------------------------

LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601-2, the same weights as the grayscale augmentation


def colorization_task(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grayscale in, colour out: float RGB images N×3×H×W -> (luma N×1×H×W, chroma N×2×H×W).

    Chroma is (B - Y, R - Y), the two colour-difference channels of YCbCr without its scaling
    (the analogue of Lab's a/b). `combine_luma_chroma` puts the colour back exactly.
    """
    r, g, b = images.float().unbind(1)
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    return y[:, None], torch.stack([b - y, r - y], 1)


def combine_luma_chroma(luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """RGB from luma N×1×H×W and chroma N×2×H×W (the inverse of `colorization_task`)."""
    y = luma[:, 0]
    b, r = y + chroma[:, 0], y + chroma[:, 1]
    g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
    return torch.stack([r, g, b], 1)


# --- masking and noise (Pathak et al., 2016; He et al., 2022; Vincent et al., 2008) ------------


def mask_patches(
    images: torch.Tensor, patch: int, ratio: float, generator: torch.Generator | None = None, fill: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide `ratio` of the patch×patch squares of every image (MAE-style random masking).

    Exactly round(ratio × number of patches) squares per image are hidden, chosen uniformly (the
    lowest of per-patch random keys, as MAE does). Returns the masked float images (hidden pixels
    set to `fill`, mid-grey by default) and the mask N×1×H×W (1 = hidden, 0 = visible). When the
    size is not a multiple of `patch` (28-px digits, 8-px patches) the last row and column of
    patches are cut short by the border.
    """
    n, _, h, w = images.shape
    gh, gw = -(-h // patch), -(-w // patch)
    hidden = round(ratio * gh * gw)
    keys = torch.rand(n, gh * gw, generator=generator, device=images.device)
    rank = keys.argsort(1).argsort(1)
    grid = (rank < hidden).float().reshape(n, 1, gh, gw)
    mask = grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)[:, :, :h, :w]
    x = images.float()
    return x * (1 - mask) + fill * mask, mask


def denoising_task(
    images: torch.Tensor, sigma: float = 0.2, drop: float = 0.2, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Denoising autoencoder corruption (Vincent et al., 2008): float images in [0, 1] ->
    (noisy, clean). Additive Gaussian noise of std `sigma`, then masking noise: each pixel
    (all channels together) set to 0 with probability `drop`; the result is clipped to [0, 1]."""
    x = images.float()
    noisy = x + sigma * torch.randn(x.shape, generator=generator, device=x.device)
    keep = torch.rand((x.shape[0], 1, *x.shape[2:]), generator=generator, device=x.device) >= drop
    return (noisy * keep).clamp(0, 1), x
