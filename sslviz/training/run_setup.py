"""Everything the training loop needs before its first step, built once from a RunConfig.

set_up(config, run_dir, report) seeds the random generators, picks the device (and joins the other
processes when several train), loads the data and resolves the recipe for this kind of data ONCE
(recipes.resolve_with_data: what the config leaves open, the recipe fills), builds the method and
its optimiser and the live monitor, and returns them as one Setup. The loop in train.py reads from
it; nothing here trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sslviz.augment.engine import Pipeline
from sslviz.core import distributed
from sslviz.data.imageset import validation_split
from sslviz.evaluation.fewshot_stats import stratified_draw
from sslviz.methods import get_method
from sslviz.methods.models import build_backbone, mixed_precision, pick_device

from .config import RunConfig
from .monitor import Monitor
from .recipes import data_kind, resolve, resolve_with_data, traits


def build_resolved_method(config: RunConfig, data, device: torch.device):
    """Backbone + method for the ImageSet `data`, exactly as the (already resolved) config says."""
    pipeline = Pipeline.from_dict(config.pipeline)
    backbone = build_backbone(config.backbone, data.channels)
    method = get_method(config.method)(backbone, num_classes=data.num_classes, pipeline=pipeline,
                                       **config.method_params)
    return method.to(device, memory_format=torch.channels_last)


def build_method(config: RunConfig, data, device: torch.device):
    """The same for a config that may leave things open (the recipe for this kind of data fills them):
    for callers outside the loop, e.g. loading a stored run's checkpoint."""
    return build_resolved_method(resolve(config, data), data, device)


def prepare_model(method, config: RunConfig, device: torch.device):
    """What the loop calls: the method, its backbone compiled when asked (in place, so parameter
    names and checkpoints stay the same), wrapped in DDP when several processes train."""
    if config.compile:
        method.backbone.compile()
    return distributed.wrap(method, device)


@dataclass
class Setup:
    config: RunConfig  # resolved: every field the recipe fills is filled
    report: object  # the run's reporter (rank 0), or a silent one (the other ranks)
    device: torch.device
    world: int
    rank: int
    main: bool  # rank 0: talks to the store, writes checkpoints and snapshots
    data: object
    train_x: torch.Tensor
    train_y: torch.Tensor
    batch_size: int  # per process; the global batch is world × this
    steps_per_epoch: int
    total_steps: int
    method: object
    model: object  # the method, or DDP around it
    amp: torch.dtype | None
    scaler: torch.amp.GradScaler
    base_lr: float
    optimizer: torch.optim.Optimizer | None
    g: torch.Generator  # batch order and the monitor's subsets
    monitor: Monitor
    ckpt_path: Path


def set_up(config: RunConfig, run_dir: Path, report, silent_reporter) -> Setup:
    """Seeds, device, data (the recipe resolved once), method, optimiser and monitor, in this order
    (the order the random generators are drawn from, so that a seed gives the same run)."""
    config.validate()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    device = distributed.setup(config.device) or pick_device(config.device)
    world, rank, main = distributed.world_size(), distributed.rank(), distributed.is_main()
    if not main:
        report = silent_reporter  # only rank 0 talks to the run store

    report.progress(0.0, None, f"loading {config.dataset}")
    config, data = resolve_with_data(config)
    if config.holdout == "validation":  # choosing a budget or a recipe: the test images stay unseen
        data = validation_split(data, config.seed)
    if hasattr(report, "resolved"):  # optional in a reporter
        report.resolved(config.to_dict())
    train_x, train_y = data.train.images, data.train.labels
    if config.labels_per_class:
        keep = torch.as_tensor(stratified_draw(train_y.numpy(), config.labels_per_class, config.seed))
        train_x, train_y = train_x[keep], train_y[keep]
    batch_size = min(config.batch_size, len(train_x) // world)
    steps_per_epoch = max(1, len(train_x) // (batch_size * world))

    method = build_resolved_method(config, data, device)
    model = prepare_model(method, config, device)  # the method itself in a single process
    amp = mixed_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    method.generator = torch.Generator(device=device).manual_seed(config.seed + rank)
    base_lr = config.lr or method.default_lr
    params = list(method.optimizer_parameters())
    optimizer = torch.optim.AdamW(params, lr=base_lr, weight_decay=config.weight_decay) if params else None
    g = torch.Generator().manual_seed(config.seed)
    monitor = Monitor(data, config, run_dir, device, g)
    return Setup(config, report, device, world, rank, main, data, train_x, train_y, batch_size, steps_per_epoch,
                 steps_per_epoch * config.epochs, method, model, amp, scaler, base_lr, optimizer, g, monitor,
                 run_dir / "checkpoint.pt")


def describe(s: Setup) -> dict:
    """The summary's facts known before the first step: device, precision, data and the recipe used."""
    c = s.config
    return {"device": str(s.device), "precision": str(s.amp).replace("torch.", "") if s.amp else "fp32",
            "compiled": c.compile, "processes": s.world, "train_images": len(s.train_x),
            "test_images_scored": len(s.monitor.test_x), "knn_pixels": s.monitor.knn_pixels,
            "recipe": {"data": traits(s.data).describe(), "kind": data_kind(c, s.data).name, "backbone": c.backbone,
                       "lr": s.base_lr, "method_params": c.method_params,
                       "augmentations": Pipeline.from_dict(c.pipeline).summary()}}
