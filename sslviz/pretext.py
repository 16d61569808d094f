"""Pretext-task generators: a batch of images -> (inputs the network sees, targets it must produce).

Each generator is a pure function of the batch (and a torch.Generator for its random choices),
used by the methods for training and by the teaching page to show the task.
"""

from __future__ import annotations

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
