"""Dark channel prior dehazing (He, Sun & Tang 2009/2011), the classical dehazing baseline.

In haze-free outdoor images, most local patches hold some pixel that is very dark in at least
one band (shadows, vivid colours, dark objects): the "dark channel"
dark(J)(x) = min over the patch around x of min over bands of J is close to 0. Dividing the
haze model I = J t + A (1 - t) by the airlight A and taking the dark channel gives the
transmission estimate

    t~(x) = 1 - omega * dark(I / A)(x)

(omega < 1 keeps a trace of haze for depth perception). A is taken from the haziest pixels:
among the brightest `airlight_fraction` of the dark channel, the pixel with the largest band
sum. The blocky t~ is refined with a guided filter (He, Sun & Tang 2013, "Guided image
filtering") guided by the hazy image's band mean, then J = (I - A) / max(t, t0) + A.

Works on any number of bands (the dark channel takes the minimum over all of them). Images are
(bands, H, W) arrays scaled to about [0, 1]. `dark_channel_dehaze` handles a whole image;
`DarkChannelModule` applies a fixed airlight (estimated once from a decimated read of the
scene with `estimate_airlight`) tile by tile like a network.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .dark_channel_numpy import estimate_airlight_numpy as estimate_airlight, guided_filter


def _as_batch(image: np.ndarray) -> torch.Tensor:
    if image.ndim != 3:
        raise InputError(f"expected a (bands, height, width) image, got shape {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64))[None]


def min_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Minimum over `size` x `size` windows (odd size) of [B, C, H, W], borders replicated.

    Separable: a column minimum then a row minimum, 2 x size comparisons a pixel, not size^2.
    """
    pad = size // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    columns = -F.max_pool2d(-padded, (size, 1), stride=1)
    return -F.max_pool2d(-columns, (1, size), stride=1)


def dark_channel(x: torch.Tensor, patch_size: int = 15) -> torch.Tensor:
    """[B, 1, H, W] dark channel: the minimum over bands and over a patch_size window."""
    return min_filter(x.amin(dim=1, keepdim=True), patch_size)


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over (2r+1)^2 windows of [B, C, H, W] from integral images, in O(pixels).

    Windows are clipped at the borders (the mean is over the pixels inside the image), as in
    He et al.'s guided-filter code.
    """
    def window_sums(values: torch.Tensor) -> torch.Tensor:
        height, width = values.shape[-2:]
        integral = F.pad(values.cumsum(-2).cumsum(-1), (1, 0, 1, 0))
        rows = torch.arange(height, device=values.device)
        cols = torch.arange(width, device=values.device)
        top, bottom = (rows - radius).clamp(0, height), (rows + radius + 1).clamp(0, height)
        left, right = (cols - radius).clamp(0, width), (cols + radius + 1).clamp(0, width)
        lower, upper = integral[..., bottom, :], integral[..., top, :]
        return lower[..., right] - lower[..., left] - upper[..., right] + upper[..., left]

    return window_sums(x) / window_sums(torch.ones_like(x[:, :1]))


class DarkChannelModule(nn.Module):
    """DCP dehazing with a fixed airlight, called like a dehazing net: `module(x) -> J`.

    `x` [B, bands, H, W]; tiles should overlap by at least the guided filter's radius plus
    half the patch so that border effects are blended away.
    """

    def __init__(self, airlight: Sequence[float], patch_size: int = 15, omega: float = 0.95,
                 t0: float = 0.1, radius: int = 30, eps: float = 1e-3):
        super().__init__()
        if patch_size < 1 or patch_size % 2 == 0:
            raise InputError(f"the dark channel patch size must be odd and positive, got {patch_size}")
        self.register_buffer("airlight", torch.tensor([float(a) for a in airlight]).view(1, -1, 1, 1))
        self.patch_size, self.omega, self.t0 = patch_size, omega, t0
        self.radius, self.eps = radius, eps

    def transmission(self, x: torch.Tensor) -> torch.Tensor:
        """The refined transmission [B, 1, H, W], clipped to [t0, 1]."""
        airlight = self.airlight.to(x.dtype).clamp_min(1e-6)
        raw = 1.0 - self.omega * dark_channel(x / airlight, self.patch_size)
        refined = guided_filter(x.mean(dim=1, keepdim=True), raw, self.radius, self.eps, box_mean)
        return refined.clamp(self.t0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.airlight.shape[1]:
            raise InputError(f"the airlight has {self.airlight.shape[1]} bands but the input is "
                             f"{tuple(x.shape)}; estimate the airlight on the same bands")
        airlight = self.airlight.to(x.dtype)
        return (x - airlight) / self.transmission(x) + airlight


def dark_channel_dehaze(hazy: np.ndarray, patch_size: int = 15, omega: float = 0.95,
                        t0: float = 0.1, radius: int = 30, eps: float = 1e-3,
                        airlight_fraction: float = 0.001) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dehaze a (bands, H, W) image: returns (dehazed (bands, H, W), transmission (H, W),
    airlight (bands,)), float64. The result is not clipped (it stays in the input's units)."""
    airlight = estimate_airlight(hazy, patch_size, airlight_fraction)
    module = DarkChannelModule(airlight, patch_size, omega, t0, radius, eps).double()
    x = _as_batch(hazy)
    with torch.no_grad():
        return module(x)[0].numpy(), module.transmission(x)[0, 0].numpy(), airlight
