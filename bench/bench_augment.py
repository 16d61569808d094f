"""Throughput of sslviz.augment.engine vs torchvision v2 applied per image in a Python loop.

    python bench/bench_augment.py [--batch 512] [--size 32] [--rounds 5] [--threads N]

Both sides make two SimCLR views of each image of a uint8 B×3×S×S batch and return float32
images in [0, 1]: ours with ``augment(x, PRESETS["simclr"])`` twice (default backend: the numba
kernel on CPU; also timed: ``two_views`` once, and the torch-ops backend that GPUs use), the
reference with the same recipe as a v2.Compose called once per image. Rounds alternate between
them so that a busy machine slows all alike; the median round is reported.
Prints images/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torchvision.transforms.v2 as v2  # noqa: E402

from sslviz.augment.engine import PRESETS, augment, backend_for, two_views, warmup  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum time per round for sslviz")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    B, S = args.batch, args.size
    x = torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    simclr = PRESETS["simclr"]
    g = torch.Generator().manual_seed(0)
    tv = v2.Compose(
        [
            v2.RandomResizedCrop(S, scale=simclr.crop_scale, ratio=simclr.crop_ratio, antialias=True),
            v2.RandomHorizontalFlip(simclr.flip_p),
            v2.RandomApply(
                [v2.ColorJitter(simclr.brightness, simclr.contrast, simclr.saturation, simclr.hue)], p=simclr.jitter_p
            ),
            v2.RandomGrayscale(simclr.gray_p),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )

    def ours_augment() -> int:
        augment(x, simclr, g)
        augment(x, simclr, g)
        return 2 * B

    def ours_torch_ops() -> int:
        augment(x, simclr, g, backend="torch")
        augment(x, simclr, g, backend="torch")
        return 2 * B

    def ours_two_views() -> int:
        two_views(x, simclr, generator=g)
        return 2 * B

    def torchvision_loop() -> int:
        for img in x:
            tv(img)
            tv(img)
        return 2 * B

    def rate(fn, min_seconds: float) -> tuple[float, float]:
        """(images per wall-clock second, images per CPU-second of this process)."""
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            n += fn()
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                return n / dt, n / max(time.process_time() - c0, 1e-9)

    warmup()  # numba compiles (or loads its cache) outside the timing
    for fn in (ours_augment, ours_two_views, ours_torch_ops, torchvision_loop):  # warm-up
        fn()
    rates: dict[str, list[tuple[float, float]]] = {"augment": [], "two_views": [], "torch_ops": [], "torchvision": []}
    for _ in range(args.rounds):
        rates["augment"].append(rate(ours_augment, args.seconds))
        rates["two_views"].append(rate(ours_two_views, args.seconds))
        rates["torch_ops"].append(rate(ours_torch_ops, args.seconds))
        rates["torchvision"].append(rate(torchvision_loop, 0.0))  # one pass over the batch (2B images)

    med = {k: statistics.median(r[0] for r in v) for k, v in rates.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in rates.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    be = backend_for("cpu")
    print(
        f"simclr views of {B}x3x{S}x{S} uint8, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}, median of {args.rounds} rounds"
    )
    print(f"{'':32s}{'images/s':>12s}{'images/CPU-s':>14s}")
    for key, label in (
        ("augment", f"sslviz augment x2 ({be})"),
        ("two_views", f"sslviz two_views ({be})"),
        ("torch_ops", "sslviz augment x2 (torch ops)"),
        ("torchvision", "torchvision v2 per image"),
    ):
        print(f"{label:32s}{med[key]:12,.0f}{cpu[key]:14,.0f}")
    print(
        f"{'ratio augment / torchvision':32s}{med['augment'] / med['torchvision']:11.1f}x"
        f"{cpu['augment'] / cpu['torchvision']:13.1f}x"
    )
    if load > (os.cpu_count() or 1) * 0.5:
        print("note: the machine is busy (load average above half the CPUs): wall-clock rates are pessimistic")


if __name__ == "__main__":
    main()
