"""The yardstick: a plain SimCLR loop in ~100 lines of PyTorch, timed on the same machine as sslviz.

    python bench/plain_simclr.py --dataset mnist-10k --seconds 90 [--image-size 28] [--json]
    python bench/plain_simclr.py --dataset folder:PATH --seconds 600 --budget-counts train

What a careful person would write without sslviz: a 4-layer CNN (conv 32-64-128-256, each with
batch norm, ReLU and 2×2 max-pool, then global average pooling), projection 256-256-128, NT-Xent
at temperature 0.2, Adam (lr 1e-3 on greyscale, 2e-3 on colour), batch 256, two views from
batched random-resized crops (scale 0.3-1 on greyscale without flips; 0.2-1 with flips, colour
jitter and 20% grayscale on colour). Every epoch it scores the backbone with the same weighted
kNN as sslviz's monitor (k=20, cosine, T=0.07; a 5,000-image bank, 2,000 test images), so the
two curves are comparable. `--budget-counts all` (the default) counts that evaluation in the
budget, `train` counts training steps only.

Only the images come from sslviz (`load_dataset`), so both see the same pixels; nothing else of
sslviz is used, on purpose. Prints one JSON line per epoch and a summary.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def encoder(channels: int) -> nn.Sequential:
    layers, cin = [], channels
    for w in (32, 64, 128, 256):
        layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        cin = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def crops(x: torch.Tensor, scale: tuple[float, float], flip: bool) -> torch.Tensor:
    """Batched random-resized crops (one affine grid per image), optional horizontal flips."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale)
    ratio = torch.exp(torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3)))
    w, h = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    cx, cy = (torch.rand(n) * 2 - 1) * (1 - w), (torch.rand(n) * 2 - 1) * (1 - h)
    sign = torch.where(torch.rand(n) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * sign, cx, h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour(x: torch.Tensor) -> torch.Tensor:
    """Colour jitter 0.4/0.4/0.4 (p=0.8) then grayscale (p=0.2), batched."""
    n = x.shape[0]
    on = (torch.rand(n, 1, 1, 1) < 0.8).float()
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    b, c, s = (torch.empty(3, n, 1, 1, 1).uniform_(0.6, 1.4))
    y = x * b
    y = (y - y.mean((1, 2, 3), keepdim=True)) * c + y.mean((1, 2, 3), keepdim=True)
    y = (y - grey * b) * s + grey * b
    x = (on * y + (1 - on) * x).clamp(0, 1)
    g = (torch.rand(n, 1, 1, 1) < 0.2).float()
    return g * (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True) + (1 - g) * x


def nt_xent(z: torch.Tensor, t: float) -> torch.Tensor:
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    logits = (z @ z.T / t).fill_diagonal_(float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


@torch.no_grad()
def knn(net, bank_x, bank_y, test_x, test_y, classes: int) -> float:
    net.eval()
    feats = [F.normalize(torch.cat([net(x[i:i + 1024].float() / 255) for i in range(0, len(x), 1024)]), dim=1)
             for x in (bank_x, test_x)]
    net.train()
    sim, idx = (feats[1] @ feats[0].T).topk(20, dim=1)
    votes = torch.zeros(len(test_x), classes).scatter_add_(1, bank_y[idx], (sim / 0.07).exp())
    return (votes.argmax(1) == test_y).float().mean().item()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="plain_simclr")
    ap.add_argument("--dataset", default="mnist-10k")
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--image-size", type=int, default=None, help="default: 28 for greyscale, 32 for colour")
    ap.add_argument("--budget-counts", choices=("all", "train"), default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from sslviz.data import load_dataset

    torch.manual_seed(args.seed)
    data = load_dataset(args.dataset, image_size=args.image_size or 32, seed=args.seed)
    grey = data.channels == 1
    if grey and args.image_size is None:
        data = load_dataset(args.dataset, image_size=28, seed=args.seed)
    train_x, classes = data.train.images, data.num_classes
    g = torch.Generator().manual_seed(args.seed)
    bank = torch.randperm(len(train_x), generator=g)[:5000]
    test = torch.randperm(len(data.test.images), generator=g)[:2000]
    bank_x, bank_y = train_x[bank], data.train.labels[bank]
    test_x, test_y = data.test.images[test], data.test.labels[test]

    net = encoder(data.channels)
    head = nn.Sequential(nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Linear(256, 128))
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3 if grey else 2e-3)
    scale = (0.3, 1.0) if grey else (0.2, 1.0)

    start, counted, train_s, seen, epoch, history = time.perf_counter(), 0.0, 0.0, 0, 0, []
    while counted < args.seconds:
        for idx in torch.randperm(len(train_x)).split(256):
            if len(idx) < 256 or counted >= args.seconds:
                break
            t0 = time.perf_counter()
            x = train_x[idx].float().div(255).repeat(2, 1, 1, 1)
            v = crops(x, scale, flip=not grey)
            if not grey:
                v = colour(v)
            loss = nt_xent(head(net(v)), 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            counted += time.perf_counter() - t0
            train_s += time.perf_counter() - t0
            seen += len(idx)
        epoch += 1
        t0 = time.perf_counter()
        acc = knn(net, bank_x, bank_y, test_x, test_y, classes)
        if args.budget_counts == "all":
            counted += time.perf_counter() - t0
        history.append({"epoch": epoch, "seconds": round(counted, 2), "knn": round(acc, 4)})
        print(json.dumps(history[-1]), file=sys.stderr)
    best = max(history, key=lambda h: h["knn"])
    out = {"yardstick": "plain simclr", "dataset": args.dataset, "budget_s": args.seconds,
           "budget_counts": args.budget_counts, "epochs": epoch, "knn_accuracy": history[-1]["knn"],
           "best_knn": best["knn"], "wall_s": round(time.perf_counter() - start, 1),
           "images_per_second": round(seen / max(train_s, 1e-9), 1),
           "history": history}
    print(json.dumps(out) if args.json else f"plain SimCLR on {args.dataset}: kNN {out['knn_accuracy']:.4f} after "
          f"{epoch} epochs, {args.seconds:.0f} s counted ({args.budget_counts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
