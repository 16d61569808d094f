"""Training a network on a few labelled images: the fine-tune protocol and the supervised baseline.

    finetune   a copy of a trained backbone plus a fresh linear head, all weights trained on the
               labelled images (backbone lr 5e-4, head lr 5e-3: the head starts from nothing,
               the backbone should move only a little)
    scratch    the same recipe from random weights (lr 2e-3 everywhere): the "supervised from
               scratch" baseline of a label-efficiency experiment, on exactly the same images

The schedule is short on purpose (a label-efficiency experiment trains one network per budget and
seed): about 30 passes over the labelled images, at least 100 and at most `max_steps` steps,
AdamW with cosine decay. Batches are sampled with replacement, so even 1 label per class fills a
batch of 16 for batch norm. Mild augmentations (the dataset's default pipeline with gentle crops
and no grey/blur/solarise) keep a 10-image training set from being memorised in a few steps.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch
from torch import nn

from sslviz.augment.engine import augment

from .protocols import extract_features

FINETUNE_LR = (5e-4, 5e-3)  # (backbone, head)
SCRATCH_LR = (2e-3, 2e-3)


def finetune_pipeline(p):
    """Mild augmentations for training on a few labels: the dataset's default pipeline `p`, gentler."""
    return dataclasses.replace(p, crop_scale=(max(0.6, p.crop_scale[0]), 1.0), jitter_p=min(p.jitter_p, 0.5),
                               gray_p=0.0, blur_p=0.0, solarize_p=0.0)


def finetune_schedule(n_labelled: int, max_steps: int = 300) -> tuple[int, int]:
    """(steps, batch size): about 30 passes over the labelled images, 100 to max_steps steps."""
    batch = int(min(64, max(16, n_labelled)))
    steps = int(min(max_steps, max(100, math.ceil(30 * n_labelled / batch))))
    return max(1, steps), batch


def train_classifier(backbone: nn.Module, train_x, train_y, test_x, test_y, num_classes: int, *,
                     pipeline=None, pretrained: bool = True, seed: int = 0, max_steps: int = 300,
                     device="cpu", should_stop=None) -> float:
    """Train a copy of `backbone` plus a linear head on uint8 images; the test accuracy.

    pretrained=True is the fine-tune protocol, False the supervised-from-scratch baseline (pass a
    freshly initialised backbone). Returns NaN when `should_stop()` said stop (checked every 10
    steps), so a cancelled experiment drops the half-trained cell.
    """
    device = torch.device(device)
    torch.manual_seed(seed)
    net = copy.deepcopy(backbone).to(device, memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(True)
    head = nn.Linear(net.out_dim, num_classes).to(device)
    lr_net, lr_head = FINETUNE_LR if pretrained else SCRATCH_LR
    opt = torch.optim.AdamW([{"params": net.parameters(), "lr": lr_net},
                             {"params": head.parameters(), "lr": lr_head}], weight_decay=1e-4)
    base = [g["lr"] for g in opt.param_groups]
    train_x = torch.as_tensor(train_x)
    train_y = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    steps, batch = finetune_schedule(len(train_x), max_steps)
    g = torch.Generator().manual_seed(int(seed))
    ga = torch.Generator(device=device).manual_seed(int(seed) + 1)
    net.train()
    head.train()
    for step in range(steps):
        if should_stop is not None and step % 10 == 0 and should_stop():
            return float("nan")
        idx = torch.randint(0, len(train_x), (batch,), generator=g)
        x = train_x[idx].to(device)
        x = augment(x, pipeline, generator=ga) if pipeline is not None else x.float().div(255)
        x = x.contiguous(memory_format=torch.channels_last)
        scale = 0.5 * (1 + math.cos(math.pi * step / steps))
        for group, lr in zip(opt.param_groups, base):
            group["lr"] = lr * scale
        loss = nn.functional.cross_entropy(head(net(x)), train_y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    head.eval()
    logits = extract_features(lambda z: head(net(z)), torch.as_tensor(test_x), device)
    return float((logits.argmax(1).numpy() == np.asarray(test_y)).mean())
