"""Bilinear resizing in numpy, equal to torch's `F.interpolate(mode="bilinear",
align_corners=False)` with and without `antialias` (within float rounding).

Resizing is separable, so an image is resized by two small weight matrices (rows, columns):
`resize_bilinear` serves GINet's global view and the scene classifier's chips on every
backend, so ONNX Runtime and torch see the same pixels.
"""
from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def resize_weights(in_size: int, out_size: int, antialias: bool) -> np.ndarray:
    """(out_size, in_size) float64 weights: output pixel i = sum_j w[i, j] * input pixel j.

    Plain bilinear samples input coordinate (i + 0.5) * scale - 0.5 (clamped at the border);
    antialiased, each output pixel averages the input under a triangle widened by the scale
    (when shrinking), as PIL and torch do.
    """
    scale = in_size / out_size
    weights = np.zeros((out_size, in_size))
    for i in range(out_size):
        if antialias:
            support = scale if scale >= 1.0 else 1.0
            inverse = 1.0 / scale if scale >= 1.0 else 1.0
            centre = scale * (i + 0.5)
            first = max(int(centre - support + 0.5), 0)
            last = min(int(centre + support + 0.5), in_size)
            taps = np.maximum(0.0, 1.0 - np.abs((np.arange(first, last) - centre + 0.5) * inverse))
            total = taps.sum()
            weights[i, first:last] = taps / total if total else taps
        else:
            source = max((i + 0.5) * scale - 0.5, 0.0)
            below = min(int(source), in_size - 1)
            above = min(below + 1, in_size - 1)
            fraction = source - below
            weights[i, below] += 1.0 - fraction
            weights[i, above] += fraction
    return weights


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """(..., h, w) -> float32 (..., size, size): bilinear, antialiased when both sides shrink."""
    images = np.asarray(images, dtype=np.float32)
    height, width = images.shape[-2:]
    if (height, width) == (size, size):
        return images
    antialias = min(height, width) > size
    rows = resize_weights(height, size, antialias).astype(np.float32)
    cols = resize_weights(width, size, antialias).astype(np.float32)
    return np.ascontiguousarray(rows @ images @ cols.T, dtype=np.float32)
