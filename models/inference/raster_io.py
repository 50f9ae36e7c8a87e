"""Raster reading for the engine: padded window reads, nodata masks, decimated whole-scene
reads, and the checks of output names (the writer is `raster_writer`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.windows import Window

from ..errors import InputError
from .scaling import BandScaling

GEOTIFF_SUFFIXES = (".tif", ".tiff")


def open_raster(path: str | Path):
    """Open a raster for reading, turning rasterio's error into one the user can act on."""
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"Cannot read raster {path}: {error}. Check the path and the file.") from error


def data_bands(dataset) -> list[int]:
    """1-based indexes of the bands that hold data: all but alpha (transparency) bands, which
    are the raster's mask (an RGBA orthophoto has 3 data bands)."""
    bands = [index for index, interpretation in enumerate(dataset.colorinterp, start=1)
             if interpretation != ColorInterp.alpha]
    return bands or list(range(1, dataset.count + 1))


def band_names(dataset, bands: list[int] | None = None) -> list[str]:
    """The descriptions of `bands` (the data bands when None), "Band N" where one is empty."""
    return [dataset.descriptions[index - 1] or f"Band {index}" for index in band_list(dataset, bands)]


def band_list(dataset, bands: list[int] | None) -> list[int]:
    """1-based band indexes to read (the data bands, see `data_bands`, when None), checked
    against the dataset."""
    if bands is None:
        return data_bands(dataset)
    bad = [b for b in bands if not 1 <= b <= dataset.count]
    if bad:
        raise InputError(f"{Path(dataset.name).name} has {dataset.count} band(s); band(s) "
                         f"{', '.join(map(str, bad))} do not exist.")
    return list(bands)


def has_mask(dataset) -> bool:
    """Whether the raster has a mask band or an alpha band (rather than, or besides, nodata)."""
    flags = dataset.mask_flag_enums[0]
    return MaskFlags.per_dataset in flags or MaskFlags.alpha in flags


def valid_mask(dataset, array: np.ndarray, **read_kwargs) -> np.ndarray:
    """(rows, cols) bool: True where the pixel has data.

    A mask band or alpha band is used when the dataset has one (read with the same window /
    out_shape as `array`); otherwise a pixel is nodata when every band equals the nodata value.
    NaN is always nodata.
    """
    valid = np.ones(array.shape[1:], dtype=bool)
    if has_mask(dataset):
        valid &= dataset.read_masks(1, **read_kwargs) > 0
    elif dataset.nodata is not None and not np.isnan(dataset.nodata):
        valid &= ~np.all(array == array.dtype.type(dataset.nodata), axis=0)
    if np.issubdtype(array.dtype, np.floating):
        valid &= ~np.any(np.isnan(array), axis=0)
    return valid


def read_padded(dataset, bands: list[int], row: int, col: int, height: int,
                width: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a window that may reach past the raster; the outside is reflection-padded.

    Returns the raw array (bands, height, width) and its valid mask (height, width), False
    outside the raster.
    """
    top, left = max(row, 0), max(col, 0)
    bottom, right = min(row + height, dataset.height), min(col + width, dataset.width)
    if bottom <= top or right <= left:
        return (np.zeros((len(bands), height, width), dtype=dataset.dtypes[0]),
                np.zeros((height, width), dtype=bool))
    window = Window(left, top, right - left, bottom - top)
    array = dataset.read(bands, window=window)
    valid = valid_mask(dataset, array, window=window)
    pads = ((top - row, row + height - bottom), (left - col, col + width - right))
    if any(p for pair in pads for p in pair):
        array = np.pad(array, ((0, 0),) + pads, mode="reflect" if min(array.shape[1:]) > 1 else "edge")
        valid = np.pad(valid, pads, mode="constant", constant_values=False)
    return array, valid


def decimated_shape(height: int, width: int, max_size: int) -> tuple[int, int]:
    """Shape of a read whose longer side is at most `max_size` (never upsampled)."""
    factor = max(height / max_size, width / max_size, 1.0)
    return max(1, round(height / factor)), max(1, round(width / factor))


def read_decimated(path: str | Path, bands: list[int] | None = None, max_size: int = 1024,
                   resampling: Resampling = Resampling.average) -> tuple[np.ndarray, Affine]:
    """The whole scene read at most `max_size` pixels on its longer side, and its transform.

    GDAL serves the read from overviews when the file has them, so the cost stays bounded.
    """
    with open_raster(path) as dataset:
        array, transform, _ = _read_decimated(dataset, bands, max_size, resampling)
    return array, transform


def _read_decimated(dataset, bands, max_size, resampling):
    shape = decimated_shape(dataset.height, dataset.width, max_size)
    indexes = band_list(dataset, bands)
    array = dataset.read(indexes, out_shape=(len(indexes),) + shape, resampling=resampling)
    transform = dataset.transform * Affine.scale(dataset.width / shape[1], dataset.height / shape[0])
    valid = valid_mask(dataset, array, out_shape=shape)
    return array, transform, valid


def scene_scaling(path: str | Path, bands: list[int] | None = None, mode: str = "per_band",
                  low_percentile: float | None = 1.0, high_percentile: float = 99.0,
                  max_size: int = 1024) -> BandScaling:
    """Scaling statistics (percentiles of valid pixels) from a decimated read of the scene."""
    with open_raster(path) as dataset:
        array, _, valid = _read_decimated(dataset, bands, max_size, Resampling.nearest)
    if not valid.any():
        raise InputError(f"{Path(path).name} has no valid pixels (everything is nodata).")
    return BandScaling.from_array(array, mode=mode, low_percentile=low_percentile,
                                  high_percentile=high_percentile, valid=valid)


def check_geotiff_path(path: str | Path) -> None:
    """InputError unless the output file name ends in .tif or .tiff (outputs are GeoTIFFs)."""
    suffix = Path(path).suffix.lower()
    if suffix not in GEOTIFF_SUFFIXES:
        raise InputError(f"{Path(path).name}: raster outputs are written as GeoTIFF; give the "
                         f"file a .tif name (not '{suffix or 'no extension'}').")


def check_raster_outputs(inputs: list[str | Path], outputs: list[str | Path | None]) -> None:
    """InputError, before any work, for an output (None: not asked for) that is not named .tif
    or that is one of the input rasters (it would be replaced while it is still read; QGIS may
    also hold it open)."""
    for output in filter(None, outputs):
        check_geotiff_path(output)
        for source in inputs:
            if os.path.exists(output) and os.path.exists(source) and os.path.samefile(source, output):
                raise InputError(f"The output {Path(output).name} is the input raster itself; "
                                 f"choose another output file (the input is read while the "
                                 f"output is written).")
