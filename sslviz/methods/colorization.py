"""Colorization: predict an image's colours from its grayscale version."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..pretext import colorization_task
from ._decoders import ConvDecoder, input_channels
from .base import Method


def colorization_loss(predicted_chroma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """Mean squared error on the two colour channels, the regression baseline of colorization.

    Zhang, Isola, Efros (2016), "Colorful Image Colorization", Eq. 1: L2(Ŷ, Y) = 1/2 Σ_h,w ||Y_h,w -
    Ŷ_h,w||², Y the ab (here: B-Y, R-Y) channels predicted from the lightness channel L. The
    paper then replaces it by a rebalanced classification over quantised colours (Eq. 2-4)
    because L2 prefers the grey average of plausible colours; we keep the simple regression.
    """
    return F.mse_loss(predicted_chroma, chroma)


class Colorization(Method):
    name = "colorization"
    family = "pretext"
    paper = "Zhang et al., 2016. Colorful Image Colorization"
    target = "the two colour channels of every pixel, from the grayscale image"
    description = (
        "The network sees only the grayscale (luma) image and a small decoder must paint the "
        "colours back: the sky blue, grass green, an apple red or green but not purple. Guessing "
        "colours well needs to know what the objects are, and the representation never sees colour, "
        "so it is colour-blind by construction (embeddings are computed from the gray image too). "
        "The regression loss rewards the average of all plausible colours, so the answers look "
        "washed-out brown/grey; a network that only learnt 'everything is grey' is the collapse to "
        "watch for (loss stuck near the variance of the colours). Views keep the dataset's crops and "
        "flips but no colour jitter or grayscale: the colours are the answer."
    )
    default_lr = 2e-3
    defaults = {}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.in_channels = input_channels(backbone)
        if self.in_channels != 3:
            raise ConfigError("colorization needs colour images (this dataset has 1 channel)")
        self.decoder = ConvDecoder(backbone.out_dim, 2)
        self.colour_pipeline = dataclasses.replace(self.pipeline, jitter_p=0.0, gray_p=0.0)

    def colorize(self, luma: torch.Tensor) -> torch.Tensor:
        """Predicted chroma N×2×H×W for luma N×1×H×W (for training and the teaching page)."""
        gray = luma.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)
        return self.decoder(self.backbone.feature_map(gray), luma.shape[-2:])

    def step(self, images, labels, index):
        luma, chroma = colorization_task(self.views(images, self.colour_pipeline))
        loss = colorization_loss(self.colorize(luma), chroma)
        return loss, {"loss": loss.item(), "chroma_variance": chroma.var().item()}

    @torch.no_grad()
    def embed(self, x):
        luma, _ = colorization_task(x)
        return self.backbone(luma.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last))


METHOD = Colorization
