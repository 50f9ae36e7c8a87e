"""What every pansharpening net shares: input checks, the upsampled MS, the residual image head.

Call convention of the pansharpening nets: `net(ms, pan) -> fused` with `ms` [B, C, h, w] and
`pan` [B, 1, h*r, w*r] in one common normalized scale (value / common high percentile, so
roughly [0, 1]); `fused` is [B, C, h*r, w*r] in the same units. Every output is
`tanh(conv(features)) + upsample_ms(ms)`, so an untrained net already returns the bicubic MS.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .blocks import conv


INITIAL_RESIDUAL_STD = 1e-3
"""Standard deviation of the initial weights of every residual image head."""


def upsample_ms(ms: torch.Tensor, ratio: int) -> torch.Tensor:
    """The MS brought to the PAN grid by bicubic interpolation (align_corners=False)."""
    return F.interpolate(ms, scale_factor=ratio, mode="bicubic", align_corners=False)


def check_pansharpen_inputs(ms: torch.Tensor, pan: torch.Tensor, bands: int, ratio: int,
                            multiple_of: int) -> None:
    """Raise InputError unless `ms`/`pan` fit a net made for `bands` MS bands at `ratio`."""
    if ms.dim() != 4 or pan.dim() != 4:
        raise InputError("pansharpening expects batched MS [B, C, h, w] and PAN [B, 1, H, W] "
                         f"tensors; got {tuple(ms.shape)} and {tuple(pan.shape)}")
    if ms.shape[1] != bands:
        raise InputError(f"this model sharpens {bands}-band MS images but the MS input has "
                         f"{ms.shape[1]} bands; choose a model trained for {ms.shape[1]} bands")
    if pan.shape[1] != 1:
        raise InputError(f"the PAN input must have exactly 1 band, it has {pan.shape[1]}")
    if pan.shape[0] != ms.shape[0]:
        raise InputError("the MS and PAN batches differ in size "
                         f"({ms.shape[0]} and {pan.shape[0]})")
    expected = (ms.shape[2] * ratio, ms.shape[3] * ratio)
    if tuple(pan.shape[2:]) != expected:
        raise InputError(f"the PAN is {pan.shape[2]}x{pan.shape[3]} pixels but an MS of "
                         f"{ms.shape[2]}x{ms.shape[3]} at ratio {ratio} needs a "
                         f"{expected[0]}x{expected[1]} PAN; check the ratio and the alignment")
    if pan.shape[2] % multiple_of or pan.shape[3] % multiple_of:
        raise InputError(f"PAN tiles for this model must be multiples of {multiple_of} pixels "
                         f"on each side, got {pan.shape[2]}x{pan.shape[3]}; change the tile size")


class ResidualImageHead(nn.Module):
    """features -> tanh(conv3x3(features)) + base: a stage's image output around `base`.

    The conv starts with tiny weights, so an untrained net already returns (almost) `base`
    and training starts from the bicubic MS rather than from noise.
    """

    def __init__(self, width: int, bands: int, bias: bool = False):
        super().__init__()
        self.project = conv(width, bands, 3, bias)
        nn.init.normal_(self.project.weight, std=INITIAL_RESIDUAL_STD)
        if bias:
            nn.init.zeros_(self.project.bias)

    def residual(self, features: torch.Tensor) -> torch.Tensor:
        """tanh(conv3x3(features)): the correction alone (stitched before adding the base)."""
        return torch.tanh(self.project(features))

    def forward(self, features: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return self.residual(features) + base
