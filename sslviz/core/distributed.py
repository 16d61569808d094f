"""Multi-process training with PyTorch's own engine (torchrun + DistributedDataParallel).

`torchrun --nproc_per_node=N -m sslviz train ...` starts N copies of the CLI; each calls
`setup()`, which joins the process group from torchrun's environment (gloo on CPU, nccl on GPU).
Then:
- every rank draws the same permutation of the in-memory set and takes its own slice of each
  global batch (what DistributedSampler does, without a DataLoader);
- DDP averages gradients;
- contrastive methods gather embeddings from all ranks with `gather` (autograd-aware: the
  gradient of a gathered slice flows back to the rank that produced it), so the negatives are
  the global batch and the loss equals the single-process loss on the concatenated batch;
  MoCo enqueues the keys of every rank; SwAV's Sinkhorn-Knopp sums its marginals over ranks (the
  codes of the global batch); DeepCluster's k-means runs once, on rank 0, over the features of
  the whole training set, and its pseudo-labels are broadcast;
- SyncBatchNorm replaces BatchNorm on GPUs (PyTorch's SyncBatchNorm has no CPU kernel; on CPU
  each rank normalises its own slice, as plain DDP does);
- only rank 0 writes the run store, checkpoints and snapshots, and decides when to stop.
Single-process runs never touch torch.distributed: every helper here is a no-op for them.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "auto") -> torch.device | None:
    """Join the process group when started by torchrun; returns this rank's device (None if single)."""
    if not launched_by_torchrun():
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def teardown() -> None:
    """Leave the process group together: free what still holds it (DDP's reducer sits in reference
    cycles, which would otherwise be torn down during interpreter exit, after the group), wait for
    every rank, then destroy it. Without this a rank that finished first occasionally aborted at
    exit ("terminate called without an active exception") while rank 0 was still writing."""
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from all ranks along dim 0, keeping the gradient path to each rank's slice."""
    if not active():
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from all ranks (no gradient), e.g. keys for a MoCo queue or k-means features."""
    if not active():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks in place (Sinkhorn marginals, cluster counts); returns it."""
    if active():
        dist.all_reduce(x)
    return x


def all_reduce_max(x: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over ranks in place; returns it."""
    if active():
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x


def broadcast_tensor(x: torch.Tensor) -> torch.Tensor:
    """Rank 0's values of `x` on every rank, in place (e.g. k-means pseudo-labels); returns it."""
    if active():
        dist.broadcast(x, src=0)
    return x


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's decision, the same on every rank (stop now? the time budget is spent?)."""
    if not active():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return bool(t.item())


def broadcast_object(obj):
    """Send a picklable object from rank 0 to all ranks (e.g. the new run's id)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if active():
        dist.barrier()


def wrap(method: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DDP around the method (its forward is its step); SyncBatchNorm on GPUs."""
    if not active():
        return method
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda":
        method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
    return DDP(method, device_ids=[device.index] if device.type == "cuda" else None,
               find_unused_parameters=getattr(method, "ddp_find_unused_parameters", False))
