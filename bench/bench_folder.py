"""How fast does `folder:PATH` load a big folder of small JPEGs, cold and cached?

Writes N small JPEGs (default 60,000 of 28×28, MNIST-sized, 10 class folders) into a temporary
folder outside the repository, then times through sslviz.data.load_dataset:

  cold     list the folder, decode every file (process pool, JPEG draft mode), write the .npz cache
  cached   a fresh process state (in-process caches cleared): list the folder, read the .npz
  memory   the same call again in the same process (the in-process cache)

and prints images/s for each, with the CPU seconds spent (this process and its decode workers):
on a shared machine the wall-clock time depends on the other jobs, the CPU time much less.
The temporary folder and cache are deleted afterwards.

    python bench/bench_folder.py [--n 60000] [--size 28] [--image-size 32] [--colour] [--keep]
    python bench/bench_folder.py --folder /tmp/kept-folder/images   # reuse a folder written before
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _write_chunk(args):
    """Write JPEGs [start, stop) under root/<class>/<i>.jpg: a blurred blob per class plus noise."""
    import numpy as np
    from PIL import Image

    root, start, stop, size, colour, classes = args
    rng = np.random.default_rng(start)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(start, stop):
        c = i % classes
        cx, cy = 0.3 + 0.4 * (c % 5) / 4, 0.35 + 0.3 * (c // 5)
        blob = np.exp(-((xx - cx - rng.normal(0, 0.05)) ** 2 + (yy - cy - rng.normal(0, 0.05)) ** 2) / 0.02)
        img = np.clip(blob * 230 + rng.normal(0, 12, blob.shape), 0, 255).astype(np.uint8)
        if colour:
            img = np.stack([img, np.roll(img, c, 0), np.roll(img, -c, 1)], -1)
        Image.fromarray(img).save(os.path.join(root, f"class{c}", f"{i:06d}.jpg"), quality=90)
    return stop - start


def make_folder(root: Path, n: int, size: int, colour: bool, classes: int = 10, workers: int = 2) -> float:
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    step = 2000
    jobs = [(str(root), s, min(n, s + step), size, colour, classes) for s in range(0, n, step)]
    t = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        written = sum(pool.map(_write_chunk, jobs))
    assert written == n
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--size", type=int, default=28, help="side of the JPEGs written")
    ap.add_argument("--image-size", type=int, default=32, help="working size load_dataset resizes to")
    ap.add_argument("--colour", action="store_true", help="RGB JPEGs instead of grey")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--folder", help="time this folder (written by an earlier --keep run) instead of writing one")
    args = ap.parse_args(argv)

    import torch  # noqa: F401 - loaded in every real caller (app, trainer); not part of the load time

    import sslviz.data as data

    tmp = Path(tempfile.mkdtemp(prefix="sslviz-bench-folder-"))
    try:
        root, cache = tmp / "images", tmp / "cache"
        if args.folder:
            root = Path(args.folder)
        else:
            made = make_folder(root, args.n, args.size, args.colour)
            print(f"wrote {args.n:,} {args.size}×{args.size} {'RGB' if args.colour else 'grey'} JPEGs in {made:.1f} s "
                  f"({root})")
        spec = f"folder:{root}"
        results, cpu = {}, {}

        def cpu_seconds():
            own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

        for phase in ("cold", "cached", "memory"):
            if phase == "cached":
                data.clear_cache()
            t, c = time.perf_counter(), cpu_seconds()
            ds = data.load_dataset(spec, image_size=args.image_size, seed=0, cache_dir=str(cache))
            dt, dc = time.perf_counter() - t, cpu_seconds() - c
            n = len(ds.train) + len(ds.test)
            assert args.folder or n == args.n, (n, ds.report.get("skipped_files"))
            if "decode_cpu_seconds" in ds.report:  # the decode workers are the forkserver's children, not ours
                dc += ds.report["decode_cpu_seconds"]
            results[phase], cpu[phase] = dt, dc
            print(f"{phase:>7}: {dt:7.3f} s  {n / dt:10,.0f} images/s   CPU {dc:6.2f} s "
                  f"(report cached={ds.report['cached']})")
        args.n = n
        print(f"cold/cached ratio: {results['cold'] / results['cached']:.1f}×   "
              f"(load average {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} CPUs)")
        print(json.dumps({"bench": "folder", "n": args.n, "jpeg_size": args.size, "image_size": args.image_size,
                          "channels": ds.channels, "cpus": len(os.sched_getaffinity(0)),
                          "load_average": round(os.getloadavg()[0], 1),
                          **{f"{k}_s": round(v, 3) for k, v in results.items()},
                          **{f"{k}_cpu_s": round(v, 2) for k, v in cpu.items()},
                          **{f"{k}_images_per_s": round(args.n / v) for k, v in results.items()}}))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        elif args.folder:
            shutil.rmtree(tmp, ignore_errors=True)  # only the cache: the folder is not ours
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
