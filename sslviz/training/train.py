"""The training loop: RunConfig -> run directory. No Streamlit here; the worker process calls `run`.

    data -> method.step (augment -> forward -> loss) -> backward -> optimiser -> report

Every epoch (and once before the first step, so curves start at the untrained network) it scores
the backbone with the weighted kNN monitor on the held-out split, measures the collapse gauge and
alignment and uniformity (alignment_monitor.py), saves test-set embeddings (every `snapshot_every`
epochs) and writes the checkpoint atomically. After the last epoch the network is scored once more
by the papers' protocol (final_scores.py: whole train split as the bank, whole test split), the
figure to quote; the monitor's kNN is the curve's estimate.
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

from sslviz.augment.engine import Pipeline
from sslviz.core import distributed
from sslviz.core.errors import SslvizError
from sslviz.core.files import atomic_write_bytes
from sslviz.evaluation.collapse_gauge import collapse_metrics
from sslviz.evaluation.fewshot_stats import stratified_draw
from sslviz.evaluation.protocols import (
    extract_features,
    few_label_accuracy,
    few_label_draws,
    knn_accuracy,
    recalibrate_bn,
)
from sslviz.methods import get_method
from sslviz.methods.models import build_backbone, mixed_precision, pick_device

from .alignment_monitor import AlignmentMonitor
from .config import RunConfig
from .final_scores import final_scores
from .recipes import data_kind, resolve, resolve_with_data, traits


class Diverged(SslvizError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


class CheckpointError(SslvizError):
    """A checkpoint cannot be loaded: missing, truncated, or holding pickled code (refused)."""


REPORT_INTERVAL = 0.5  # seconds of wall clock between training-step reports, unless the reporter says otherwise


class Reporter:
    """Where the trainer sends what it measures. This base version keeps everything in memory.

    Training steps are reported at most every `interval` seconds of wall clock (the last step of an
    epoch always), so a fast run does not flood the store; 0 reports every step, so which steps a
    test sees does not depend on the machine's speed."""

    def __init__(self, interval: float = REPORT_INTERVAL):
        self.interval = interval
        self.rows: list[tuple[int, float, float, str, float]] = []
        self.last_progress = (0.0, None, "")

    def metrics(self, step: int, epoch: float, elapsed: float, values: dict[str, float]) -> None:
        self.rows += [(step, epoch, elapsed, k, float(v)) for k, v in values.items()]

    def progress(self, fraction: float, eta: float | None, message: str = "") -> None:
        self.last_progress = (fraction, eta, message)

    def info(self, values: dict) -> None:
        """Facts about the run known once it starts (device, precision, ...)."""
        self.last_info = dict(values)

    def should_stop(self) -> bool:
        return False

    def flush(self) -> None:
        pass


def lr_at(progress: float, base_lr: float, warmup: float = 0.05) -> float:
    """Linear warm-up over the first 5% of the budget, then cosine decay to zero."""
    if progress < warmup:
        return base_lr * (progress + 1e-3) / warmup
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def build_method(config: RunConfig, data, device: torch.device):
    """Backbone + method for the ImageSet `data`, as the config says (completed by the recipe
    for this kind of data where it leaves things open), on the device."""
    config = resolve(config, data)
    pipeline = Pipeline.from_dict(config.pipeline)
    backbone = build_backbone(config.backbone, data.channels)
    method = get_method(config.method)(backbone, num_classes=data.num_classes, pipeline=pipeline,
                                       **config.method_params)
    return method.to(device, memory_format=torch.channels_last)


def prepare_model(method, config: RunConfig, device: torch.device):
    """What the loop calls: the method, its backbone compiled when asked (in place, so parameter
    names and checkpoints stay the same), wrapped in DDP when several processes train."""
    if config.compile:
        method.backbone.compile()
    return distributed.wrap(method, device)


def start_epoch(method, optimizer, epoch: int, train_x: torch.Tensor) -> None:
    """The method's epoch hook; parameters it re-initialised lose their optimiser state (Adam's
    moments of the old weights would steer the new ones: DeepCluster's classifier)."""
    method.on_epoch_start(epoch, train_x)
    if optimizer is not None:
        for p in method.reinitialised_parameters():
            optimizer.state.pop(p, None)


def save_checkpoint(path: Path, method, optimizer, config: RunConfig, state: dict) -> None:
    """Weights, optimiser and the loop's counters and random states, written atomically."""
    buf = io.BytesIO()
    torch.save({
        "model": method.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "method_extra": method.extra_state(),  # e.g. the GAN generator's own optimiser
        "config": config.to_dict(),
        **state,
    }, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint safely: tensors and plain data only (weights_only=True, no pickled code).

    Anything else (a pickle that would import or call code, a truncated file) raises CheckpointError
    with one line; nothing in the file is executed."""
    import pickle

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: refused: it holds Python objects, not only tensors and plain data, "
                              "and loading them could run code (torch.load weights_only=True)") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: cannot load ({reason})") from None


def weights_finite(method) -> bool:
    """Are all floating-point weights and buffers finite? (checked before a checkpoint is written)"""
    return all(bool(torch.isfinite(v).all()) for v in method.state_dict().values()
               if torch.is_tensor(v) and v.is_floating_point())


def _diverged(what: str, st: dict, epoch: int, ckpt_path: Path) -> Diverged:
    kept = (f"the last good checkpoint (epoch {epoch}) is kept" if ckpt_path.exists()
            else "no checkpoint had been written yet")
    return Diverged(f"{what} at step {st['step']}: training stopped; {kept}. Try a lower lr.")


def compact(features: np.ndarray) -> np.ndarray:
    """float16 for a snapshot (half the disk), unless float16 cannot hold the values (a diverging
    network's huge or non-finite features), which stay float32 so that nothing is silently lost."""
    if np.isfinite(features).all() and np.abs(features).max(initial=0) < 6e4:
        return features.astype(np.float16)
    return features.astype(np.float32)


class Monitor:
    """The live evaluation: weighted kNN on a fixed subset of both splits, the collapse gauge,
    alignment and uniformity (two fixed views of held-out images) and the embedding snapshots. The
    same subsets every epoch, so the curve measures the network."""

    def __init__(self, data, config: RunConfig, run_dir: Path, device: torch.device, g: torch.Generator):
        bank_idx = torch.randperm(len(data.train), generator=g)[: config.eval_train_max].sort().values
        self.test_idx = torch.randperm(len(data.test), generator=g)[: config.eval_test_max].sort().values
        self.bank_x, self.bank_y = data.train.images[bank_idx], data.train.labels[bank_idx]
        self.test_x, self.test_y = data.test.images[self.test_idx], data.test.labels[self.test_idx]
        self.labelled = bool((self.bank_y >= 0).any())
        self.num_classes, self.device, self.run_dir, self.config = data.num_classes, device, run_dir, config
        self.geometry = AlignmentMonitor(self.test_x, config.seed)
        self.knn_pixels = self.few_label_pixels = None
        if self.labelled:
            pixels_bank, pixels_test = self.bank_x.flatten(1).float(), self.test_x.flatten(1).float()
            self.knn_pixels = knn_accuracy(pixels_bank, self.bank_y, pixels_test, self.test_y, self.num_classes)
            self.draws = few_label_draws(self.bank_y, seed=config.seed)
            self.few_label_pixels = few_label_accuracy(pixels_bank, self.bank_y, pixels_test, self.test_y, self.draws)

    def __call__(self, method, epoch: int) -> dict:
        method.eval()
        bank_f = extract_features(method.embed, self.bank_x, self.device)
        test_f = extract_features(method.embed, self.test_x, self.device)
        geometry = self.geometry(method, self.device, with_pixels=epoch == 0)  # alignment, uniformity
        method.train()
        values = collapse_metrics(test_f)  # {"spread", "effective_rank"}: the collapse gauge
        values.update(geometry)
        if self.labelled:
            values["knn_accuracy"] = knn_accuracy(bank_f, self.bank_y, test_f, self.test_y, self.num_classes)
            values["knn_pixels"] = self.knn_pixels
            values["few_label_linear"] = few_label_accuracy(bank_f, self.bank_y, test_f, self.test_y, self.draws)
            values["few_label_pixels"] = self.few_label_pixels
        if epoch % self.config.snapshot_every == 0 or epoch == self.config.epochs:
            buf = io.BytesIO()
            np.savez(buf, features=compact(test_f.numpy()), labels=self.test_y.numpy(), index=self.test_idx.numpy())
            atomic_write_bytes(self.run_dir / f"embeddings_{epoch:04d}.npz", buf.getvalue())
        return values


def run(config: RunConfig, run_dir: str | Path, report: Reporter | None = None, resume: bool = False) -> dict:
    """Train one run into run_dir and return its summary; resume=True continues from checkpoint.pt."""
    config.validate()
    report = report or Reporter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    device = distributed.setup(config.device) or pick_device(config.device)
    world, rank, main = distributed.world_size(), distributed.rank(), distributed.is_main()
    if not main:
        report = Reporter()  # only rank 0 talks to the run store

    report.progress(0.0, None, f"loading {config.dataset}")
    config, data = resolve_with_data(config)  # the recipe for this kind of data fills what the config leaves open
    if hasattr(report, "resolved"):  # optional in a reporter
        report.resolved(config.to_dict())
    train_x, train_y = data.train.images, data.train.labels
    if config.labels_per_class:
        keep = torch.as_tensor(stratified_draw(train_y.numpy(), config.labels_per_class, config.seed))
        train_x, train_y = train_x[keep], train_y[keep]
    batch_size = min(config.batch_size, len(train_x) // world)  # per process; the global batch is world × this
    steps_per_epoch = max(1, len(train_x) // (batch_size * world))
    total_steps = steps_per_epoch * config.epochs

    method = build_method(config, data, device)
    model = prepare_model(method, config, device)  # the method itself in a single process
    amp = mixed_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    method.generator = torch.Generator(device=device).manual_seed(config.seed + rank)
    base_lr = config.lr or method.default_lr
    params = list(method.optimizer_parameters())
    optimizer = torch.optim.AdamW(params, lr=base_lr, weight_decay=config.weight_decay) if params else None
    g = torch.Generator().manual_seed(config.seed)  # batch order and monitor subsets
    monitor = Monitor(data, config, run_dir, device, g)

    data_traits = traits(data)
    summary: dict = {"device": str(device), "precision": str(amp).replace("torch.", "") if amp else "fp32",
                     "compiled": config.compile, "processes": world, "train_images": len(train_x),
                     "test_images_scored": len(monitor.test_x), "knn_pixels": monitor.knn_pixels,
                     "recipe": {"data": data_traits.describe(), "kind": data_kind(config, data).name,
                                "backbone": config.backbone, "lr": base_lr, "method_params": config.method_params,
                                "augmentations": Pipeline.from_dict(config.pipeline).summary()}}
    if hasattr(report, "info"):  # optional in a reporter
        report.info({k: summary[k] for k in ("device", "precision", "compiled", "processes")})
    # the loop's state: everything a checkpoint needs to continue where it stopped
    st = {"epoch": 0, "step": 0, "elapsed": 0.0, "train_seconds": 0.0, "images_seen": 0, "knn_random_init": None,
          "few_label_random_init": None, "start": {}}  # start: the untrained network's gauge and pixel point
    ckpt_path = run_dir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, device)
        method.load_state_dict(ckpt["model"])
        if optimizer is not None and ckpt["optimizer"]:
            optimizer.load_state_dict(ckpt["optimizer"])
        method.load_extra_state(ckpt.get("method_extra", {}))
        st.update({k: ckpt[k] for k in st if k in ckpt})
        g.set_state(ckpt["batch_rng"])
        method.generator.set_state(ckpt["augment_rng"].to(method.generator.get_state().device))
        report.progress(st["step"] / total_steps, None, f"resumed at epoch {st['epoch']}")

    def checkpoint():
        if main:
            save_checkpoint(ckpt_path, method, optimizer, config,
                            {**st, "batch_rng": g.get_state(), "augment_rng": method.generator.get_state().cpu()})

    def evaluate(epoch: int) -> dict:
        if main and epoch > 0 and method.recalibrate_bn:  # trained on altered inputs: re-estimate the
            recalibrate_bn(method.embed, method.backbone, train_x, device)  # BN statistics on clean images
        values = monitor(method, epoch) if main else {}
        distributed.barrier()
        return values

    start = time.perf_counter() - st["elapsed"]
    if st["step"] == 0 and st["epoch"] == 0:
        method.prepare(train_x)
        last_eval = evaluate(0)
        report.metrics(0, 0, time.perf_counter() - start, last_eval)
        report.flush()
        st["knn_random_init"] = last_eval.get("knn_accuracy")
        st["few_label_random_init"] = last_eval.get("few_label_linear")
        gauge = ("spread", "effective_rank", "directions_95", "alignment", "uniformity")
        st["start"] = {f"{k}_random_init": last_eval.get(k) for k in gauge}
        st["start"].update({k: last_eval.get(k) for k in ("alignment_pixels", "uniformity_pixels")})
    else:
        last_eval = {}
    stopped_by = "epochs"
    if not method.trainable:  # a baseline: nothing to learn; score it once and save it
        checkpoint()
        stopped_by = "nothing to train"
    last_report = time.perf_counter()
    report_interval = getattr(report, "interval", REPORT_INTERVAL)  # the store's reporters duck-type Reporter
    method.train()
    while st["epoch"] < config.epochs and stopped_by == "epochs":
        epoch = st["epoch"]
        start_epoch(method, optimizer, epoch, train_x)
        perm = torch.randperm(len(train_x), generator=g)
        for i in range(steps_per_epoch):
            t0 = time.perf_counter()
            progress = st["step"] / total_steps
            if config.time_budget:
                progress = max(progress, (t0 - start) / config.time_budget)
            if distributed.broadcast_flag(progress >= 1.0 and st["step"] > 0):  # rank 0's clock decides
                stopped_by = "time"
                break
            first = (i * world + rank) * batch_size
            idx = perm[first : first + batch_size]
            x, y = train_x[idx].to(device, non_blocking=True), train_y[idx].to(device, non_blocking=True)
            lr = lr_at(progress, base_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                loss, values = model(x, y, idx)  # method.step, through DDP when distributed
            if not torch.isfinite(loss):
                raise _diverged(f"loss became {loss.item()}", st, epoch, ckpt_path)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # the scaler is a no-op unless fp16
            scaler.step(optimizer)
            scaler.update()
            method.after_step(progress)
            st["step"] += 1
            st["images_seen"] += len(idx) * world
            st["train_seconds"] += time.perf_counter() - t0
            now = time.perf_counter()
            if now - last_report > report_interval or i == steps_per_epoch - 1:
                values.update(lr=lr, images_per_second=st["images_seen"] / max(st["train_seconds"], 1e-9))
                report.metrics(st["step"], epoch + (i + 1) / steps_per_epoch, now - start, values)
                eta = (now - start) / max(progress, 1e-6) * (1 - progress) if progress > 0 else None
                report.progress(progress, eta, f"epoch {epoch + 1}/{config.epochs}")
                last_report = now
            if distributed.broadcast_flag(main and now == last_report and report.should_stop()):
                stopped_by = "user"
                break
        if not weights_finite(method):  # never score or save a diverged network over the last good one
            raise _diverged("the weights became NaN or infinite", st, epoch, ckpt_path)
        st["epoch"] = epoch + 1
        last_eval = evaluate(st["epoch"])
        report.metrics(st["step"], st["epoch"], time.perf_counter() - start, last_eval)
        report.flush()
        st["elapsed"] = time.perf_counter() - start
        checkpoint()
        if distributed.broadcast_flag(bool(config.time_budget) and time.perf_counter() - start >= config.time_budget):
            stopped_by = "time"
    seconds = round(time.perf_counter() - start, 2)
    papers = None
    if main and config.final_scores and monitor.labelled and stopped_by != "user":  # the final figure, by the papers' protocol
        report.progress(1.0, None, "scoring with the papers' protocol (whole train and test splits)")
        store_root = run_dir.parent if (run_dir.parent / "sslviz.db").exists() else None  # its baselines' cache
        papers = final_scores(method, config, data, device, store_root)
    report.progress(1.0, 0.0, f"finished: {stopped_by}")
    report.flush()
    summary.update(
        epochs=st["epoch"],
        steps=st["step"],
        seconds=seconds,
        train_seconds=round(st["train_seconds"], 2),
        images_per_second=round(st["images_seen"] / max(st["train_seconds"], 1e-9), 1),
        knn_accuracy=last_eval.get("knn_accuracy"),
        knn_random_init=st["knn_random_init"],
        few_label_linear=last_eval.get("few_label_linear"),
        few_label_pixels=monitor.few_label_pixels,
        few_label_random_init=st.get("few_label_random_init"),
        spread=last_eval.get("spread"),
        effective_rank=last_eval.get("effective_rank"),
        directions_95=last_eval.get("directions_95"),
        alignment=last_eval.get("alignment"),
        uniformity=last_eval.get("uniformity"),
        **st.get("start", {}),
        stopped_by=stopped_by,
        knn_bank=len(monitor.bank_x),  # the live monitor's estimate: its bank (test: test_images_scored)
    )
    if papers is not None:
        summary["papers"] = papers
    return summary


def run_job(config: dict, run_dir: Path, report: Reporter) -> dict:
    """The worker's entry point for kind "train": continues from checkpoint.pt when there is one
    (a run that was interrupted, cancelled or crashed and has been queued again)."""
    run_dir = Path(run_dir)
    return run(RunConfig.from_dict(config), run_dir, report, resume=(run_dir / "checkpoint.pt").exists())
