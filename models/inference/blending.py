"""Smooth blending weights for overlapping tiles (and PSDNet's overlapping sub-patches).

Along an edge shared with a neighbouring tile the weight is exactly 0 for the first
`overlap // 4` pixels (those pixels see the tile border, so a model's output there is not
trusted), then rises as a raised cosine to 1 at `overlap - overlap // 4`. Two tiles that overlap
by `overlap` pixels therefore never both have weight 0 on the same pixel, and every pixel whose
weight is non-zero lies at least `overlap // 4` pixels inside its tile. Edges on the raster
border keep weight 1: nothing lies beyond them. Predictions are blended as
sum(w * p) / sum(w), so any model that is exact inside tiles is exact after stitching.
"""
from __future__ import annotations

import numpy as np


def edge_ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
    """1-D weights of `length` pixels, ramped at the start and/or end over `overlap` pixels."""
    weights = np.ones(length, dtype=np.float32)
    if overlap <= 0:
        return weights
    margin = overlap // 4
    rise = max(overlap - 2 * margin, 1)
    position = np.arange(overlap, dtype=np.float32) - margin + 0.5
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(position / rise, 0.0, 1.0))
    ramp[:margin] = 0.0
    ramp = ramp[: min(overlap, length)]
    if ramp_start:
        weights[: ramp.size] = np.minimum(weights[: ramp.size], ramp)
    if ramp_end:
        weights[length - ramp.size:] = np.minimum(weights[length - ramp.size:], ramp[::-1])
    return weights


def tile_weights(height: int, width: int, overlap: int,
                 top: bool = True, bottom: bool = True,
                 left: bool = True, right: bool = True) -> np.ndarray:
    """2-D weights (height, width) for a tile; a side set False lies on the raster border."""
    rows = edge_ramp(height, overlap, top, bottom)
    cols = edge_ramp(width, overlap, left, right)
    return np.outer(rows, cols)
