"""Synthetic hazy and clear GeoTIFFs for the dehazing algorithm tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hazy_scenes import clear_scene
from rasters import write_raster

from geodistill.models.data.haze import synthesize_haze

#: digital numbers of a unit-range image in each test data type: (offset, gain)
DN_RANGES = {"uint8": (0.0, 255.0), "uint16": (200.0, 3000.0)}


@dataclass
class HazyScene:
    """A hazy raster and the clear image it was made from, both in the raster's digital numbers."""

    path: Path
    hazy: np.ndarray
    clear: np.ndarray


def to_dn(unit: np.ndarray, dtype: str) -> np.ndarray:
    """A [0, 1] image as rounded digital numbers of `dtype`."""
    offset, gain = DN_RANGES[dtype]
    return np.round(offset + gain * unit).astype(dtype)


def hazy_scene(folder: Path, dtype: str = "uint8", bands: int = 3, size: int = 160,
               seed: int = 0, name: str = "hazy.tif") -> HazyScene:
    """A clear scene under thick, spatially varying synthetic haze, written as `dtype`."""
    clear = clear_scene(bands=bands, size=size, seed=seed)
    hazy, _, _ = synthesize_haze(clear, np.random.default_rng(seed), thickness=(0.5, 0.7))
    path = write_raster(folder / name, to_dn(hazy, dtype))
    return HazyScene(path, to_dn(hazy, dtype).astype(np.float64), to_dn(clear, dtype).astype(np.float64))


def clear_images(folder: Path, count: int, size: int = 96, bands: int = 3) -> list[Path]:
    """`count` clear uint8 rasters in `folder` (seeds 10, 11, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_raster(folder / f"clear_{index}.tif",
                         to_dn(clear_scene(bands=bands, size=size, seed=10 + index), "uint8"))
            for index in range(count)]
