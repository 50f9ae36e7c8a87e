"""Labelled image chips for scene classification held in memory (`ChipSet`), resized and
scaled the way inference does it; no file access (rasterio-free, so training runs where only
torch is installed). `chip_files` reads them from folders of images or around vector labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..inference.scaling import BandScaling

if TYPE_CHECKING:
    import torch


@dataclass
class ChipSet:
    """Labelled chips, all `images.shape[-1]` pixels a side, and what a model card records."""

    images: np.ndarray
    """[N, bands, S, S] in the source data type (resized with `resize_chips`)."""
    labels: np.ndarray
    """[N] int64 class indices into `classes`."""
    classes: list[dict]
    names: list[str]
    """Where each chip comes from (file name, or feature number for vector labels)."""
    chip_size: int
    """Side of the source chips in source pixels (the most common one for a folder)."""
    gsd: float | None = None
    """Source pixel size in metres, when the chips are georeferenced."""
    band_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def bands(self) -> int:
        return int(self.images.shape[1])


def resize_chips(chips: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """float32 [N, bands, size, size]: bilinear resampling, antialiased when shrinking."""
    import torch
    import torch.nn.functional as F

    tensor = torch.as_tensor(np.asarray(chips) if not isinstance(chips, torch.Tensor) else chips)
    tensor = tensor.float()
    if tensor.shape[-2:] == (size, size):
        return tensor
    shrinking = min(tensor.shape[-2:]) > size
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrinking)


def _resized_raw(array: np.ndarray, size: int) -> np.ndarray:
    """One chip (bands, h, w) resized to size x size and returned in its own data type."""
    if array.shape[-2:] == (size, size):
        return array
    resized = resize_chips(array[None], size)[0].numpy()
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        resized = np.clip(np.rint(resized), info.min, info.max)
    return resized.astype(array.dtype)


def chip_scaling(images: np.ndarray, low_percentile: float = 1.0, high_percentile: float = 99.0,
                 max_chips: int = 256, seed: int = 0) -> BandScaling:
    """Per-band percentile statistics over (a random subset of) the chips."""
    rng = np.random.default_rng(seed)
    chosen = images if len(images) <= max_chips else images[rng.choice(len(images), max_chips, replace=False)]
    bands_first = np.moveaxis(np.asarray(chosen), 1, 0).reshape(images.shape[1], 1, -1)
    return BandScaling.from_array(bands_first, mode="per_band", low_percentile=low_percentile,
                                  high_percentile=high_percentile)
