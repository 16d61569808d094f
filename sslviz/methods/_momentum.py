"""Momentum (EMA) networks shared by MoCo, BYOL and DINO. Not a method (the name starts with _).

A momentum network is a slowly moving average of the network being trained:

    theta_target <- m * theta_target + (1 - m) * theta_online        (He et al., 2020, MoCo, Eq. 2)

It is never touched by the optimiser (its parameters have requires_grad False) and it lives
inside the method module, so checkpoints save it with everything else. Its batch-norm buffers
are not averaged: the target network runs in training mode (batch statistics), as in the papers,
and keeps its own running statistics.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy of `module` to serve as its momentum (target / teacher / key) network."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_target <- momentum * theta_target + (1 - momentum) * theta_online, parameter by parameter."""
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError("ema_update: target and online networks have different parameters")
    torch._foreach_lerp_(t_params, [p.detach() for p in o_params], 1.0 - momentum)


def cosine_momentum(base: float, progress: float, final: float = 1.0) -> float:
    """BYOL's schedule (Grill et al., 2020, Sec. 3.2): tau = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2.

    Rises from `base` at the start (progress 0) to `final` (1.0: the target freezes) at the end.
    """
    progress = min(max(progress, 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
