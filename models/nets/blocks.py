"""Building blocks shared by GeoDistill's nets (pansharpening, dehazing, segmentation).

Every block is a plain `nn.Module` that keeps its input's spatial size unless its name says it
resamples (`PixelShuffleUp`, `PixelUnshuffleDown`, `UpProjection`, `DownProjection`). Convs use
"same" padding and, following PSDNet, no bias unless asked for.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = False,
         stride: int = 1) -> nn.Conv2d:
    """A 2-D conv with "same" padding for odd kernels (halved size with stride 2)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     padding=kernel_size // 2, bias=bias)


class ConvPReLU(nn.Sequential):
    """conv followed by PReLU: the basic layer of PSDNet's stages."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 bias: bool = False):
        super().__init__(conv(in_channels, out_channels, kernel_size, bias), nn.PReLU())


class ChannelAttention(nn.Module):
    """Rescales channels by weights squeezed from global pooling.

    The pooled vector(s) go through a shared bottleneck (1x1 to channels/reduction, ReLU, 1x1);
    with `use_max` the average- and max-pooled branches are summed before the sigmoid (CBAM,
    PSDNet), otherwise only the average is used (FFA/KTDN).
    """

    def __init__(self, channels: int, reduction: int = 4, use_max: bool = True,
                 bias: bool = False):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.use_max = use_max
        self.bottleneck = nn.Sequential(
            conv(channels, hidden, 1, bias), nn.ReLU(inplace=True), conv(hidden, channels, 1, bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.bottleneck(F.adaptive_avg_pool2d(x, 1))
        if self.use_max:
            logits = logits + self.bottleneck(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(logits)


class SpatialAttention(nn.Module):
    """Rescales pixels by a map convolved from the channel-wise mean and max."""

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.mix = conv(2, 1, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summary = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.mix(summary))


class PixelAttention(nn.Module):
    """Rescales pixels by a map predicted from all channels (FFA-Net's pixel attention)."""

    def __init__(self, channels: int, reduction: int = 8, bias: bool = True):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.map = nn.Sequential(conv(channels, hidden, 1, bias), nn.ReLU(inplace=True),
                                 conv(hidden, 1, 1, bias), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.map(x)


class CAB(nn.Module):
    """Channel attention block: x + CA(conv(PReLU(conv(x))))."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels), nn.PReLU(), conv(channels, channels),
                                  ChannelAttention(channels, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SAB(nn.Module):
    """Spatial attention block: x + SA(x), SA from the channel mean and max through a 3x3 conv."""

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.attention = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attention(x)


class PixelShuffleUp(nn.Module):
    """Upsamples by `scale`: 1x1 conv to out*scale^2 channels, then PixelShuffle."""

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2, bias: bool = False):
        super().__init__()
        self.expand = conv(in_channels, out_channels * scale * scale, 1, bias)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.expand(x))


class PixelUnshuffleDown(nn.Module):
    """Downsamples by `scale` without discarding pixels: PixelUnshuffle, then 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2, bias: bool = False):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(scale)
        self.reduce = conv(in_channels * scale * scale, out_channels, 1, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.unshuffle(x))


def projection_geometry(ratio: int) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a back-projection (de)conv scaling exactly by `ratio`.

    kernel = ratio + 4 with padding 2 gives (8, 4, 2) at ratio 4 and (6, 2, 2) at ratio 2, the
    DBPN settings; a deconv then maps n -> n * ratio pixels and the matching conv n * ratio -> n.
    """
    if ratio < 2:
        raise ValueError(f"back-projection needs a ratio of at least 2, got {ratio}")
    return ratio + 4, ratio, 2


def _projection_up(channels: int, ratio: int) -> nn.Sequential:
    kernel, stride, padding = projection_geometry(ratio)
    return nn.Sequential(nn.ConvTranspose2d(channels, channels, kernel, stride, padding, bias=False),
                         nn.PReLU())


def _projection_down(channels: int, ratio: int) -> nn.Sequential:
    kernel, stride, padding = projection_geometry(ratio)
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, stride, padding, bias=False),
                         nn.PReLU())


class UpProjection(nn.Module):
    """DBPN up-projection: low-res features -> high-res, corrected by their back-projection.

    H0 = up(L); the error L0 - L of projecting H0 back down is itself projected up and added:
    H = H0 + up(down(H0) - L).
    """

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.up_first = _projection_up(channels, ratio)
        self.down = _projection_down(channels, ratio)
        self.up_error = _projection_up(channels, ratio)

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        high = self.up_first(low)
        return high + self.up_error(self.down(high) - low)


class DownProjection(nn.Module):
    """DBPN down-projection, the mirror of `UpProjection`: L = L0 + down(up(L0) - H)."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.down_first = _projection_down(channels, ratio)
        self.up = _projection_up(channels, ratio)
        self.down_error = _projection_down(channels, ratio)

    def forward(self, high: torch.Tensor) -> torch.Tensor:
        low = self.down_first(high)
        return low + self.down_error(self.up(low) - high)


class AttentionResidualBlock(nn.Module):
    """FFA-Net's block, KTDN's "DehazeBlock": conv, ReLU, + x, conv, channel then pixel attention,
    + x. Attention uses average pooling only and biased 1x1 convs, as in FFA/KTDN."""

    def __init__(self, channels: int, kernel_size: int = 3, reduction: int = 8):
        super().__init__()
        self.first = conv(channels, channels, kernel_size, bias=True)
        self.second = conv(channels, channels, kernel_size, bias=True)
        self.channel_attention = ChannelAttention(channels, reduction, use_max=False, bias=True)
        self.pixel_attention = PixelAttention(channels, reduction, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = F.relu(self.first(x)) + x
        residual = self.pixel_attention(self.channel_attention(self.second(residual)))
        return residual + x
