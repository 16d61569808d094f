"""How long does embedding a whole dataset with an imported ResNet-18 take on this machine's CPU (issue 24)?

    python -m sslviz bench import [--images 60000] [--size 32] [--arch resnet18] [--threads N] [--json]

What runs: the import job's own embedding step (sslviz.embeddings.model_import.embed: resize, three channels,
ImageNet normalisation, the pooled backbone output) over --images images in the job's chunks (CHUNK), with a
torchvision ResNet-18 built here (weights=None: the time does not depend on the weights; nothing is
downloaded). The images: `shapes`' 10,000 colour images (generated, 32 px) and augmented copies of them
(random flips and shifts of up to 4 px) until there are --images, so a 60,000-image photo set is stood in
for without a network. Prints images per second and the projected time for 60,000 images.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> int:
    import torch
    import torchvision

    from sslviz.data import load_dataset
    from sslviz.embeddings.model_import import CHUNK, embed

    p = argparse.ArgumentParser(prog="python -m sslviz bench import")
    p.add_argument("--images", type=int, default=60_000)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--arch", default="resnet18", choices=("resnet18", "resnet50"))
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = load_dataset("shapes", image_size=32).train.images
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    copies, n = [base[: args.images]], min(len(base), args.images)
    while n < args.images:
        batch = base[: min(len(base), args.images - n)]
        flip = torch.rand(len(batch), generator=g) < 0.5
        batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)
        dx, dy = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
        copies.append(torch.roll(batch, shifts=(dy, dx), dims=(-2, -1)))
        n += len(batch)
    images = torch.cat(copies)
    prepare = time.perf_counter() - t0
    model = getattr(torchvision.models, args.arch)(weights=None)
    model.fc = torch.nn.Identity()
    model.eval()
    embed(model, images[:CHUNK], args.size)  # warm-up
    t0 = time.perf_counter()
    for lo in range(0, len(images), CHUNK):
        feats = embed(model, images[lo:lo + CHUNK], args.size)
    seconds = time.perf_counter() - t0
    rate = len(images) / seconds
    result = {"images": len(images), "size": args.size, "arch": args.arch, "chunk": CHUNK,
              "threads": torch.get_num_threads(), "seconds": round(seconds, 2), "images_per_s": round(rate, 1),
              "projected_60000_s": round(60_000 / rate, 1), "prepare_s": round(prepare, 2), "dims": int(feats.shape[1])}
    for k, v in result.items():
        print(f"{k:>20}: {v}")
    if args.json:
        print(json.dumps(result))
    return 0
