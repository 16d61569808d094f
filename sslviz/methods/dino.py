"""DINO: a student matches the sharpened, centred output distribution of its momentum teacher."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._momentum import cosine_momentum, ema_update, momentum_copy
from .base import Method, MethodCard
from .models import mlp_head


def dino_loss(
    student_out: torch.Tensor,
    teacher_out: torch.Tensor,
    center: torch.Tensor,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> torch.Tensor:
    """Cross-entropy from the centred, sharpened teacher to the student, over pairs of different views.

    Caron et al. (2021), "Emerging Properties in Self-Supervised Vision Transformers" (DINO),
    Eq. 2-3 and Algorithm 1:

        P_t = softmax((g_t(x) - c) / tau_t),   P_s = softmax(g_s(x') / tau_s)
        L = mean over pairs (x, x'), x != x', of  -sum_k P_t(x)_k log P_s(x')_k

    Centering (subtract c, a running mean of teacher outputs) stops one dimension from winning
    for every image; sharpening (tau_t < tau_s) stops the teacher from going uniform. Uniform
    outputs give L = log K. The teacher gets no gradient.
    student_out: V_s×N×K logits of V_s views; teacher_out: V_t×N×K logits of the first V_t of
    those views (the global views); center: K (or 1×K).
    """
    teacher = F.softmax((teacher_out.detach() - center) / teacher_temp, dim=-1)
    student = F.log_softmax(student_out / student_temp, dim=-1)
    total, pairs = 0.0, 0
    for t in range(teacher.shape[0]):
        for s in range(student.shape[0]):
            if s == t:  # a view is not compared with itself
                continue
            total = total + (-(teacher[t] * student[s]).sum(-1)).mean()
            pairs += 1
    return total / pairs


class DINOHead(nn.Module):
    """MLP -> L2-normalised bottleneck -> K prototypes with unit-norm weights (DINO's weight-normalised
    last layer with its scale fixed at 1), so each output is a cosine in [-1, 1]."""

    def __init__(self, in_dim: int, hidden: int, bottleneck: int, out_dim: int):
        super().__init__()
        self.mlp = mlp_head(in_dim, hidden, bottleneck, layers=3)
        self.prototypes = nn.Parameter(torch.randn(out_dim, bottleneck) / math.sqrt(bottleneck))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(x), dim=-1) @ F.normalize(self.prototypes, dim=-1).T


class DINO(Method):
    name = "dino"
    title = "DINO"  # how people write it
    family = "non-contrastive"
    paper = "Caron et al., 2021. Emerging Properties in Self-Supervised Vision Transformers (DINO)"
    target = "the momentum teacher's sharpened, centred distribution over K prototypes for the other view"
    description = (
        "Self-distillation with no labels. Each image is augmented twice; a teacher network (a "
        "slow moving average of the student) turns one view into a probability distribution over "
        "K made-up classes, made sharp (low temperature) and centred (a running mean of its "
        "outputs is subtracted). The student must predict that distribution from the other view. "
        "Two collapses are possible and the two tricks balance them: without centering one class "
        "wins for every image; without sharpening the teacher goes uniform. Watch the teacher "
        "entropy: near log K means uniform collapse, near 0 together with a low 'classes used' "
        "entropy means one-class collapse. Here only 2 global views are used (no small local "
        "crops): multi-crop costs several extra forward passes, too slow for a laptop CPU. As in "
        "the paper, the teacher is the network that is evaluated."
    )
    card = MethodCard(
        title="DINO: self-distillation",
        predicts="From one view, predict the teacher's sharpened, centred distribution over K prototypes for the other view.",
        formula=r"\mathcal{L} = -\sum_k P_t(x)_k \log P_s(x')_k, \quad P_t = \mathrm{softmax}\big((g_t(x) - c)/\tau_t\big)",
        invariance="What the augmentations change.",
        collapse="Two collapses, balanced by two tricks: without centring one prototype wins for every image; "
        "without sharpening the teacher goes uniform (loss log K).",
        loss_function="dino_loss",
    )
    joint_embedding = True
    test_budget = (300, 64)  # scored with its teacher, which lags the student early (test_methods_learn.py)
    ships = ("shapes", "mnist-10k")
    not_shipped = ("head", "teacher_head")  # scored with its teacher: teacher_backbone ships
    default_lr = 2e-3
    # CPU-sane DINO: K = 1,024 prototypes (the paper: 65,536) after a 512-wide MLP and a 128-d
    # bottleneck (the paper: 2,048 and 256); student temperature 0.1, teacher 0.04 (the optional
    # warm-up to final_teacher_temp over the first teacher_temp_warmup of the run is the paper's
    # 0.04 -> 0.07), centre momentum 0.9, teacher momentum 0.99 -> 1 on a cosine (the paper's
    # 0.996 is for hundreds of epochs).
    defaults = {"out_dim": 1024, "hidden": 512, "bottleneck": 128, "student_temp": 0.1, "teacher_temp": 0.04,
                "final_teacher_temp": 0.04, "teacher_temp_warmup": 0.3, "center_momentum": 0.9, "momentum": 0.99}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.head = DINOHead(backbone.out_dim, self.hp["hidden"], self.hp["bottleneck"], self.hp["out_dim"])
        self.teacher_backbone = momentum_copy(self.backbone)
        self.teacher_head = momentum_copy(self.head)
        self.register_buffer("center", torch.zeros(1, self.hp["out_dim"]))
        self.progress = 0.0
        self.momentum = float(self.hp["momentum"])

    def teacher_temp(self) -> float:
        start, end, warm = self.hp["teacher_temp"], self.hp["final_teacher_temp"], self.hp["teacher_temp_warmup"]
        if warm <= 0 or self.progress >= warm:
            return end
        return start + (end - start) * self.progress / warm

    def step(self, images, labels, index):
        n = len(images)
        x = self.two_views(images)  # two global views
        student = self.head(self.backbone(x)).reshape(2, n, -1)
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(x)).reshape(2, n, -1)
        t_temp = self.teacher_temp()
        loss = dino_loss(student, teacher, self.center, self.hp["student_temp"], t_temp)
        with torch.no_grad():
            probs = F.softmax((teacher - self.center) / t_temp, dim=-1)
            entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
            usage = probs.mean((0, 1))  # how the batch spreads over the K prototypes
            usage_entropy = -(usage * usage.clamp_min(1e-12).log()).sum()
            m = self.hp["center_momentum"]
            self.center.mul_(m).add_(teacher.mean((0, 1)), alpha=1 - m)  # Eq. 4
        return loss, {"loss": loss.item(), "teacher_entropy": entropy.item(),
                      "classes_used_entropy": usage_entropy.item(), "teacher_temp": t_temp,
                      "teacher_momentum": self.momentum}

    @torch.no_grad()
    def embed(self, x):
        """The teacher's backbone features: the paper evaluates the teacher, which (a running average
        of the student) performs better throughout its long training (Sec. 5.2, Fig. 6). In a short
        run it lags: 150 steps of 64 on shapes (small-cnn) took kNN 19.7% -> 20.6% for the teacher,
        22.8% for the student (seed 1: 20.2% -> 19.2%, 23.8%); 300 steps: teacher 23.3% (21.3%)."""
        return self.teacher_backbone(x)

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        self.progress = progress
        self.momentum = cosine_momentum(self.hp["momentum"], progress)
        ema_update(self.teacher_backbone, self.backbone, self.momentum)
        ema_update(self.teacher_head, self.head, self.momentum)


METHOD = DINO
