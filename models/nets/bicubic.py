"""Bicubic upsampling by an integer ratio as a convolution and a pixel shuffle.

torch's bicubic interpolation (cubic convolution with a = -0.75, align_corners=False, borders
clamped) samples low-resolution pixel coordinate x = (o + 0.5) / r - 0.5 for output pixel o.
For o = i * r + p the taps are fixed per phase p and lie within pixels i - 2 .. i + 2, so the
whole upsampling is: replicate-pad by 2, one 5 x 5 convolution giving r * r phase channels per
band, and a pixel shuffle. It equals `F.interpolate(..., mode="bicubic")` up to
float rounding (about 1e-7) and exports to ONNX as plain Conv and DepthToSpace, which ONNX
Runtime runs several times faster than its cubic Resize.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

CUBIC_A = -0.75
TAPS = 5
"""Input pixels i - 2 .. i + 2 cover every phase's four cubic taps for ratios >= 2."""


def _cubic(distance: float) -> float:
    """Keys' cubic convolution kernel with a = CUBIC_A."""
    d, a = abs(distance), CUBIC_A
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return 0.0


@functools.lru_cache(maxsize=16)
def phase_weights(ratio: int) -> tuple[tuple[float, ...], ...]:
    """[ratio][TAPS] 1-D weights: phase p's weight of input pixel i + k - 2 for output i*r + p."""
    rows = []
    for phase in range(ratio):
        x = (phase + 0.5) / ratio - 0.5  # relative to input pixel i
        rows.append(tuple(_cubic(x - (k - TAPS // 2)) for k in range(TAPS)))
    return tuple(rows)


def _kernel(ratio: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Weight [r * r, 1, TAPS, TAPS]: outer products of the phase weights, phase channel
    py * r + px as pixel_shuffle expects."""
    weights = torch.tensor(phase_weights(ratio), dtype=torch.float64)
    kernel = (weights[:, None, :, None] * weights[None, :, None, :]).reshape(ratio * ratio, 1, TAPS, TAPS)
    return kernel.to(dtype=dtype, device=device)


def bicubic_upsample(x: torch.Tensor, ratio: int) -> torch.Tensor:
    """`[B, C, h, w]` -> `[B, C, h*r, w*r]`, equal to torch's bicubic `F.interpolate`."""
    if ratio == 1:
        return x
    if ratio < 1:
        raise ValueError(f"the upsampling ratio must be a whole number >= 1, got {ratio}")
    batch, channels, height, width = x.shape
    pad = TAPS // 2
    # every band is filtered alike: bands go to the batch axis, so the kernel is a constant
    # whatever the band count (an exported graph then has a fixed Conv weight)
    padded = F.pad(x.reshape(batch * channels, 1, height, width), (pad, pad, pad, pad), mode="replicate")
    phases = F.conv2d(padded, _kernel(ratio, x.dtype, x.device))
    return F.pixel_shuffle(phases.reshape(batch, channels * ratio * ratio, height, width), ratio)
