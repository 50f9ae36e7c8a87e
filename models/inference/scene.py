"""One input raster of a run, opened once: what the task needs to know about it (size, bands,
data type, nodata, mask, grid, the notes to log, the area to process) and the whole-scene
results computed from it on first use and kept (decimated reads with their valid masks, the
scaling statistics, GINet's global view).

Decimated reads go through `scene_overview`, so the windows of a split raster still share them
(see `scene_memo`). The engine's reader thread opens its own handle; everything else a run
reads of its input comes from the `Scene`.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..crs_units import pixel_size_metres
from .alignment import InputGrid, aligned_grid
from .area import Area, logged_window, window_of_area
from .global_context import OVERSAMPLING, global_view_of
from .raster_io import (band_list, band_names, dataset_notes, display_transform, has_mask,
                        open_raster, overview_scaling, scene_overview)
from .scaling import BandScaling

#: longest side of the decimated read that scaling statistics come from
SCALING_READ_SIZE = 1024


@dataclass(frozen=True)
class Overview:
    """The whole scene read small: (bands, h, w) raw values, their transform, and (h, w) True
    where a pixel has data."""

    array: np.ndarray
    transform: Affine
    valid: np.ndarray


@dataclass
class Scene:
    """An open input raster and what a run needs of it (see the module docstring)."""

    path: str
    name: str
    shape: tuple[int, int]
    """(rows, columns)"""
    count: int
    """all bands of the file, mask bands included"""
    dtype: str
    nodata: float | None
    bands: list[int]
    """1-based bands in use (the data bands unless chosen)"""
    descriptions: list[str]
    """names of the bands in use"""
    crs: CRS | None
    transform: Affine
    """the transform QGIS draws the raster with (see `display_transform`)"""
    masked: bool
    """whether an alpha or mask band says which pixels have data"""
    area: Area | None
    dataset: object = field(repr=False)
    """the open rasterio dataset, for reads in the calling thread"""
    _overviews: dict = field(default_factory=dict, repr=False)

    @property
    def pixel_metres(self) -> float | None:
        """The pixel width in metres (`crs_units.pixel_size_metres`); None without a CRS."""
        return pixel_size_metres(self.dataset)

    @cached_property
    def notes(self) -> list[str]:
        """Log lines about what of the raster is not used as its tags suggest."""
        return dataset_notes(self.dataset, self.name)

    def region(self, log=None, multiple: int = 1, unit: str = "pixels") -> Window | None:
        """The window the area covers, widened to multiples of `multiple` pixels and said with
        `log` (see `area_window`); None without an area."""
        if self.area is None:
            return None
        window = window_of_area(self.area, self.transform, self.shape, self.name, multiple)
        return logged_window(window, self.name, log, unit)

    def overview(self, max_size: int = SCALING_READ_SIZE,
                 resampling: Resampling = Resampling.nearest) -> Overview:
        """The bands in use read at most `max_size` pixels on the longer side (kept)."""
        key = (max_size, resampling)
        if key not in self._overviews:
            self._overviews[key] = Overview(*scene_overview(self.path, self.bands, max_size,
                                                            resampling, self.dataset))
        return self._overviews[key]

    def scaling(self, mode: str = "per_band", low_percentile: float | None = 1.0,
                high_percentile: float = 99.0) -> BandScaling:
        """Scaling statistics of the valid pixels of the decimated read (see `scene_scaling`)."""
        overview = self.overview()
        return overview_scaling(overview.array, overview.valid, self.name, mode, low_percentile,
                                high_percentile)

    def global_view(self, scaling: BandScaling, global_size: int) -> np.ndarray:
        """GINet's normalized global view of the whole scene (see `read_global_view`)."""
        overview = self.overview(global_size * OVERSAMPLING, Resampling.average)
        return global_view_of(overview.array, overview.valid, scaling, global_size)


    def grid_of(self, other: "Scene") -> InputGrid:
        """How `other`'s pixels relate to this scene's grid (see `input_grid`)."""
        return aligned_grid(self.dataset, other.dataset, Path(self.path), Path(other.path))


@contextmanager
def open_scene(path: str | Path, bands: list[int] | None = None,
               area: Area | None = None) -> Iterator[Scene]:
    """The raster at `path` as a Scene, open for the block; `bands` (None = the data bands) are
    checked against it. InputError when it cannot be read or a band does not exist."""
    with open_raster(path) as dataset:
        yield scene_of(dataset, path, bands, area)


def scene_of(dataset, path: str | Path, bands: list[int] | None = None,
             area: Area | None = None) -> Scene:
    """The Scene of `dataset`, the raster at `path` opened by the caller (see `open_scene`)."""
    return Scene(path=str(path), name=Path(str(path)).name, shape=dataset.shape,
                 count=dataset.count, dtype=dataset.dtypes[0], nodata=dataset.nodata,
                 bands=band_list(dataset, bands), descriptions=band_names(dataset, bands),
                 crs=dataset.crs, transform=display_transform(dataset),
                 masked=has_mask(dataset), area=area, dataset=dataset)
