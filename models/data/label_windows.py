"""Class indices from a label raster, read block by block onto a raster's grid.

Only the uint8 class indices of the whole grid are held (one byte a pixel); the label values
themselves (often int32 or float64) and the masks are read and converted a block of rows at
a time, so a large, mostly unlabelled label raster costs no more than its indices. A label
raster on another grid is warped with nearest neighbour through a warped VRT whose alpha band
says which pixels it covers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..errors import InputError

#: pixels converted at once (a block of whole rows; its values and masks are the temporaries)
BLOCK_PIXELS = 2**20
#: class index of unlabelled pixels (the losses' and metrics' ignore index)
UNLABELLED = 255


@dataclass
class TargetGrid:
    """The grid the labels are wanted on: (height, width), transform and CRS."""

    shape: tuple[int, int]
    transform: Affine
    crs: object


def read_class_indices(source, band: int, grid: TargetGrid, unlabelled_values: list) -> tuple[np.ndarray, list]:
    """uint8 class indices on `grid` (UNLABELLED where the label raster has no label, its
    nodata or one of `unlabelled_values`, or does not reach) and the sorted distinct label
    values they index."""
    same_grid = (source.shape == grid.shape and source.transform == grid.transform
                 and source.crs == grid.crs)
    if same_grid:
        return _convert_blocks(source, band, None, grid.shape, unlabelled_values)
    with WarpedVRT(source, crs=grid.crs, transform=grid.transform, width=grid.shape[1],
                   height=grid.shape[0], resampling=Resampling.nearest, add_alpha=True) as warped:
        return _convert_blocks(warped, band, warped.count, grid.shape, unlabelled_values)


def _convert_blocks(dataset, band: int, alpha_band: int | None, shape: tuple[int, int],
                    unlabelled_values: list) -> tuple[np.ndarray, list]:
    labels = np.full(shape, UNLABELLED, dtype=np.uint8)
    block_rows = max(1, BLOCK_PIXELS // max(shape[1], 1))
    first_seen: dict = {}  # label value -> provisional index, in the order values appear
    for row in range(0, shape[0], block_rows):
        window = Window(0, row, shape[1], min(block_rows, shape[0] - row))
        values = dataset.read(band, window=window)
        labelled = np.ones(values.shape, bool) if alpha_band is None else \
            dataset.read(alpha_band, window=window) > 0
        for value in unlabelled_values:
            if value is not None:
                labelled &= values != value
        if not labelled.any():
            continue
        distinct, inverse = np.unique(values[labelled], return_inverse=True)
        for value in distinct.tolist():
            first_seen.setdefault(value, len(first_seen))
        if len(first_seen) > UNLABELLED:
            raise InputError(f"the label raster holds more than {UNLABELLED} distinct values; "
                             "a label raster holds class values (merge classes or recode it)")
        provisional = np.asarray([first_seen[v] for v in distinct.tolist()], dtype=np.uint8)
        block = labels[row:row + values.shape[0]]
        block[labelled] = provisional[inverse.reshape(-1)]
    ordered = sorted(first_seen)
    remap = np.full(256, UNLABELLED, dtype=np.uint8)
    for rank, value in enumerate(ordered):
        remap[first_seen[value]] = rank
    for row in range(0, shape[0], block_rows):  # in blocks: indexing makes intp copies
        labels[row:row + block_rows] = remap[labels[row:row + block_rows]]
    return labels, ordered
