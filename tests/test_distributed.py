"""Two processes with gloo on the CPU behave like one process on the concatenated batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

from sslviz.methods.simclr import nt_xent_loss

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world, port, z1_all, z2_all, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from sslviz.core import distributed

    distributed.setup("cpu")
    n = z1_all.shape[0] // world
    z1 = z1_all[rank * n:(rank + 1) * n].clone().requires_grad_(True)
    z2 = z2_all[rank * n:(rank + 1) * n].clone().requires_grad_(True)
    loss = nt_xent_loss(distributed.gather(z1), distributed.gather(z2), 0.5)
    loss.backward()
    # DDP averages parameter gradients over ranks; the gradient w.r.t. a rank's own embeddings,
    # averaged the same way, must equal the single-process gradient of that slice.
    out[rank] = (loss.item(), (z1.grad / world).clone(), (z2.grad / world).clone())
    distributed.teardown()


def test_gathered_negatives_give_the_single_process_loss_and_gradients():
    torch.manual_seed(0)
    z1_all, z2_all = torch.randn(16, 8), torch.randn(16, 8)
    a, b = z1_all.clone().requires_grad_(True), z2_all.clone().requires_grad_(True)
    single = nt_xent_loss(a, b, 0.5)
    single.backward()

    out = mp.Manager().dict()
    mp.spawn(_rank_main, args=(2, _free_port(), z1_all, z2_all, out), nprocs=2, join=True)
    for rank in (0, 1):
        loss, g1, g2 = out[rank]
        assert abs(loss - single.item()) < 1e-5  # every rank sees the global loss
        sl = slice(rank * 8, (rank + 1) * 8)
        assert torch.allclose(g1, a.grad[sl], atol=1e-6) and torch.allclose(g2, b.grad[sl], atol=1e-6)


def test_torchrun_two_processes_train_and_the_checkpoint_resumes_in_one(tmp_path):
    runs = tmp_path / "runs"
    env = dict(os.environ, SSLVIZ_HOME=str(runs), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_free_port()),
           "-m", "sslviz", "train", "--method", "simclr", "--dataset", "digits", "--epochs", "1", "--image-size", "16",
           "--batch-size", "64", "--device", "cpu", "--json"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])
    assert result["status"] == "completed" and result["epochs"] == 1

    from sslviz.training import train
    from sslviz.training.config import RunConfig
    from sslviz.training.runs import RunStore

    store = RunStore(runs)
    assert [r["id"] for r in store.list()] == [result["run_id"]]  # rank 1 wrote nothing to the store
    run_dir = store.run_dir(result["run_id"])
    ckpt = train.load_checkpoint(run_dir / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and ckpt["step"] == 1437 // (64 * 2)
    cfg = RunConfig.from_dict({**store.get(result["run_id"])["config"], "epochs": 2})
    summary = train.run(cfg, run_dir, resume=True)  # one process continues the two-process run
    assert summary["epochs"] == 2 and summary["steps"] == ckpt["step"] + 1437 // 64


def _init(rank, world, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from sslviz.core import distributed

    distributed.setup("cpu")
    return distributed


def _sinkhorn_rank(rank, world, port, scores, out):
    distributed = _init(rank, world, port)
    from sslviz.methods.swav import sinkhorn

    n = scores.shape[0] // world
    out[rank] = sinkhorn(scores[rank * n:(rank + 1) * n].clone(), epsilon=0.05, iterations=3)
    distributed.teardown()


def test_swav_codes_are_computed_over_the_global_batch():
    torch.manual_seed(0)
    scores = torch.nn.functional.normalize(torch.randn(24, 8), dim=1) @ torch.nn.functional.normalize(
        torch.randn(6, 8), dim=1).T
    from sslviz.methods.swav import sinkhorn

    single = sinkhorn(scores, epsilon=0.05, iterations=3)
    out = mp.Manager().dict()
    mp.spawn(_sinkhorn_rank, args=(2, _free_port(), scores, out), nprocs=2, join=True)
    both = torch.cat([out[0], out[1]])
    assert torch.allclose(both, single, atol=1e-5)  # each rank holds its rows of the global codes
    # codes computed from one half alone differ: the test would catch a local-only Sinkhorn
    assert not torch.allclose(sinkhorn(scores[:12], epsilon=0.05, iterations=3), single[:12], atol=1e-3)


def _moco_rank(rank, world, port, images, out):
    distributed = _init(rank, world, port)
    from sslviz.augment.engine import PRESETS
    from sslviz.methods.moco import MoCo
    from sslviz.methods.models import build_backbone

    torch.manual_seed(0)  # the same initial weights and queue on every rank, as DDP's broadcast makes them
    method = MoCo(build_backbone("small-cnn", 1), num_classes=10, pipeline=PRESETS["digits"], queue_size=64)
    method.generator = torch.Generator().manual_seed(rank)
    n = images.shape[0] // world
    method.step(images[rank * n:(rank + 1) * n], torch.zeros(n, dtype=torch.long), torch.arange(n))
    out[rank] = (method.queue.clone(), int(method.queue_ptr))
    distributed.teardown()


def test_moco_enqueues_the_keys_of_every_process():
    from sslviz.data import load_dataset

    images = load_dataset("digits", image_size=16).train.images[:16]
    out = mp.Manager().dict()
    mp.spawn(_moco_rank, args=(2, _free_port(), images, out), nprocs=2, join=True)
    (q0, p0), (q1, p1) = out[0], out[1]
    # 2 processes × 8 images × 2 (symmetric: both views are keys) = 32 new keys on every rank
    assert p0 == p1 == 32
    assert torch.equal(q0, q1)  # every rank's queue holds the same, global keys
