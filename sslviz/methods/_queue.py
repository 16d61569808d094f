"""A queue of past projections (a memory bank), shared by the methods that compare against one.

MoCo keeps its last few thousand keys as negatives; NNCLR keeps its last few thousand projections
as the support set it draws each view's nearest neighbour from. Both need the same three things:
a buffer of L2-normalised vectors that starts as random unit vectors, a pointer, and a first-in,
first-out write of each batch. The queue lives in the method's own buffers (`queue`, `queue_ptr`),
so it is saved in the checkpoint under the names MoCo has always used, and the random start draws
from the global generator exactly as MoCo's did.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def register_queue(module: nn.Module, size: int, dim: int) -> None:
    """Give `module` a queue of `size` random unit vectors of `dim` (buffers `queue`, `queue_ptr`)."""
    module.register_buffer("queue", F.normalize(torch.randn(int(size), int(dim)), dim=1))
    module.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))


@torch.no_grad()
def enqueue(queue: torch.Tensor, ptr: torch.Tensor, vectors: torch.Tensor) -> None:
    """Write `vectors` (N×D, normalised here) over the oldest rows of `queue`, in place; `ptr` (a 0-d
    long tensor) moves on by N, wrapping. A batch larger than the queue keeps only its last rows."""
    vectors = F.normalize(vectors.detach(), dim=1)[-len(queue):]
    idx = (ptr + torch.arange(len(vectors), device=vectors.device)) % len(queue)
    queue[idx] = vectors.to(queue.dtype)
    ptr.copy_((ptr + len(vectors)) % len(queue))
