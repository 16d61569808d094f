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

`run` is the loop, top to bottom; beside it: run_setup.py (seeds, device, data with the recipe resolved
once, method, optimiser), monitor.py (the live evaluation), and below `run` the loop's small helpers
(resume, one training step, the report clock, the end of an epoch, the summary).
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import torch

from sslviz.core import distributed
from sslviz.core.errors import SslvizError
from sslviz.core.files import atomic_write_bytes
from sslviz.evaluation.protocols import recalibrate_bn

from .config import RunConfig
from .final_scores import final_scores
from .monitor import Monitor, compact  # noqa: F401  (train.compact, train.Monitor: read by tests and tools)
from .run_setup import Setup, build_method, describe, prepare_model, set_up  # noqa: F401  (train.build_method ...)

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


def run(config: RunConfig, run_dir: str | Path, report: Reporter | None = None, resume: bool = False) -> dict:
    """Train one run into run_dir and return its summary; resume=True continues from checkpoint.pt.

    Read it like the plain loop of bench/plain_simclr.py: set up, score the untrained network, then
    for each epoch, for each batch: augment + forward + loss (method.step), backward, optimiser step;
    at the end of each epoch score, snapshot and checkpoint. Set-up is in run_setup.py, the live
    evaluation in monitor.py, the loop's bookkeeping in the small helpers below."""
    config.validate()  # a bad config creates nothing
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    s = set_up(config, run_dir, report or Reporter(), Reporter())
    config, method, report = s.config, s.method, s.report
    summary = describe(s)
    if hasattr(report, "info"):  # optional in a reporter
        report.info({k: summary[k] for k in ("device", "precision", "compiled", "processes")})
    st = new_state()  # the loop's state: everything a checkpoint needs to continue where it stopped
    if resume and s.ckpt_path.exists():
        resume_into(s, st)

    start = time.perf_counter() - st["elapsed"]
    last_eval = score_untrained(s, st, start) if st["step"] == 0 and st["epoch"] == 0 else {}
    stopped_by = "epochs" if method.trainable else "nothing to train"
    if not method.trainable:  # a baseline: nothing to learn; scored once, saved
        save(s, st)
    clock = ReportClock(report)
    method.train()
    while st["epoch"] < config.epochs and stopped_by == "epochs":
        epoch = st["epoch"]
        start_epoch(method, s.optimizer, epoch, s.train_x)
        perm = torch.randperm(len(s.train_x), generator=s.g)
        for i in range(s.steps_per_epoch):
            t0 = time.perf_counter()
            progress = progress_at(s, st, t0 - start)
            if distributed.broadcast_flag(progress >= 1.0 and st["step"] > 0):  # rank 0's clock decides
                stopped_by = "time"
                break
            first = (i * s.world + s.rank) * s.batch_size
            idx = perm[first : first + s.batch_size]
            x, y = s.train_x[idx].to(s.device, non_blocking=True), s.train_y[idx].to(s.device, non_blocking=True)
            lr = lr_at(progress, s.base_lr)
            values = train_step(s, st, x, y, idx, lr, epoch)
            method.after_step(progress)
            count_step(s, st, len(idx), t0)
            reported = clock.step(st, epoch, i, s.steps_per_epoch, start, progress, values, lr, config.epochs)
            if distributed.broadcast_flag(s.main and reported and report.should_stop()):
                stopped_by = "user"
                break
        last_eval = end_epoch(s, st, epoch, start)
        if distributed.broadcast_flag(bool(config.time_budget) and time.perf_counter() - start >= config.time_budget):
            stopped_by = "time"
    seconds = round(time.perf_counter() - start, 2)
    papers = None
    if s.main and config.final_scores and s.monitor.labelled and stopped_by != "user":  # the figure to quote
        report.progress(1.0, None, "scoring with the papers' protocol (whole train and test splits)")
        store_root = run_dir.parent if (run_dir.parent / "sslviz.db").exists() else None  # its baselines' cache
        papers = final_scores(method, config, s.data, s.device, store_root)
    report.progress(1.0, 0.0, f"finished: {stopped_by}")
    report.flush()
    return summarise(s, st, summary, last_eval, seconds, stopped_by, papers)


# ---- the loop's helpers, in the order the loop calls them -------------------------------------------


def new_state() -> dict:
    return {"epoch": 0, "step": 0, "elapsed": 0.0, "train_seconds": 0.0, "images_seen": 0, "knn_random_init": None,
            "few_label_random_init": None, "start": {}}  # start: the untrained network's gauge and pixel point


def resume_into(s: Setup, st: dict) -> None:
    """Weights, optimiser, method state, counters and random generators from checkpoint.pt."""
    ckpt = load_checkpoint(s.ckpt_path, s.device)
    s.method.load_state_dict(ckpt["model"])
    if s.optimizer is not None and ckpt["optimizer"]:
        s.optimizer.load_state_dict(ckpt["optimizer"])
    s.method.load_extra_state(ckpt.get("method_extra", {}))
    st.update({k: ckpt[k] for k in st if k in ckpt})
    s.g.set_state(ckpt["batch_rng"])
    s.method.generator.set_state(ckpt["augment_rng"].to(s.method.generator.get_state().device))
    s.report.progress(st["step"] / s.total_steps, None, f"resumed at epoch {st['epoch']}")


def save(s: Setup, st: dict) -> None:
    if s.main:
        save_checkpoint(s.ckpt_path, s.method, s.optimizer, s.config,
                        {**st, "batch_rng": s.g.get_state(), "augment_rng": s.method.generator.get_state().cpu()})


def evaluate(s: Setup, epoch: int) -> dict:
    """The monitor's readings (rank 0), after re-estimating BN statistics on clean images for the
    methods that train on altered inputs."""
    if s.main and epoch > 0 and s.method.recalibrate_bn:
        recalibrate_bn(s.method.embed, s.method.backbone, s.train_x, s.device)
    values = s.monitor(s.method, epoch) if s.main else {}
    distributed.barrier()
    return values


def score_untrained(s: Setup, st: dict, start: float) -> dict:
    """Epoch 0: the untrained network's readings, kept as the run's start (its baselines)."""
    s.method.prepare(s.train_x)
    values = evaluate(s, 0)
    s.report.metrics(0, 0, time.perf_counter() - start, values)
    s.report.flush()
    st["knn_random_init"] = values.get("knn_accuracy")
    st["few_label_random_init"] = values.get("few_label_linear")
    gauge = ("spread", "effective_rank", "directions_95", "alignment", "uniformity")
    st["start"] = {f"{k}_random_init": values.get(k) for k in gauge}
    st["start"].update({k: values.get(k) for k in ("alignment_pixels", "uniformity_pixels")})
    return values


def progress_at(s: Setup, st: dict, elapsed: float) -> float:
    """How far through its budget the run is: steps, or wall clock when a time budget is set."""
    progress = st["step"] / s.total_steps
    return max(progress, elapsed / s.config.time_budget) if s.config.time_budget else progress


def train_step(s: Setup, st: dict, x, y, idx, lr: float, epoch: int) -> dict:
    """One optimiser step on one batch (augment + forward + loss inside method.step); its metrics."""
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(s.device.type, dtype=s.amp or torch.float32, enabled=s.amp is not None):
        loss, values = s.model(x, y, idx)  # method.step, through DDP when distributed
    if not torch.isfinite(loss):
        raise _diverged(f"loss became {loss.item()}", st, epoch, s.ckpt_path)
    s.optimizer.zero_grad(set_to_none=True)
    s.scaler.scale(loss).backward()  # the scaler is a no-op unless fp16
    s.scaler.step(s.optimizer)
    s.scaler.update()
    return values


def count_step(s: Setup, st: dict, batch: int, t0: float) -> None:
    st["step"] += 1
    st["images_seen"] += batch * s.world
    st["train_seconds"] += time.perf_counter() - t0


class ReportClock:
    """Reports a training step at most every `interval` seconds (the last step of an epoch always)."""

    def __init__(self, report):
        self.report, self.last = report, time.perf_counter()
        self.interval = getattr(report, "interval", REPORT_INTERVAL)  # the store's reporters duck-type Reporter

    def step(self, st, epoch, i, steps_per_epoch, start, progress, values, lr, epochs) -> bool:
        now = time.perf_counter()
        if not (now - self.last > self.interval or i == steps_per_epoch - 1):
            return False
        values.update(lr=lr, images_per_second=st["images_seen"] / max(st["train_seconds"], 1e-9))
        self.report.metrics(st["step"], epoch + (i + 1) / steps_per_epoch, now - start, values)
        eta = (now - start) / max(progress, 1e-6) * (1 - progress) if progress > 0 else None
        self.report.progress(progress, eta, f"epoch {epoch + 1}/{epochs}")
        self.last = now
        return True


def end_epoch(s: Setup, st: dict, epoch: int, start: float) -> dict:
    """Never score or save a diverged network over the last good one; else score, report, checkpoint."""
    if not weights_finite(s.method):
        raise _diverged("the weights became NaN or infinite", st, epoch, s.ckpt_path)
    st["epoch"] = epoch + 1
    values = evaluate(s, st["epoch"])
    s.report.metrics(st["step"], st["epoch"], time.perf_counter() - start, values)
    s.report.flush()
    st["elapsed"] = time.perf_counter() - start
    save(s, st)
    return values


def summarise(s: Setup, st: dict, summary: dict, last_eval: dict, seconds: float, stopped_by: str, papers) -> dict:
    summary.update(
        epochs=st["epoch"],
        steps=st["step"],
        seconds=seconds,
        train_seconds=round(st["train_seconds"], 2),
        images_per_second=round(st["images_seen"] / max(st["train_seconds"], 1e-9), 1),
        knn_accuracy=last_eval.get("knn_accuracy"),
        knn_random_init=st["knn_random_init"],
        few_label_linear=last_eval.get("few_label_linear"),
        few_label_pixels=s.monitor.few_label_pixels,
        few_label_random_init=st.get("few_label_random_init"),
        spread=last_eval.get("spread"),
        effective_rank=last_eval.get("effective_rank"),
        directions_95=last_eval.get("directions_95"),
        alignment=last_eval.get("alignment"),
        uniformity=last_eval.get("uniformity"),
        **st.get("start", {}),
        stopped_by=stopped_by,
        knn_bank=len(s.monitor.bank_x),  # the live monitor's estimate: its bank (test: test_images_scored)
    )
    if papers is not None:
        summary["papers"] = papers
    return summary


def run_job(config: dict, run_dir: Path, report: Reporter) -> dict:
    """The worker's entry point for kind "train": continues from checkpoint.pt when there is one
    (a run that was interrupted, cancelled or crashed and has been queued again)."""
    run_dir = Path(run_dir)
    return run(RunConfig.from_dict(config), run_dir, report, resume=(run_dir / "checkpoint.pt").exists())
