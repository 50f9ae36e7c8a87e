"""Raster reading for the engine: padded window reads, nodata masks, decimated whole-scene
reads, and the checks of output names (the writer is `raster_writer`).
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.windows import Window

from ..errors import InputError
from ..output_files import check_output_folder
from .scaling import BandScaling
from .scene_memo import file_state, remembered

GEOTIFF_SUFFIXES = (".tif", ".tiff")


def open_raster(path: str | Path):
    """Open a raster for reading, turning rasterio's error into one the user can act on."""
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"Cannot read raster {path}: {error}. Check the path and the file.") from error


#: how QGIS places a raster without georeference: pixel coordinates, y going down
NOT_GEOREFERENCED = Affine(1, 0, 0, 0, -1, 0)


def display_transform(dataset) -> Affine:
    """The transform QGIS draws the raster with: its own, or for a plain image without
    georeference (a JPG or PNG without world file) pixel coordinates with y going down
    (x 0..width, y -height..0), so that outputs written with it overlay the input."""
    gcps, _ = dataset.gcps
    if dataset.crs is None and dataset.transform.is_identity and not gcps:
        return NOT_GEOREFERENCED
    return dataset.transform


#: longest side of the read that decides whether an alpha band is a plausible mask
ALPHA_CHECK_SIZE = 1024


def data_bands(dataset) -> list[int]:
    """1-based indexes of the bands that hold data: all but plausible alpha bands (see
    `trusted_alpha_bands`), which are the raster's mask (an RGBA orthophoto has 3 data bands)."""
    alpha = trusted_alpha_bands(dataset)
    return [index for index in range(1, dataset.count + 1) if index not in alpha]


def trusted_alpha_bands(dataset) -> list[int]:
    """1-based indexes of the bands tagged alpha whose values are all 0 or fully opaque (255,
    or the data type's maximum), read at most ALPHA_CHECK_SIZE pixels a side. GDAL tags the
    4th band of any 4-band byte GeoTIFF written with default options as alpha; such a band
    holding other values (a NIR band) is data."""
    tagged = [index for index, interpretation in enumerate(dataset.colorinterp, start=1)
              if interpretation == ColorInterp.alpha]
    return [index for index in tagged if _plausible_alpha(dataset, index)]


def _plausible_alpha(dataset, index: int) -> bool:
    shape = decimated_shape(dataset.height, dataset.width, ALPHA_CHECK_SIZE)
    values = dataset.read(index, out_shape=shape, resampling=Resampling.nearest)
    opaque = (255, np.iinfo(values.dtype).max) if np.issubdtype(values.dtype, np.integer) else (255,)
    return bool(np.isin(values, (0, *opaque)).all())


def alpha_note(dataset) -> str | None:
    """A log line when a band tagged alpha is used as data (its values are not a mask)."""
    tagged = [index for index, interpretation in enumerate(dataset.colorinterp, start=1)
              if interpretation == ColorInterp.alpha]
    untrusted = [index for index in tagged if index not in trusted_alpha_bands(dataset)]
    if not untrusted:
        return None
    return (f"Band(s) {', '.join(map(str, untrusted))} of {Path(dataset.name).name} are tagged "
            f"alpha (transparency) but hold values other than 0 and 255, so they are used as "
            f"data bands, not as a mask.")


COLOUR_BAND_NAMES = {ColorInterp.red: "Red", ColorInterp.green: "Green", ColorInterp.blue: "Blue"}


def band_names(dataset, bands: list[int] | None = None) -> list[str]:
    """The descriptions of `bands` (the data bands when None); where one is empty, the colour
    the band is tagged with (Red, Green, Blue), else "Band N"."""
    return [dataset.descriptions[index - 1]
            or COLOUR_BAND_NAMES.get(dataset.colorinterp[index - 1], f"Band {index}")
            for index in band_list(dataset, bands)]


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
    """Whether the raster has a mask band or a plausible alpha band (rather than, or besides,
    nodata); an alpha band used as data (see `trusted_alpha_bands`) is no mask."""
    flags = dataset.mask_flag_enums[0]
    if MaskFlags.alpha in flags:
        return bool(trusted_alpha_bands(dataset))
    return MaskFlags.per_dataset in flags


def valid_mask(dataset, array: np.ndarray, **read_kwargs) -> np.ndarray:
    """(rows, cols) bool: True where the pixel has data.

    A mask band or alpha band is used when the dataset has one (read with the same window /
    out_shape as `array`); otherwise a pixel is nodata when every band equals the nodata value.
    NaN and +-Inf are always nodata.
    """
    valid = np.ones(array.shape[1:], dtype=bool)
    if has_mask(dataset):
        valid &= dataset.read_masks(1, **read_kwargs) > 0
    elif dataset.nodata is not None and not np.isnan(dataset.nodata):
        valid &= ~np.all(array == array.dtype.type(dataset.nodata), axis=0)
    if np.issubdtype(array.dtype, np.floating):
        valid &= np.all(np.isfinite(array), axis=0)
    return valid


def non_finite_count(dataset, rows_per_read: int = 1024) -> int:
    """Number of pixels of a floating-point raster with NaN or +-Inf in any band (0 for
    integer rasters), read in strips of `rows_per_read` rows."""
    if not np.issubdtype(np.dtype(dataset.dtypes[0]), np.floating):
        return 0
    count = 0
    for top in range(0, dataset.height, rows_per_read):
        window = Window(0, top, dataset.width, min(rows_per_read, dataset.height - top))
        count += int((~np.all(np.isfinite(dataset.read(window=window)), axis=0)).sum())
    return count


def input_notes(path: str | Path) -> list[str]:
    """Log lines about what of an input raster is not used as its tags suggest (see
    `dataset_notes`)."""
    with open_raster(path) as dataset:
        return dataset_notes(dataset, Path(str(path)).name)


def dataset_notes(dataset, name: str) -> list[str]:
    """Log lines about the open raster `name`: a band tagged alpha used as data, and non-finite
    values (NaN, +-Inf) treated as nodata."""
    notes = [alpha_note(dataset)]
    bad = non_finite_count(dataset)
    if bad:
        notes.append(f"{bad} pixel(s) of {name} hold NaN or infinite values; "
                     f"they are treated as nodata (left out, and nodata in the output).")
    return [note for note in notes if note]


def output_nodata(dtype: str, nodata):
    """The nodata value of an output of `dtype` from an input with `nodata`: NaN for a float
    output of an input without one (so pixels without data, NaN or Inf included, stay marked)."""
    if nodata is None and np.issubdtype(np.dtype(dtype), np.floating):
        return float("nan")
    return nodata


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
    array, transform, _ = scene_overview(path, bands, max_size, resampling)
    return array, transform


def scene_overview(path: str | Path, bands: list[int] | None, max_size: int,
                   resampling: Resampling, dataset=None) -> tuple[np.ndarray, Affine, np.ndarray]:
    """(array, transform, valid mask) of the whole scene read at most `max_size` pixels on its
    longer side; shared by the windows of a split raster (see `scene_memo`). `dataset` is the
    raster at `path` when it is already open (else it is opened for the read)."""
    def read() -> dict[str, np.ndarray]:
        with open_raster(path) if dataset is None else nullcontext(dataset) as source:
            array, transform, valid = _read_decimated(source, bands, max_size, resampling)
        return {"array": array, "transform": np.array(transform[:6]), "valid": valid}

    key = file_state(path) + (None if bands is None else tuple(bands), max_size, resampling.name)
    values = remembered("overview", key, read)
    return values["array"], Affine(*values["transform"].tolist()), values["valid"]


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
    array, _, valid = scene_overview(path, bands, max_size, Resampling.nearest)
    return overview_scaling(array, valid, Path(path).name, mode, low_percentile, high_percentile)


def overview_scaling(array: np.ndarray, valid: np.ndarray, name: str, mode: str,
                     low_percentile: float | None, high_percentile: float) -> BandScaling:
    """Scaling statistics of the valid pixels of a decimated read of the raster `name`."""
    if not valid.any():
        raise InputError(f"{name} has no valid pixels (everything is nodata).")
    return BandScaling.from_array(array, mode=mode, low_percentile=low_percentile,
                                  high_percentile=high_percentile, valid=valid)


def check_geotiff_path(path: str | Path) -> None:
    """InputError unless the output file name ends in .tif or .tiff (outputs are GeoTIFFs)."""
    suffix = Path(path).suffix.lower()
    if suffix not in GEOTIFF_SUFFIXES:
        raise InputError(f"{Path(path).name}: raster outputs are written as GeoTIFF; give the "
                         f"file a .tif name (not '{suffix or 'no extension'}').")


def check_raster_outputs(inputs: list[str | Path], outputs: list[str | Path | None]) -> None:
    """InputError, before any work, for an output (None: not asked for) that is not named .tif,
    whose folder is missing or takes no files, or that is one of the input rasters (it would be replaced while it is still read; QGIS may
    also hold it open)."""
    for output in filter(None, outputs):
        check_geotiff_path(output)
        check_output_folder(output, "output")
        for source in inputs:
            if os.path.exists(output) and os.path.exists(source) and os.path.samefile(source, output):
                raise InputError(f"The output {Path(output).name} is the input raster itself; "
                                 f"choose another output file (the input is read while the "
                                 f"output is written).")
