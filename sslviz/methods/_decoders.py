"""The small decoder shared by the reconstruction methods (colorization, inpainting, denoising-ae).

It turns the backbone's last feature map (N×D×h×w, h = H/8 for both backbones) back into an
image: a 1×1 conv to 64 channels, three ×2 transposed-conv stages (64 -> 32 -> 16 channels) and a
3×3 conv to the output channels. About 2.5 MFLOP per 32×32 image, a tenth of the small backbone,
so the encoder has to do the work: a strong decoder could reconstruct from weak features.
`VectorDecoder` paints from the pooled representation instead (the papers' bottleneck; the
default of inpainting and the denoising autoencoder), through the same stages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvDecoder(nn.Module):
    def __init__(self, in_dim: int, out_channels: int, widths: tuple[int, ...] = (64, 32, 16)):
        super().__init__()
        stages, cin = [nn.Conv2d(in_dim, widths[0], 1), nn.ReLU(inplace=True)], widths[0]
        for w in widths:
            stages.append(_up(cin, w))
            cin = w
        stages.append(nn.Conv2d(cin, out_channels, 3, padding=1))
        self.net = nn.Sequential(*stages)

    def forward(self, feature_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Decode to an image of `size` (H, W); resized at the end when H is not 8× the map."""
        out = self.net(feature_map)
        if tuple(out.shape[-2:]) != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


class VectorDecoder(nn.Module):
    """Decodes the pooled feature vector, the representation itself, rather than the feature map.

    The papers' autoencoders squeeze the image through one code: Vincent et al. (2008) a hidden
    layer, Pathak et al. (2016) a channel-wise fully connected bottleneck. Decoding from the
    spatial map lets the network paint each region from local features that global pooling then
    averages away; decoding from the pooled vector makes that vector carry the whole picture.
    A linear layer maps it to a small 16×4×4 map (few weights: the zoo ships them), then
    ConvDecoder's 1×1 conv to 64 channels and its three ×2 stages.
    """

    def __init__(self, in_dim: int, out_channels: int, widths: tuple[int, ...] = (64, 32, 16), seed_channels: int = 16,
                 start: int = 4):
        super().__init__()
        self.shape = (seed_channels, start, start)
        self.fc = nn.Sequential(nn.Linear(in_dim, seed_channels * start * start, bias=False),
                                nn.BatchNorm1d(seed_channels * start * start), nn.ReLU(inplace=True))
        self.conv = ConvDecoder(seed_channels, out_channels, widths)

    def forward(self, code: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Decode (N, in_dim) codes to images of `size`."""
        grid = self.fc(code).view(len(code), *self.shape)
        return self.conv(grid.contiguous(memory_format=torch.channels_last), size)


def painter(backbone: nn.Module, channels: int, code: str) -> nn.Module:
    """The decoder of a reconstruction method: from the pooled vector ("vector") or the map ("map")."""
    if code == "vector":
        return VectorDecoder(backbone.out_dim, channels)
    return ConvDecoder(backbone.map_channels, channels)


def paint(backbone: nn.Module, decoder: nn.Module, x: torch.Tensor, code: str) -> torch.Tensor:
    """Images of x's size painted by `decoder` from the backbone's code of x (float, channels_last)."""
    x = x.contiguous(memory_format=torch.channels_last)
    return decoder(backbone(x) if code == "vector" else backbone.feature_map(x), x.shape[-2:])


def input_channels(backbone: nn.Module) -> int:
    """How many image channels the backbone takes (its first convolution's input channels)."""
    return next(m for m in backbone.modules() if isinstance(m, nn.Conv2d)).in_channels
