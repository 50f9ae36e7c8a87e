"""Window-aligned reading of inputs of different resolution (PAN + MS).

The run's reference grid is the first (highest-resolution) input. Every other input must share
its CRS and have a pixel size that is an integer multiple `ratio` of the reference's; a window
on the reference grid whose offset and size are multiples of `ratio` then maps to a window of
that input by dividing by `ratio` and adding the pixel offset between the two origins.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.transform import array_bounds

from ..errors import InputError
from .raster_io import NOT_GEOREFERENCED, display_transform

RATIO_TOLERANCE = 0.01


@dataclass(frozen=True)
class InputGrid:
    """How an input's pixels relate to the reference grid.

    A reference pixel (row, col) lies in input pixel
    (row_offset + row // ratio, col_offset + col // ratio).
    """

    ratio: int
    row_offset: int
    col_offset: int
    shift: tuple[float, float] = (0.0, 0.0)
    """(rows, columns) in reference pixels by which the input's grid sits off this whole-pixel
    alignment (0 when the origins differ by whole input pixels)."""

    def window(self, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Input window (row, col, height, width) of a reference window aligned to `ratio`."""
        r = self.ratio
        return (self.row_offset + row // r, self.col_offset + col // r, height // r, width // r)


def _pixel_size(transform: Affine, path: Path) -> tuple[float, float]:
    if abs(transform.b) > 1e-12 or abs(transform.d) > 1e-12:
        raise InputError(f"{path.name} is rotated or sheared; warp it to a north-up grid first "
                         f"(e.g. with GDAL Warp) and try again.")
    return abs(transform.a), abs(transform.e)


def grid_transforms(reference, other) -> tuple[Affine, Affine]:
    """The transforms the two datasets are aligned by: their own; for two plain images without
    georeference, the reference in the pixel coordinates QGIS draws it with and the other
    stretched over the same area (a PAN and its MS exported as pictures of one scene)."""
    ref_transform, other_transform = display_transform(reference), display_transform(other)
    if ref_transform is NOT_GEOREFERENCED and other_transform is NOT_GEOREFERENCED:
        other_transform = ref_transform * Affine.scale(reference.width / other.width,
                                                       reference.height / other.height)
    return ref_transform, other_transform


def check_alignment(reference_path: str | Path, other_path: str | Path) -> int:
    """Check that `other` can be read window-aligned with `reference`; return the ratio.

    The ratio is the other's pixel size divided by the reference's: an integer >= 1, the same
    along x and y (within 1 %). The rasters must share their CRS and overlap. Raises InputError
    with a sentence saying what to change.
    """
    return input_grid(reference_path, other_path).ratio


def input_grid(reference_path: str | Path, other_path: str | Path) -> InputGrid:
    """`check_alignment` plus the pixel offset of the other input's origin."""
    with rasterio.open(reference_path) as ref, rasterio.open(other_path) as other:
        return aligned_grid(ref, other, Path(reference_path), Path(other_path))


def aligned_grid(ref, other, reference_path: Path, other_path: Path) -> InputGrid:
    """`input_grid` of two open datasets (the paths name them in errors)."""
    if (ref.crs is None) != (other.crs is None) or (ref.crs is not None and ref.crs != other.crs):
        raise InputError(f"{other_path.name} ({other.crs or 'no CRS'}) is not in the CRS of "
                         f"{reference_path.name} ({ref.crs or 'no CRS'}); reproject it first.")
    ref_transform, other_transform = grid_transforms(ref, other)
    ref_x, ref_y = _pixel_size(ref_transform, reference_path)
    other_x, other_y = _pixel_size(other_transform, other_path)
    ratio_x, ratio_y = other_x / ref_x, other_y / ref_y
    ratio = round(ratio_x)
    if (ratio < 1 or abs(ratio_x - ratio) > RATIO_TOLERANCE * ratio
            or abs(ratio_y - ratio) > RATIO_TOLERANCE * ratio):
        raise InputError(
            f"The pixel size of {other_path.name} ({other_x:g} x {other_y:g}) is not an integer "
            f"multiple of that of {reference_path.name} ({ref_x:g} x {ref_y:g}): ratio "
            f"{ratio_x:.3f} x {ratio_y:.3f}. Give the highest-resolution raster first and "
            f"resample the other one to an exact multiple of its pixel size.")
    rb = array_bounds(ref.height, ref.width, ref_transform)
    ob = array_bounds(other.height, other.width, other_transform)
    if min(rb[2], ob[2]) <= max(rb[0], ob[0]) or min(rb[3], ob[3]) <= max(rb[1], ob[1]):
        raise InputError(f"{other_path.name} does not overlap {reference_path.name}; "
                         f"choose rasters that cover the same area.")
    col_exact = (ref_transform.c - other_transform.c) / other_transform.a
    row_exact = (ref_transform.f - other_transform.f) / other_transform.e
    col_offset, row_offset = round(col_exact), round(row_exact)
    return InputGrid(ratio=ratio, row_offset=row_offset, col_offset=col_offset,
                     shift=((row_exact - row_offset) * ratio + 0.0,  # + 0.0: no -0.0
                            (col_exact - col_offset) * ratio + 0.0))
