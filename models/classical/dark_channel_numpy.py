"""The dark channel prior with numpy alone, for installs without torch (the 'Run models' pack):
the same steps as `classical.dehaze` (see its docstring), on (B, bands, H, W) float arrays."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..inference.backoff import TileModel


def min_filter_numpy(x: np.ndarray, size: int) -> np.ndarray:
    """Minimum over `size` x `size` windows (odd size) of (..., H, W), borders replicated;
    separable (a column minimum, then a row minimum)."""
    pad = size // 2
    widths = [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)]
    padded = np.pad(x, widths, mode="edge")
    columns = sliding_window_view(padded, size, axis=x.ndim - 2).min(axis=-1)
    return sliding_window_view(columns, size, axis=x.ndim - 1).min(axis=-1)


def dark_channel_numpy(x: np.ndarray, patch_size: int = 15) -> np.ndarray:
    """(B, 1, H, W) dark channel of (B, bands, H, W): the minimum over bands and a patch."""
    return min_filter_numpy(x.min(axis=1, keepdims=True), patch_size)


def box_mean_numpy(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows of (..., H, W), windows clipped at the borders."""
    def window_sums(values: np.ndarray) -> np.ndarray:
        height, width = values.shape[-2:]
        integral = np.pad(values.cumsum(-2).cumsum(-1), [(0, 0)] * (values.ndim - 2) + [(1, 0), (1, 0)])
        rows, cols = np.arange(height), np.arange(width)
        top, bottom = np.clip(rows - radius, 0, height), np.clip(rows + radius + 1, 0, height)
        left, right = np.clip(cols - radius, 0, width), np.clip(cols + radius + 1, 0, width)
        lower, upper = integral[..., bottom, :], integral[..., top, :]
        return lower[..., right] - lower[..., left] - upper[..., right] + upper[..., left]

    return window_sums(x) / window_sums(np.ones(x.shape[-2:]))


def guided_filter(guide, source, radius: int, eps: float, box_mean=box_mean_numpy):
    """He et al.'s guided filter with a one-band guide (B, 1, H, W) on `source` (B, C, H, W):
    locally source ~ a * guide + b, a = cov(guide, source) / (var(guide) + eps), so the output
    keeps the guide's edges where it varies more than sqrt(eps) and smooths elsewhere. Numpy
    arrays with the default `box_mean`; torch tensors with `classical.dehaze.box_mean`."""
    mean_guide, mean_source = box_mean(guide, radius), box_mean(source, radius)
    covariance = box_mean(guide * source, radius) - mean_guide * mean_source
    variance = box_mean(guide * guide, radius) - mean_guide * mean_guide
    slope = covariance / (variance + eps)
    offset = mean_source - slope * mean_guide
    return box_mean(slope, radius) * guide + box_mean(offset, radius)


def estimate_airlight_numpy(hazy: np.ndarray, patch_size: int = 15,
                            airlight_fraction: float = 0.001) -> np.ndarray:
    """Per-band airlight (bands,) of a hazy (bands, H, W) image: among the `airlight_fraction`
    brightest pixels of the dark channel (at least one), the one with the largest band sum."""
    x = np.asarray(hazy, dtype=np.float64)
    dark = dark_channel_numpy(x[None], patch_size).reshape(-1)
    count = max(1, int(round(dark.size * airlight_fraction)))
    candidates = np.argpartition(-dark, count - 1)[:count]
    pixels = x.reshape(x.shape[0], -1)[:, candidates]
    return pixels[:, pixels.sum(axis=0).argmax()]


class NumpyDarkChannel(TileModel):
    """DCP dehazing with a fixed airlight as an engine model (one input: the hazy tiles)."""

    def __init__(self, airlight: Sequence[float], patch_size: int = 15, omega: float = 0.95,
                 t0: float = 0.1, radius: int = 30, eps: float = 1e-3):
        self.airlight = np.asarray(airlight, dtype=np.float32).reshape(1, -1, 1, 1)
        self.patch_size, self.omega, self.t0, self.radius, self.eps = patch_size, omega, t0, radius, eps

    def predict(self, arrays, windows) -> np.ndarray:
        x = arrays[0]
        raw = 1.0 - self.omega * dark_channel_numpy(x / np.maximum(self.airlight, 1e-6), self.patch_size)
        refined = guided_filter(x.mean(axis=1, keepdims=True), raw, self.radius, self.eps)
        transmission = np.clip(refined, self.t0, 1.0)
        return ((x - self.airlight) / transmission + self.airlight).astype(np.float32)

    def describe(self) -> str:
        return "numpy (CPU)"
