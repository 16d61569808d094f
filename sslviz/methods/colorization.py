"""Colorization: predict an image's colours from its grayscale version, as a choice among colours.

Simplifications of Zhang et al. (2016): a square grid of chroma classes (the paper: 313 in-gamut
Lab bins), one class per pixel instead of a soft encoding over 5 neighbours. Their class
rebalancing (Eq. 3-4) is kept: rare colours weigh more in the loss.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from sslviz.augment.pretext import LUMA, colorization_task, combine_luma_chroma
from sslviz.core.errors import ConfigError

from ._decoders import ConvDecoder, input_channels
from .base import Method, MethodCard, PretextTask

CHROMA_MAX = (1 - LUMA[2], 1 - LUMA[0])  # the largest |B - Y| and |R - Y| of RGB in [0, 1]


def chroma_bins(chroma: torch.Tensor, bins: int) -> torch.Tensor:
    """The colour class of every pixel: chroma N×2×H×W -> index N×H×W into a bins×bins grid."""
    limit = torch.tensor(CHROMA_MAX, device=chroma.device)[None, :, None, None]
    cell = ((chroma / limit + 1) / 2 * bins).long().clamp(0, bins - 1)
    return cell[:, 0] * bins + cell[:, 1]


def bin_centres(bins: int) -> torch.Tensor:
    """The chroma (B - Y, R - Y) at the centre of each of the bins² colour classes: bins²×2."""
    u = (torch.arange(bins) + 0.5) / bins * 2 - 1
    a, b = torch.meshgrid(u * CHROMA_MAX[0], u * CHROMA_MAX[1], indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], 1)


def rebalancing_weights(classes: torch.Tensor, q: int, lam: float = 0.5, sigma: float = 0.5) -> torch.Tensor:
    """Weights of the Q colour classes from the training pixels' classes (Zhang et al., Eq. 4):

        w ∝ ((1 - λ) p̃ + λ / Q)^-1,   normalised so that E_p̃[w] = Σ_q p̃_q w_q = 1,

    p̃ the empirical class distribution smoothed by a Gaussian (σ in bins: the paper's σ = 5 on
    bins 10 wide), λ mixes it with the uniform over the Q classes that occur. λ = 1: no reweighting.
    """
    bins = math.isqrt(q)
    p = torch.bincount(classes.flatten(), minlength=q).float()
    seen = int((p > 0).sum())
    taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0]) / (2 * sigma**2))
    kernel = (taps[:, None] * taps[None, :] / taps.sum() ** 2)[None, None]
    p = F.conv2d(F.pad(p.reshape(1, 1, bins, bins), (1, 1, 1, 1)), kernel).flatten()
    p /= p.sum()
    w = 1 / ((1 - lam) * p + lam / seen)
    return w / (p * w).sum()


def colorization_loss(logits: torch.Tensor, chroma: torch.Tensor, bins: int,
                      class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over quantised colours, the classification loss of colorization.

    Zhang, Isola, Efros (2016), "Colorful Image Colorization", Eq. 2: L_cl(Ẑ, Z) = -Σ_h,w Σ_q
    Z_h,w,q log Ẑ_h,w,q, Ẑ the predicted distribution over Q colour classes of each pixel and Z the
    true class (the paper soft-encodes it over 5 neighbouring classes; here: the one grid cell of
    the pixel's (B-Y, R-Y) chroma), each pixel weighted by its class's `class_weights` v(Z_h,w)
    (Eq. 3: rare colours count more; none: all 1). The paper's point
    (Sec. 2.1): the regression loss L2(Ŷ, Y) (Eq. 1) is minimised by the mean of the plausible
    colours, grey when colours vary; a distribution can say "saturated, hue unknown".
    logits: N×Q×h×w with Q = bins²; chroma: N×2×h×w at the logits' resolution.
    """
    target = chroma_bins(chroma, bins)
    if class_weights is None:
        return F.cross_entropy(logits, target)
    return (class_weights[target] * F.cross_entropy(logits, target, reduction="none")).mean()


class Colorization(Method):
    name = "colorization"
    title = "Colorization"  # how people write it
    family = "pretext"
    paper = "Zhang et al., 2016. Colorful Image Colorization"
    target = "the colour class of every pixel (a grid of chroma values), from the grayscale image"
    description = (
        "The network sees only the grayscale (luma) image and a small decoder must say which colour "
        "each part had, as a probability over a grid of colours: the sky blue, grass green, an apple "
        "red or green but not purple. Guessing colours well needs to know what the objects are, and "
        "the representation never sees colour, so it is colour-blind by construction (embeddings "
        "are computed from the gray image too). Predicting a distribution rather than one colour "
        "matters: the average of all plausible colours is grey, so a regression network learns "
        "'everything is grey'. On shapes the hue is random, but the distribution can still say "
        "'this is the shape: saturated, any hue; this is the background: nearly grey', which needs "
        "to find the shape. Collapse is predicting the same colour distribution everywhere (the "
        "loss stuck at the entropy of the colours). Views keep the dataset's crops and flips but no "
        "colour jitter or grayscale: the colours are the answer."
    )
    card = MethodCard(
        title="Colorization",
        predicts="From the grayscale (luma) image, predict the two colour channels of every pixel.",
        formula=r"\mathcal{L} = \frac{1}{HW}\sum_{h,w} \big\| \hat{Y}_{h,w} - Y_{h,w} \big\|^2, \quad \hat{Y} = f_\theta(L)",
        invariance="Colour-blind by construction: the network never sees colour, so its features cannot depend on it.",
        collapse="Painting everything grey-brown (the average of plausible colours) is the lazy answer: the loss "
        "stalls near the variance of the colours. On shapes, colours are random: nothing to learn.",
        loss_function="colorization_loss",
    )
    test_budget = (300, 32)
    ships = ("shapes",)
    default_lr = 2e-3
    # bins: colour classes per chroma axis (8 × 8 = 64). Colours are predicted at half resolution
    # (16 × 16 at 32 px; the paper: a quarter). On shapes after 150 steps of 64 images kNN went
    # 23.7% (untrained, gray input) -> 27.7% (seed 1: 23.9% -> 25.9%); the earlier regression
    # (mean squared error on chroma) fell to 21.9%: on shapes its best answer is grey everywhere.
    # rebalance: the paper's λ = 0.5 (1: no reweighting). On shapes (small-cnn, 300 steps of 32)
    # kNN went 23.7% -> 25.2% with it, -> 27.1% without (seed 1: 23.8% -> 25.9%, 25.5% without):
    # within the noise on this budget.
    defaults = {"bins": 8, "temperature": 0.38, "rebalance": 0.5}
    pretext = PretextTask(
        title="Colorization", layout="paint",
        captions=("the gray (luma) image", "the colours", "gray + its predicted colours"),
        lazy="an all-grey guess", needs_colour=True,
        notes=(("shapes", "On `shapes` the colours are random, so from gray alone the best guess is a dull average."),))

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.in_channels = input_channels(backbone)
        if self.in_channels != 3:
            raise ConfigError("colorization needs colour images (this dataset has 1 channel)")
        self.decoder = ConvDecoder(backbone.map_channels, self.hp["bins"] ** 2, widths=(64, 32))
        self.colour_pipeline = dataclasses.replace(self.pipeline, jitter_p=0.0, gray_p=0.0)
        # from the training images in `prepare`; checkpointed through extra_state (prepare is not
        # called again when a run resumes)
        self.register_buffer("class_weights", torch.ones(self.hp["bins"] ** 2), persistent=False)

    @torch.no_grad()
    def prepare(self, images):
        """The class weights from the colours of the training images, at the loss's resolution."""
        classes = []
        for start in range(0, len(images), 1024):
            _, chroma = colorization_task(images[start : start + 1024].float().div(255))
            classes.append(chroma_bins(F.avg_pool2d(chroma, 2), self.hp["bins"]))
        w = rebalancing_weights(torch.cat(classes), self.hp["bins"] ** 2, self.hp["rebalance"])
        self.class_weights = w.to(self.class_weights.device)

    def extra_state(self):
        return {"class_weights": self.class_weights.cpu()}

    def load_extra_state(self, state):
        if "class_weights" in state:
            self.class_weights = state["class_weights"].to(self.class_weights.device)

    def colour_logits(self, luma: torch.Tensor) -> torch.Tensor:
        """Scores N×Q×(H/2)×(W/2) of the Q colour classes, for luma N×1×H×W."""
        gray = luma.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)
        return self.decoder(self.backbone.feature_map(gray), (luma.shape[-2] // 2, luma.shape[-1] // 2))

    def colorize(self, luma: torch.Tensor) -> torch.Tensor:
        """Predicted chroma N×2×H×W for luma N×1×H×W (for the teaching page): the paper's annealed
        mean (Eq. 5), the average colour under the distribution sharpened by `temperature`."""
        p = F.softmax(self.colour_logits(luma) / self.hp["temperature"], dim=1)
        chroma = torch.einsum("nqhw,qc->nchw", p, bin_centres(self.hp["bins"]).to(p.device))
        return F.interpolate(chroma, size=luma.shape[-2:], mode="bilinear", align_corners=False)

    @classmethod
    @torch.no_grad()
    def pretext_example(cls, x, method=None, seed=0):
        """Gray (luma) in, colour out. With a run: its painting, luma + predicted chroma; its error and
        the all-grey guess's, on the colours (chroma)."""
        luma, chroma = colorization_task(x)
        out = {"inputs": luma, "targets": x}
        if method is not None:
            predicted = method.colorize(luma)
            out["predicted"] = combine_luma_chroma(luma, predicted).clamp(0, 1)
            out["error"], out["lazy_error"] = float(((predicted - chroma) ** 2).mean()), float((chroma ** 2).mean())
        return out

    def step(self, images, labels, index):
        luma, chroma = colorization_task(self.views(images, self.colour_pipeline))
        logits = self.colour_logits(luma)
        target = F.adaptive_avg_pool2d(chroma, logits.shape[-2:])
        loss = colorization_loss(logits, target, self.hp["bins"], self.class_weights)
        return loss, {"loss": loss.item(), "chroma_variance": chroma.var().item()}

    @torch.no_grad()
    def embed(self, x):
        luma, _ = colorization_task(x)
        return self.backbone(luma.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last))


METHOD = Colorization
