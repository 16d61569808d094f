"""The training loop: RunConfig -> run directory. No Streamlit here; the worker process calls `run`.

    data -> method.step (augment -> forward -> loss) -> backward -> optimiser -> report

Every epoch (and once before the first step, so curves start at the untrained network) it scores
the backbone with the weighted kNN monitor on the held-out split, measures the collapse gauge,
saves test-set embeddings (every `snapshot_every` epochs) and writes the checkpoint atomically.
Training stops at the epoch budget, the wall-clock budget (`time_budget`, evaluation included),
or when the reporter says the user asked it to stop.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
import torch

from .augment import Pipeline, default_pipeline
from .config import RunConfig
from .data import load_dataset
from .errors import SslvizError
from .evaluate import collapse_std, extract_features, knn_accuracy
from .methods import get_method
from .models import build_backbone, pick_device
from .runs import atomic_write_bytes


class Diverged(SslvizError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Reporter:
    """Where the trainer sends what it measures. This base version keeps everything in memory."""

    def __init__(self):
        self.rows: list[tuple[int, float, float, str, float]] = []
        self.last_progress = (0.0, None, "")

    def metrics(self, step: int, epoch: float, elapsed: float, values: dict[str, float]) -> None:
        self.rows += [(step, epoch, elapsed, k, float(v)) for k, v in values.items()]

    def progress(self, fraction: float, eta: float | None, message: str = "") -> None:
        self.last_progress = (fraction, eta, message)

    def should_stop(self) -> bool:
        return False

    def flush(self) -> None:
        pass


def lr_at(progress: float, base_lr: float, warmup: float = 0.05) -> float:
    """Linear warm-up over the first 5% of the budget, then cosine decay to zero."""
    if progress < warmup:
        return base_lr * (progress + 1e-3) / warmup
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def stratified_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of `per_class` images of each class (all of a class when it has fewer), from the seed."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picks).sort().values


def build_method(config: RunConfig, channels: int, num_classes: int, device: torch.device):
    """Backbone + method, as the config says, on the device."""
    pipeline = Pipeline.from_dict(config.pipeline) if config.pipeline else default_pipeline(config.dataset)
    backbone = build_backbone(config.backbone, channels)
    method = get_method(config.method)(backbone, num_classes=num_classes, pipeline=pipeline, **config.method_params)
    return method.to(device, memory_format=torch.channels_last)


def save_checkpoint(path: Path, method, optimizer, epoch: int, step: int, config: RunConfig) -> None:
    buf = io.BytesIO()
    state = {
        "model": method.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "epoch": epoch,
        "step": step,
        "config": config.to_dict(),
    }
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint safely: tensors and plain data only (weights_only=True, no pickled code)."""
    return torch.load(path, map_location=device, weights_only=True)


def run(config: RunConfig, run_dir: str | Path, report: Reporter | None = None) -> dict:
    """Train one run into run_dir and return its summary."""
    config.validate()
    report = report or Reporter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    device = pick_device(config.device)

    report.progress(0.0, None, f"loading {config.dataset}")
    data = load_dataset(config.dataset, image_size=config.image_size, data_root=config.data_root, seed=config.seed)
    train_x, train_y = data.train.images, data.train.labels
    if config.labels_per_class:
        keep = stratified_subset(train_y, config.labels_per_class, config.seed)
        train_x, train_y = train_x[keep], train_y[keep]
    batch_size = min(config.batch_size, len(train_x))
    steps_per_epoch = max(1, len(train_x) // batch_size)
    total_steps = steps_per_epoch * config.epochs

    method = build_method(config, data.channels, data.num_classes, device)
    method.generator = torch.Generator(device=device).manual_seed(config.seed)
    base_lr = config.lr or method.default_lr
    params = list(method.optimizer_parameters())
    optimizer = torch.optim.AdamW(params, lr=base_lr, weight_decay=config.weight_decay) if params else None

    # The live monitor scores a fixed subset of both splits, the same one every epoch.
    g = torch.Generator().manual_seed(config.seed)
    bank_idx = torch.randperm(len(data.train), generator=g)[: config.eval_train_max].sort().values
    test_idx = torch.randperm(len(data.test), generator=g)[: config.eval_test_max].sort().values
    bank_x, bank_y = data.train.images[bank_idx], data.train.labels[bank_idx]
    test_x, test_y = data.test.images[test_idx], data.test.labels[test_idx]
    labelled = bool((bank_y >= 0).any())

    def flat_pixels(x):
        return x.flatten(1).float()

    start = time.perf_counter()
    train_seconds, images_seen, step, epoch = 0.0, 0, 0, 0
    summary: dict = {"device": str(device), "train_images": len(train_x), "test_images_scored": len(test_x)}
    if labelled:
        summary["knn_pixels"] = knn_accuracy(flat_pixels(bank_x), bank_y, flat_pixels(test_x), test_y, data.num_classes)

    def evaluate(epoch: int) -> dict:
        method.eval()
        bank_f = extract_features(method.embed, bank_x, device)
        test_f = extract_features(method.embed, test_x, device)
        method.train()
        values = {"collapse_std": collapse_std(test_f)}
        if labelled:
            values["knn_accuracy"] = knn_accuracy(bank_f, bank_y, test_f, test_y, data.num_classes)
            values["knn_pixels"] = summary["knn_pixels"]
        if epoch % config.snapshot_every == 0 or epoch == config.epochs:
            buf = io.BytesIO()
            np.savez(buf, features=test_f.numpy().astype(np.float16), labels=test_y.numpy(), index=test_idx.numpy())
            atomic_write_bytes(run_dir / f"embeddings_{epoch:04d}.npz", buf.getvalue())
        report.metrics(step, epoch, time.perf_counter() - start, values)
        report.flush()
        return values

    method.prepare(train_x)
    first = evaluate(0)
    summary["knn_random_init"] = first.get("knn_accuracy")
    last_eval, stopped_by = first, "epochs"
    last_report = time.perf_counter()
    method.train()
    if not method.trainable:  # a baseline: nothing to learn; score it once and save it
        save_checkpoint(run_dir / "checkpoint.pt", method, optimizer, 0, 0, config)
        stopped_by = "nothing to train"
    while epoch < config.epochs and stopped_by == "epochs":
        method.on_epoch_start(epoch, train_x)
        perm = torch.randperm(len(train_x), generator=g)
        for i in range(steps_per_epoch):
            t0 = time.perf_counter()
            elapsed = t0 - start
            progress = step / total_steps
            if config.time_budget:
                progress = max(progress, elapsed / config.time_budget)
            if progress >= 1.0 and step > 0:
                stopped_by = "time"
                break
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x, y = train_x[idx].to(device, non_blocking=True), train_y[idx].to(device, non_blocking=True)
            lr = lr_at(progress, base_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, values = method.step(x, y, idx)
            if not torch.isfinite(loss):
                raise Diverged(
                    f"loss became {loss.item()} at step {step}: training stopped; the last good "
                    f"checkpoint (epoch {epoch}) is kept. Try a lower lr."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            method.after_step(progress)
            step += 1
            images_seen += len(idx)
            train_seconds += time.perf_counter() - t0
            now = time.perf_counter()
            if now - last_report > 0.5 or i == steps_per_epoch - 1:
                values.update(lr=lr, images_per_second=images_seen / max(train_seconds, 1e-9))
                report.metrics(step, epoch + (i + 1) / steps_per_epoch, now - start, values)
                eta = (now - start) / max(progress, 1e-6) * (1 - progress) if progress > 0 else None
                report.progress(progress, eta, f"epoch {epoch + 1}/{config.epochs}")
                last_report = now
                if report.should_stop():
                    stopped_by = "user"
                    break
        epoch += 1
        last_eval = evaluate(epoch)
        save_checkpoint(run_dir / "checkpoint.pt", method, optimizer, epoch, step, config)
        if config.time_budget and time.perf_counter() - start >= config.time_budget:
            stopped_by = "time"
    report.progress(1.0, 0.0, f"finished: {stopped_by}")
    report.flush()
    summary.update(
        epochs=epoch,
        steps=step,
        seconds=round(time.perf_counter() - start, 2),
        train_seconds=round(train_seconds, 2),
        images_per_second=round(images_seen / max(train_seconds, 1e-9), 1),
        knn_accuracy=last_eval.get("knn_accuracy"),
        collapse_std=last_eval.get("collapse_std"),
        stopped_by=stopped_by,
    )
    return summary


def run_job(config: dict, run_dir: Path, report: Reporter) -> dict:
    """The worker's entry point for kind "train"."""
    return run(RunConfig.from_dict(config), run_dir, report)
