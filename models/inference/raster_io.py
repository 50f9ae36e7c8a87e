"""Raster reading and writing for the engine: padded window reads, nodata masks, decimated
whole-scene reads, and an atomic tiled GeoTIFF writer with overviews.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.io import MemoryFile
from rasterio.windows import Window

from ..errors import InputError
from .scaling import BandScaling

BLOCK_SIZE = 256
GEOTIFF_SUFFIXES = (".tif", ".tiff")
OVERVIEW_MIN_SIZE = 256
#: ZSTD level of outputs and their overviews (for the overviews of a 4096^2 4-band output,
#: GDAL's default level took 1.6 times as long for a file only about 5 % smaller)
ZSTD_LEVEL = 1


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


def temporary_path(path: Path) -> Path:
    """Hidden name in the same folder under which an output is written until it is complete."""
    return path.with_name(f".{path.stem}.partial{path.suffix or '.tif'}")


@lru_cache(maxsize=1)
def default_compression() -> str:
    """ZSTD (level 1: several times faster than DEFLATE at the same size) where this GDAL has
    it, else DEFLATE."""
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", height=1, width=1, count=1, dtype="uint8",
                         transform=Affine(1, 0, 0, 0, -1, 1), compress="ZSTD") as probe:
            probe.write(np.zeros((1, 1, 1), np.uint8))
        with memory.open() as probe:
            return "ZSTD" if probe.compression and probe.compression.name == "zstd" else "DEFLATE"


def geotiff_profile(height: int, width: int, count: int, dtype: str, crs, transform: Affine,
                    nodata, compress: str | None = None, block: int = BLOCK_SIZE) -> dict:
    """Creation profile of a tiled, compressed, BigTIFF-capable GeoTIFF with square blocks of
    `block` pixels (a multiple of 16).

    `compress` None picks `default_compression()`.
    """
    compress = (compress or default_compression()).upper()
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    profile = dict(driver="GTiff", height=height, width=width, count=count, dtype=dtype, crs=crs,
                   transform=transform, nodata=nodata, tiled=True, blockxsize=block,
                   blockysize=block, compress=compress, bigtiff="IF_SAFER",
                   interleave="pixel" if count <= 4 else "band")
    if compress in ("DEFLATE", "ZSTD", "LZW"):
        profile["predictor"] = 3 if floating else 2
    if compress == "ZSTD":
        profile["zstd_level"] = ZSTD_LEVEL
    return profile


def overview_factors(height: int, width: int) -> list[int]:
    """Power-of-two factors down to an overview of about OVERVIEW_MIN_SIZE pixels."""
    levels = max(0, math.ceil(math.log2(max(height, width) / OVERVIEW_MIN_SIZE)))
    return [2 ** i for i in range(1, levels + 1)]


class AtomicGeoTiff:
    """A GeoTIFF written under a hidden temporary name and renamed only by `commit()`.

    `discard()` (or leaving a `with` block by an exception) deletes the temporary file, so a
    failed or cancelled run leaves nothing behind.
    """

    def __init__(self, path: str | Path, profile: dict, band_descriptions: list[str] | None = None):
        check_geotiff_path(path)
        self.path = Path(path)
        self.temporary = temporary_path(self.path)
        self.dataset = rasterio.open(self.temporary, "w", **profile)
        # GDAL compresses internal overviews at its default level unless told otherwise
        self.overview_options = ({"ZSTD_LEVEL_OVERVIEW": profile["zstd_level"]}
                                 if "zstd_level" in profile else {})
        for index, description in enumerate(band_descriptions or [], start=1):
            self.dataset.set_band_description(index, description)

    def write(self, array: np.ndarray, row: int, col: int = 0) -> None:
        """Write an array (bands, rows, columns) with its top-left pixel at (row, col)."""
        self.dataset.write(array, window=Window(col, row, array.shape[2], array.shape[1]))

    def write_mask(self, valid: np.ndarray, row: int, col: int = 0) -> None:
        """Write the (rows, columns) valid-pixel mask with its top-left pixel at (row, col) into
        the GeoTIFF's internal mask (every block must be written once it is used)."""
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            self.dataset.write_mask(np.where(valid, 255, 0).astype(np.uint8),
                                    window=Window(col, row, valid.shape[1], valid.shape[0]))

    def build_overviews(self, resampling: Resampling) -> None:
        """Internal overviews down to about OVERVIEW_MIN_SIZE pixels."""
        factors = overview_factors(self.dataset.height, self.dataset.width)
        if factors:
            with rasterio.Env(**self.overview_options):
                self.dataset.build_overviews(factors, resampling)
            self.dataset.update_tags(ns="rio_overview", resampling=resampling.name)

    def commit(self) -> Path:
        """Close and move the file to its final name (replacing an older file)."""
        self.dataset.close()
        os.replace(self.temporary, self.path)
        return self.path

    def discard(self) -> None:
        """Close and delete the temporary file."""
        if not self.dataset.closed:
            self.dataset.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            self.discard()
        return False
