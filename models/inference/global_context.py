"""Global context for GINet: the scene's global view and where tiles lie in the scene.

The global view is one decimated read of the whole raster (GDAL serves it from overviews when
the file has them), normalized like the tiles and resized to `global_size` x `global_size`.
The backends' GINet tile models run the global branch on it once, then predict each batch of
tiles against it, mapping every tile window (reference-grid pixels) to scene fractions.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from .raster_io import scene_overview
from .resampling import resize_bilinear
from .scaling import BandScaling
from .tiling import TileWindow

OVERSAMPLING = 2
"""The decimated read keeps this many pixels per global-view pixel before the final resize."""


def resize_to_global_view(image: np.ndarray, global_size: int) -> np.ndarray:
    """A normalized (bands, h, w) image resized to (bands, global_size, global_size) float32
    (bilinear, antialiased when shrinking)."""
    return resize_bilinear(image, global_size)


def read_global_view(path: str | Path, bands: list[int] | None, scaling: BandScaling,
                     global_size: int) -> np.ndarray:
    """The whole raster as GINet's normalized global view (bands, global_size, global_size).

    Nodata pixels are filled with 0 (the neutral value tiles get too) before resizing.
    """
    raw, _, valid = scene_overview(path, bands, global_size * OVERSAMPLING, Resampling.average)
    return global_view_of(raw, valid, scaling, global_size)


def global_view_of(raw: np.ndarray, valid: np.ndarray, scaling: BandScaling,
                   global_size: int) -> np.ndarray:
    """GINet's normalized global view of a decimated read `raw` whose `valid` pixels have data."""
    image = scaling.normalize(raw)
    image[:, ~valid] = 0.0
    return resize_to_global_view(image, global_size)


def window_fractions(windows: list[TileWindow], scene_shape: tuple[int, int]) -> np.ndarray:
    """(B, 4) float32 (top, left, bottom, right) of each window as fractions of the scene.

    Windows reaching past the border give values above 1 (the net repeats the global map's
    border there).
    """
    height, width = scene_shape
    return np.array([[w.row / height, w.col / width, (w.row + w.height) / height,
                      (w.col + w.width) / width] for w in windows], dtype=np.float32)


def shift_windows(windows: list[TileWindow], offset: tuple[int, int]) -> list[TileWindow]:
    """Windows of a run over part of a scene moved onto the scene's grid."""
    if offset == (0, 0):
        return windows
    return [replace(w, row=w.row + offset[0], col=w.col + offset[1]) for w in windows]
