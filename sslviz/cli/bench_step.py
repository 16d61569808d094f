"""`python -m sslviz bench step`: is augmentation cheap next to the network? Measured side by side.

Three SimCLR training steps on the same `shapes` batches (256 images, two views each), timed in
interleaved rounds so that machine noise hits all three alike:

  backbone      forward + backward + optimiser on views augmented beforehand (the network's cost)
  full step     what the trainer does: index the uint8 set, augment two views (batched engine),
                forward, backward, optimiser
  torchvision   the same, but the views come from torchvision.transforms.v2 applied per image
                in a Python loop (the usual Dataset/DataLoader way, without worker processes)

Prints images/s (an image = one original image, i.e. two views) and the ratios
step_vs_backbone_ratio (target ≥ 0.9) and step_vs_torchvision_ratio (target ≥ 1.5).
"""

from __future__ import annotations

import json
import platform
import statistics
import time

import torch


def _torchvision_views(images: torch.Tensor, transform) -> torch.Tensor:
    return torch.stack([transform(img) for img in images])


def bench_step(seconds: float = 8.0, batch_size: int = 256, rounds: int = 3) -> dict:
    from torchvision.transforms import v2

    from sslviz.augment.engine import PRESETS, augment
    from sslviz.data import load_dataset
    from sslviz.training.config import RunConfig
    from sslviz.training.train import build_method

    torch.manual_seed(0)
    data = load_dataset("shapes", image_size=32, seed=0)
    images = data.train.images
    cfg = RunConfig(method="simclr", dataset="shapes", pipeline=PRESETS["simclr"].to_dict(), device="cpu")
    method = build_method(cfg, data, torch.device("cpu"))
    method.generator = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(method.parameters(), lr=1e-3)
    p = PRESETS["simclr"]
    tv = v2.Compose([
        v2.RandomResizedCrop(32, scale=p.crop_scale, ratio=p.crop_ratio, antialias=False),
        v2.RandomHorizontalFlip(p.flip_p),
        v2.RandomApply([v2.ColorJitter(p.brightness, p.contrast, p.saturation, p.hue)], p=p.jitter_p),
        v2.RandomGrayscale(p.gray_p),
        v2.ToDtype(torch.float32, scale=True),
    ])
    from sslviz.methods.simclr import nt_xent_loss

    def learn(views: torch.Tensor) -> None:
        views = views.contiguous(memory_format=torch.channels_last)
        z1, z2 = method.projector(method.backbone(views)).chunk(2)
        loss = nt_xent_loss(z1, z2, 0.5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def batch(i: int) -> torch.Tensor:
        idx = torch.randint(0, len(images), (batch_size,), generator=torch.Generator().manual_seed(i))
        return images[idx]

    fixed_views = augment(torch.cat([batch(0), batch(0)]), p, torch.Generator().manual_seed(0))

    def backbone_step(i):
        learn(fixed_views)

    def trainer_step(i):  # exactly what the trainer does per step
        loss, _ = method.step(batch(i), None, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def torchvision_step(i):
        x = batch(i)
        learn(torch.cat([_torchvision_views(x, tv), _torchvision_views(x, tv)]))

    cases = {"backbone": backbone_step, "full_step": trainer_step, "torchvision": torchvision_step}
    for fn in cases.values():  # warm-up
        fn(0)
    rates: dict[str, list[float]] = {k: [] for k in cases}
    per_round = seconds / rounds
    for r in range(rounds):
        for name, fn in cases.items():
            n, t0, i = 0, time.perf_counter(), 0
            while time.perf_counter() - t0 < per_round:
                fn(i)
                i += 1
                n += batch_size
            rates[name].append(n / (time.perf_counter() - t0))
    ips = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "benchmark": "step",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.processor() or 'cpu'}",
        "torch": torch.__version__,
        "batch_size": batch_size,
        "backbone_images_per_second": round(ips["backbone"], 1),
        "step_images_per_second": round(ips["full_step"], 1),
        "torchvision_step_images_per_second": round(ips["torchvision"], 1),
        "step_vs_backbone_ratio": round(ips["full_step"] / ips["backbone"], 3),
        "step_vs_torchvision_ratio": round(ips["full_step"] / ips["torchvision"], 3),
    }


def main(args) -> int:
    if args.what != "step":
        return run_script(args.what, args.rest + (["--json"] if args.json else []))
    result = bench_step(seconds=args.seconds)
    for key, value in result.items():
        print(f"{key:>38}: {value}")
    if args.json:
        print(json.dumps(result))
    return 0


def run_script(name: str, argv: list[str]) -> int:
    """Run bench/bench_<name>.py from the repository (each script has main(argv) -> int)."""
    import importlib.util
    from pathlib import Path

    from sslviz.core.errors import ConfigError

    folder = Path(__file__).resolve().parents[2] / "bench"
    path = folder / f"bench_{name}.py"
    if not path.exists():
        known = ["step"] + sorted(p.stem[len("bench_"):] for p in folder.glob("bench_*.py"))
        raise ConfigError(f"bench: unknown benchmark '{name}'; choose one of {', '.join(known)}")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(argv) or 0)
