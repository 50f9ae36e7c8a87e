"""Global context for GINet: the scene's global view and the engine adapter that uses it.

The global view is one decimated read of the whole raster (GDAL serves it from overviews when
the file has them), normalized like the tiles and resized to `global_size` x `global_size`.
`GINetTileModel` runs GINet's global branch on it once, then predicts each batch of tiles
against it, mapping every tile window (reference-grid pixels) to scene fractions.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rasterio.enums import Resampling

from .backoff import TileModel
from .raster_io import band_list, decimated_shape, open_raster, valid_mask
from .scaling import BandScaling
from .tiling import TileWindow

OVERSAMPLING = 2
"""The decimated read keeps this many pixels per global-view pixel before the final resize."""


def resize_to_global_view(image: np.ndarray, global_size: int) -> np.ndarray:
    """A normalized (bands, h, w) image resized to (bands, global_size, global_size) float32
    (bilinear, antialiased when shrinking)."""
    tensor = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32))[None]
    shrinking = min(image.shape[-2:]) > global_size
    resized = F.interpolate(tensor, size=(global_size, global_size), mode="bilinear",
                            align_corners=False, antialias=shrinking)
    return resized[0].numpy()


def read_global_view(path: str | Path, bands: list[int] | None, scaling: BandScaling,
                     global_size: int) -> np.ndarray:
    """The whole raster as GINet's normalized global view (bands, global_size, global_size).

    Nodata pixels are filled with 0 (the neutral value tiles get too) before resizing.
    """
    with open_raster(path) as dataset:
        indexes = band_list(dataset, bands)
        shape = decimated_shape(dataset.height, dataset.width, global_size * OVERSAMPLING)
        raw = dataset.read(indexes, out_shape=(len(indexes),) + shape, resampling=Resampling.average)
        valid = valid_mask(dataset, raw, out_shape=shape)
    image = scaling.normalize(raw)
    image[:, ~valid] = 0.0
    return resize_to_global_view(image, global_size)


def window_fractions(windows: list[TileWindow], scene_shape: tuple[int, int]) -> torch.Tensor:
    """[B, 4] float32 (top, left, bottom, right) of each window as fractions of the scene.

    Windows reaching past the border give values above 1 (the net repeats the global map's
    border there).
    """
    height, width = scene_shape
    return torch.tensor([[w.row / height, w.col / width, (w.row + w.height) / height,
                          (w.col + w.width) / width] for w in windows], dtype=torch.float32)


class GINetTileModel(TileModel):
    """Engine adapter for GINet: `GINetTileModel(net, global_image, scene_shape, offset)`.

    `global_image` is the normalized global view (bands, G, G) or (1, bands, G, G) of the
    scene whose reference grid is `scene_shape` = (height, width) pixels. The global branch
    runs once, here; `predict` runs the local branch on the tiles (input 0) guided by it.
    `offset` = (row, column) of the engine's grid in the scene: a run over part of it.
    """

    def __init__(self, net: torch.nn.Module, global_image: np.ndarray | torch.Tensor,
                 scene_shape: tuple[int, int], offset: tuple[int, int] = (0, 0)):
        self.net = net.eval()
        self.offset = offset
        image = torch.as_tensor(np.asarray(global_image, dtype=np.float32))
        image = image[None] if image.dim() == 3 else image
        self.scene_shape = (int(scene_shape[0]), int(scene_shape[1]))
        device = next(net.parameters()).device
        with torch.no_grad():
            self.context = net.global_context(image.to(device))

    def predict(self, tensors: list[torch.Tensor], windows: list[TileWindow]) -> torch.Tensor:
        local = tensors[0]
        if self.offset != (0, 0):
            windows = [replace(w, row=w.row + self.offset[0], col=w.col + self.offset[1]) for w in windows]
        fractions = window_fractions(windows, self.scene_shape).to(local.device)
        return self.net.forward_local(local, self.context, fractions)[0]

    def to(self, device: torch.device) -> "GINetTileModel":
        self.net.to(device)
        self.context = self.context.to(device)
        return self
