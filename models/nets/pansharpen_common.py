"""What every pansharpening net shares: input checks, the upsampled MS, the residual image head.

Call convention of the pansharpening nets: `net(ms, pan) -> fused` with `ms` [B, C, h, w] and
`pan` [B, 1, h*r, w*r] in one common normalized scale (value / common high percentile, so
roughly [0, 1]); `fused` is [B, C, h*r, w*r] in the same units. Every output is
`tanh(conv(features)) + base`, where the base is the bicubic MS (`upsample_ms`) or, with a
`glp_window`, the classical injection `InjectionBase` builds; an untrained net returns the base.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..classical.pansharpen import local_injection_gains
from ..errors import InputError
from .bicubic import bicubic_upsample
from .blocks import conv


INITIAL_RESIDUAL_STD = 1e-3
"""Standard deviation of the initial weights of every residual image head."""


def upsample_ms(ms: torch.Tensor, ratio: int) -> torch.Tensor:
    """The MS brought to the PAN grid by bicubic interpolation (align_corners=False), as a
    convolution and a pixel shuffle (`bicubic_upsample`) that ONNX Runtime runs fast."""
    return bicubic_upsample(ms, ratio)


class InjectionBase:
    """The bicubic MS, the PAN detail, and the image a net's residual is added to.

    The PAN detail is the PAN minus its own low-resolution version brought back up the way the
    MS is (box average by the ratio, then bicubic): exactly the high frequencies the MS lacks.
    `glp_window` 0: the base is the bicubic MS (the paper's form). > 0: the bicubic MS plus the
    detail times gains regressed per pixel over windows of that many MS pixels
    (`local_injection_gains`, MTF-GLP with context-based gains), so the scene's own MS/PAN
    relation sets the starting point and the net learns only what a linear injection misses.
    """

    def __init__(self, ms: torch.Tensor, pan: torch.Tensor, ratio: int, glp_window: int):
        self.ms_up = upsample_ms(ms, ratio)
        pan_mean = F.avg_pool2d(pan, ratio)
        self.detail = pan - upsample_ms(pan_mean, ratio)
        self.base = self.ms_up
        if glp_window:
            # regressed on the MS grid (16x fewer pixels at ratio 4; both signals are smooth
            # there) and brought up like the MS
            gains = local_injection_gains(ms, pan_mean, glp_window)
            self.base = self.ms_up + upsample_ms(gains, ratio) * self.detail


def check_glp_window(window: int) -> None:
    """Raise InputError for a negative `glp_window` (0 is off): only a damaged card has one."""
    if window < 0:
        raise InputError(f"a pansharpening net's glp_window must be 0 (off) or a window of MS "
                         f"pixels, got {window}; the model card is damaged")


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
