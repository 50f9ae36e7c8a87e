"""KTDN / SRKTDN dehazing nets, their clear-image teacher and the lite student.

One architecture, three registered configs:
- "ktdn" (`KTDNConfig`, paper-sized): Res2Net-101 v1b encoder cut after layer3 (1024 channels
  at 1/16), bottleneck `AttentionResidualBlock` (FFA's "DehazeBlock": conv, ReLU, conv,
  channel and pixel attention, reduction 8), a decoder of PixelShuffle x2 steps each followed
  by a DehazeBlock, with the encoder's layer2 and layer1 features concatenated after the first
  and second step (1024 -> 256 +512 -> 192 +256 -> 112 -> 28 channels at full resolution);
  SRKTDN's super-resolution branch on the input (PixelUnshuffle x4, a 3x3 conv, three
  DehazeBlocks, PixelShuffle x4); a PSP-style tail (average pools 32/16/8/4 of [decoder, SR]
  features, each 1x1 to one channel, upsampled and concatenated) and a 7x7 conv. The paper
  ends with tanh for images in fixed [0, 1] units; here images are in the hazy scene's own
  percentile scaling, where the clear image often lies outside (-1, 1), so the output is linear.
- "ktdn_teacher" (`KTDNTeacherConfig`): ResNet-18 encoder through layer3, a conv block to the
  same 1024 bottleneck channels, the same decoder, no SR branch (it would let the autoencoder
  copy its input around the bottleneck); trained to reconstruct clear images, its bottleneck
  features are what the dehazer's are pulled towards (knowledge transfer).
- "dehaze_lite" (`DehazeLiteConfig`, the default student): the same layout with a 3-layer
  basic-block encoder of 16/48/64 channels, a narrow SR branch, no block at full resolution
  and a 3x3 tail conv that gives a per-pixel gain and offset applied to the input ("affine"
  output: the detail of the input passes through; see `KTDNConfig.output`); about 80x fewer
  multiply-adds than "ktdn", distilled from the teacher (through a 1x1 adapter) and from "ktdn".

Call convention: `net(x) -> y` with `x` [B, bands, H, W], each band scaled to about [0, 1]
(`models.data.haze.MODEL_SCALING` of the hazy scene) and `y` the dehazed image
in the same units. H and W must be multiples of
`config.multiple_of`. `forward_features(x) -> (y, {"bottleneck": features at 1/16})`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from . import register
from .backbones import EncoderSpec, ResNetEncoder, conv_bn
from .blocks import AttentionResidualBlock, conv

OUTPUTS = ("direct", "affine")
SR_SCALE = 4
"""Resolution factor of the super-resolution branch (PixelUnshuffle/PixelShuffle x4)."""


@dataclass
class KTDNConfig:
    """Hyper-parameters of the KTDN family; the defaults are the paper-sized dehazer."""

    bands: int = 3
    encoder_block: str = "res2net"
    encoder_depths: tuple[int, ...] = (3, 4, 23)
    encoder_planes: tuple[int, ...] = (64, 128, 256)
    stem: str = "deep"
    stem_width: int = 64
    avg_down: bool = True
    res2_base_width: int = 26
    res2_scale: int = 4
    bottleneck_width: int | None = None
    """None: the encoder's layer3 width; otherwise a 3x3 conv block maps layer3 to this width
    (the teacher's ResNet-18 256 -> 1024 channels)."""
    sr_width: int = 64
    """Width of the super-resolution branch at 1/4 resolution (a multiple of 16; 0 = none)."""
    sr_blocks: int = 3
    pyramid_pools: tuple[int, ...] = (32, 16, 8, 4)
    attention_reduction: int = 8
    full_resolution_block: bool = True
    """A DehazeBlock after the last PixelShuffle step (the paper's; the lite student skips it:
    on a handful of channels at full resolution it costs more time than it adds)."""
    tail_kernel: int = 7
    output: str = "direct"
    """"direct": the tail gives the dehazed image (the paper's); "affine": it gives a gain g and
    an offset o per band and pixel, and the image is x * (1 + g) + o. The haze model
    I = J t + A (1 - t) makes the clear image such an affine map of the hazy one with smooth
    coefficients, so the input's detail reaches the output untouched (the lite student's)."""

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        self.encoder_depths = tuple(self.encoder_depths)
        self.encoder_planes = tuple(self.encoder_planes)
        self.pyramid_pools = tuple(self.pyramid_pools)

    @property
    def encoder_spec(self) -> EncoderSpec:
        """The encoder's shape."""
        return EncoderSpec(in_channels=self.bands, block=self.encoder_block,
                           depths=self.encoder_depths, planes=self.encoder_planes, stem=self.stem,
                           stem_width=self.stem_width, avg_down=self.avg_down,
                           res2_base_width=self.res2_base_width, res2_scale=self.res2_scale)

    @property
    def multiple_of(self) -> int:
        """Tile sides must be multiples of this: the encoder's 1/16, the SR branch's 1/4 and
        the largest pyramid pool must all divide the tile exactly."""
        return math.lcm(self.encoder_spec.reduction, SR_SCALE, *self.pyramid_pools)


@dataclass
class KTDNTeacherConfig(KTDNConfig):
    """The clear-image autoencoder: ResNet-18 through layer3 and a block to 1024 channels."""

    encoder_block: str = "basic"
    encoder_depths: tuple[int, ...] = (2, 2, 2)
    encoder_planes: tuple[int, ...] = (64, 128, 256)
    stem: str = "conv7"
    avg_down: bool = False
    bottleneck_width: int | None = 1024
    sr_width: int = 0


@dataclass
class DehazeLiteConfig(KTDNConfig):
    """The lite student: small basic-block encoder (16/48/64 channels), narrow SR branch."""

    encoder_block: str = "basic"
    encoder_depths: tuple[int, ...] = (1, 1, 1)
    encoder_planes: tuple[int, ...] = (16, 48, 64)
    stem: str = "conv3"
    stem_width: int = 16
    avg_down: bool = False
    sr_width: int = 32
    sr_blocks: int = 1
    full_resolution_block: bool = False
    tail_kernel: int = 3
    output: str = "affine"


def decoder_widths(skip_channels: tuple[int, int], bottleneck_width: int) -> list[int]:
    """Channels after each PixelShuffle x2 step of the decoder (1/8, 1/4, 1/2, 1/1).

    The first step follows the bottleneck; layer2's features are concatenated after it and
    layer1's after the second. PixelShuffle divides channels by 4, so each input to a step must
    be a multiple of 4 (raises ValueError otherwise, naming the width to change).
    """
    layer1, layer2 = skip_channels
    widths, current = [], bottleneck_width
    for step, skip in enumerate((layer2, layer1, 0, 0)):
        if current % 4:
            raise ValueError(f"decoder step {step + 1} gets {current} channels, which PixelShuffle "
                             "cannot divide by 4; change the encoder or bottleneck widths")
        widths.append(current // 4)
        current = current // 4 + skip
    return widths


class SuperResolutionBranch(nn.Module):
    """SRKTDN's full-resolution detail branch: unshuffle x4, conv, attention blocks, shuffle x4."""

    def __init__(self, bands: int, width: int, blocks: int, reduction: int):
        super().__init__()
        if width % (SR_SCALE * SR_SCALE):
            raise ValueError(f"the SR branch width must be a multiple of {SR_SCALE ** 2}, got {width}")
        self.body = nn.Sequential(
            nn.PixelUnshuffle(SR_SCALE), conv(bands * SR_SCALE ** 2, width, bias=True),
            *(AttentionResidualBlock(width, reduction=reduction) for _ in range(blocks)),
            nn.PixelShuffle(SR_SCALE))
        self.out_channels = width // SR_SCALE ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class PyramidPoolingTail(nn.Module):
    """features -> conv([features, pooled maps]), a 7x7 conv in the paper (linear output).

    Each pool size p averages p x p cells, a 1x1 conv makes one channel of them, and the map
    is upsampled bilinearly back to full size (bilinear rather than nearest so that no p-pixel
    blocks show up in the output). EPDN's tail puts a ReLU after the 1x1 conv; on a single
    channel one unlucky bias kills the whole map for good, so it is left out.
    """

    def __init__(self, channels: int, bands: int, pools: tuple[int, ...], kernel_size: int = 7):
        super().__init__()
        self.pools = tuple(pools)
        self.squeeze = nn.ModuleList(conv(channels, 1, 1, bias=True) for _ in self.pools)
        self.project = nn.Sequential(
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(channels + len(self.pools), bands, kernel_size, bias=True))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = features.shape[-2:]
        maps = [F.interpolate(squeeze(F.avg_pool2d(features, pool)), size=size,
                              mode="bilinear", align_corners=False)
                for pool, squeeze in zip(self.pools, self.squeeze)]
        return self.project(torch.cat([features, *maps], 1))


@register("ktdn", KTDNConfig)
@register("ktdn_teacher", KTDNTeacherConfig)
@register("dehaze_lite", DehazeLiteConfig)
class KTDN(nn.Module):
    """Encoder -> attention bottleneck -> PixelShuffle decoder (+ SR branch) -> pyramid tail."""

    def __init__(self, config: KTDNConfig):
        super().__init__()
        self.config = config
        spec = config.encoder_spec
        if len(spec.depths) != 3:
            raise ValueError(f"the KTDN decoder uses encoder layers 1-3; got {len(spec.depths)} layers")
        self.encoder = ResNetEncoder(spec)
        channels = spec.channels
        width = config.bottleneck_width or channels["layer3"]
        self.widen = (conv_bn(channels["layer3"], width) if width != channels["layer3"]
                      else nn.Identity())
        reduction = config.attention_reduction
        self.bottleneck = AttentionResidualBlock(width, reduction=reduction)
        widths = decoder_widths((channels["layer1"], channels["layer2"]), width)
        self.up = nn.PixelShuffle(2)
        self.decoder = nn.ModuleList(AttentionResidualBlock(w, reduction=reduction) for w in widths[:-1])
        self.decoder.append(AttentionResidualBlock(widths[-1], reduction=reduction)
                            if config.full_resolution_block else nn.Identity())
        self.sr_branch = (SuperResolutionBranch(config.bands, config.sr_width, config.sr_blocks,
                                                reduction) if config.sr_width else None)
        tail_channels = widths[-1] + (self.sr_branch.out_channels if self.sr_branch else 0)
        affine = config.output == "affine"
        self.tail = PyramidPoolingTail(tail_channels, config.bands * (2 if affine else 1),
                                       config.pyramid_pools, config.tail_kernel)
        if affine:  # start as the identity: gain 0, offset 0
            last = self.tail.project[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self._bottleneck_width = width

    @property
    def feature_channels(self) -> dict[str, int]:
        """Channels of each tensor in `forward_features`'s feature dict."""
        return {"bottleneck": self._bottleneck_width}

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.dim() != 4:
            raise InputError(f"dehazing expects a batch [B, bands, H, W], got shape {tuple(x.shape)}")
        if x.shape[1] != cfg.bands:
            raise InputError(f"this model dehazes {cfg.bands}-band images but the input has "
                             f"{x.shape[1]} bands; choose a model trained for {x.shape[1]} bands")
        if x.shape[2] % cfg.multiple_of or x.shape[3] % cfg.multiple_of:
            raise InputError(f"tiles for this model must be multiples of {cfg.multiple_of} pixels "
                             f"on each side, got {x.shape[2]}x{x.shape[3]}; change the tile size")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(dehazed image, {"bottleneck": [B, bottleneck width, H/16, W/16]})."""
        self._check_input(x)
        encoded = self.encoder(x)
        bottleneck = self.bottleneck(self.widen(encoded["layer3"]))
        skips = [encoded["layer2"], encoded["layer1"], None, None]
        current = bottleneck
        for block, skip in zip(self.decoder, skips):
            current = block(self.up(current))
            if skip is not None:
                current = torch.cat([current, skip], 1)
        if self.sr_branch is not None:
            current = torch.cat([current, self.sr_branch(x)], 1)
        out = self.tail(current)
        if self.config.output == "affine":
            gain, offset = out.split(self.config.bands, dim=1)
            out = x * (1 + gain) + offset
        return out, {"bottleneck": bottleneck}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The dehazed image (or, for the teacher, the reconstruction)."""
        return self.forward_features(x)[0]
