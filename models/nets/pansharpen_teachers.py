"""Published pansharpening nets used as teachers: FusionNet and DiCNN.

Both work on the bicubically upsampled MS (`lms`, on the PAN grid) and the PAN, in the units
they were trained in (11-bit DN divided by 2047), and predict a residual added to `lms`:
- DiCNN (He et al. 2019): three 3x3 convs (64 wide, ReLU) read [lms, PAN];
- FusionNet (Deng et al. 2021): a 3x3 conv reads PAN - lms (the PAN repeated over the bands,
  minus each band), four residual blocks of two 3x3 convs (32 wide), a 3x3 conv out.
`forward(ms, pan)` takes the MS on its own grid, like every pansharpening net here, and
upsamples it itself. Weights come from the DLPan-Toolbox safetensors through
`models.nets.pretrained_pansharpen`, which maps their key names onto these modules.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import register
from .blocks import conv
from .pansharpen_common import check_pansharpen_inputs, upsample_ms


@dataclass
class TeacherConfig:
    """Band count and ratio of a published pansharpening net (both nets are ratio 4)."""

    ms_bands: int = 8
    ratio: int = 4

    @property
    def multiple_of(self) -> int:
        """PAN tile sides must be multiples of this (the MS tile must have whole pixels)."""
        return self.ratio


class PublishedNet(nn.Module):
    """What the training loops need of a teacher net besides `forward(ms, pan)`."""

    def forward_features(self, ms: torch.Tensor, pan: torch.Tensor,
                         stage2_input: torch.Tensor | None = None
                         ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """([fused], {}): one output and no features; `stage2_input` is ignored."""
        return [self(ms, pan)], {}


class ResidualPair(nn.Module):
    """x + conv(relu(conv(x))): FusionNet's residual block."""

    def __init__(self, width: int):
        super().__init__()
        self.first = conv(width, width, bias=True)
        self.second = conv(width, width, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(torch.relu(self.first(x)))


@register("fusionnet", TeacherConfig)
class FusionNet(PublishedNet):
    """FusionNet: residual blocks on the PAN-minus-MS difference, added to the upsampled MS."""

    width = 32
    blocks_count = 4

    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = config
        self.head = conv(config.ms_bands, self.width, bias=True)
        self.blocks = nn.Sequential(*(ResidualPair(self.width) for _ in range(self.blocks_count)))
        self.tail = conv(self.width, config.ms_bands, bias=True)

    def forward(self, ms: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        check_pansharpen_inputs(ms, pan, cfg.ms_bands, cfg.ratio, cfg.multiple_of)
        lms = upsample_ms(ms, cfg.ratio)
        hidden = self.blocks(torch.relu(self.head(pan - lms)))
        return lms + self.tail(hidden)


@register("dicnn", TeacherConfig)
class DiCNN(PublishedNet):
    """DiCNN1: three convs on [upsampled MS, PAN], added to the upsampled MS."""

    width = 64

    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = config
        self.body = nn.Sequential(conv(config.ms_bands + 1, self.width, bias=True), nn.ReLU(),
                                  conv(self.width, self.width, bias=True), nn.ReLU(),
                                  conv(self.width, config.ms_bands, bias=True))

    def forward(self, ms: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        check_pansharpen_inputs(ms, pan, cfg.ms_bands, cfg.ratio, cfg.multiple_of)
        lms = upsample_ms(ms, cfg.ratio)
        return lms + self.body(torch.cat([lms, pan], 1))
