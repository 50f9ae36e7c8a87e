"""The one GeoTIFF writer of every tool: tiled and compressed, written under a hidden temporary
name, checked, and renamed into place only when complete and readable.

A write either produces a whole, readable file that describes itself (band names, explicit
colour interpretation, and for class rasters a colour table, GDAL category names, a raster
attribute table and a QGIS `.qml` style beside it), or leaves the output path as it was: the
temporary file is removed and an existing file at the output path is not touched.

GDAL's GeoTIFF driver does not always report failed block writes (a full disk, a file size
limit), so the temporary file is verified before the rename: every block of every image
(overviews included) must lie inside the file, and every pixel must read back.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import MemoryFile
from rasterio.windows import Window

from ..errors import InputError
from ..output_files import check_output_folder
from .raster_io import check_geotiff_path
from .raster_style import ClassEntry, class_style_qml

BLOCK_SIZE = 256
OVERVIEW_MIN_SIZE = 256
#: ZSTD level of outputs and their overviews (for the overviews of a 4096^2 4-band output,
#: GDAL's default level took 1.6 times as long for a file only about 5 % smaller)
ZSTD_LEVEL = 1
#: share of the uncompressed size that internal overviews add (1/4 + 1/16 + ... < 1/3)
OVERVIEW_SHARE = 1 / 3
#: free space kept beyond the estimate (file system slack, sidecars)
SPARE_BYTES = 1 << 20
#: rows read at once when the written file is read back
VERIFY_ROWS = 1024
COLOUR_NAMES = {"red": ColorInterp.red, "green": ColorInterp.green, "blue": ColorInterp.blue}


class WriteError(InputError):
    """The output could not be written completely (disk full, no permission, ...)."""


@dataclass
class RasterDescription:
    """What an output says about itself beyond its pixels.

    `band_names` become band descriptions and set the colour interpretation (see
    `colour_interpretation`), so a 4-band byte result is never taken as RGBA. `classes` (1-band
    outputs) give the colour table, the category names, the attribute table and the `.qml`
    style. `tags` are dataset metadata items. `mask`: a valid-pixel mask will be written
    (`RasterWriter.write_mask`), which the free-space estimate counts.
    """

    band_names: list[str] = field(default_factory=list)
    classes: list[ClassEntry] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    mask: bool = False


def colour_interpretation(names: list[str], count: int) -> list[ColorInterp]:
    """Explicit colour interpretation of `count` bands named `names`: red, green and blue for
    the bands named so (any case; "red edge" is not red) when each of the three occurs exactly
    once; every other band gray (the first) or undefined."""
    words = [(name or "").strip().lower() for name in names[:count]]
    found = [COLOUR_NAMES.get(word) for word in words] + [None] * (count - len(words))
    if sorted(f for f in found if f is not None) != sorted(COLOUR_NAMES.values()):
        found = [None] * count
    return [f or (ColorInterp.gray if i == 0 else ColorInterp.undefined) for i, f in enumerate(found)]


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
    `block` pixels (a multiple of 16); `compress` None picks `default_compression()`.

    Photometric MINISBLACK keeps GDAL from tagging 3 or 4 byte bands as RGB(A) on its own; the
    writer sets each band's colour interpretation explicitly.
    """
    compress = (compress or default_compression()).upper()
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    profile = dict(driver="GTiff", height=height, width=width, count=count, dtype=dtype, crs=crs,
                   transform=transform, nodata=nodata, tiled=True, blockxsize=block,
                   blockysize=block, compress=compress, bigtiff="IF_SAFER",
                   interleave="pixel" if count <= 4 else "band", photometric="MINISBLACK")
    if compress in ("DEFLATE", "ZSTD", "LZW"):
        profile["predictor"] = 3 if floating else 2
    if compress == "ZSTD":
        profile["zstd_level"] = ZSTD_LEVEL
    return profile


def overview_factors(height: int, width: int) -> list[int]:
    """Power-of-two factors down to an overview of about OVERVIEW_MIN_SIZE pixels."""
    levels = max(0, math.ceil(math.log2(max(height, width) / OVERVIEW_MIN_SIZE)))
    return [2 ** i for i in range(1, levels + 1)]


def estimated_bytes(profile: dict, mask: bool = False) -> int:
    """Upper estimate of the file size: the uncompressed pixels plus overviews (and mask)."""
    pixels = profile["height"] * profile["width"]
    size = pixels * profile["count"] * np.dtype(profile["dtype"]).itemsize + (pixels if mask else 0)
    return int(size * (1 + OVERVIEW_SHARE))


def check_free_space(folder: Path, needed: int) -> None:
    """WriteError when the folder's file system has less than `needed` bytes (plus slack) free."""
    free = shutil.disk_usage(folder).free
    if free < needed + SPARE_BYTES:
        raise WriteError(f"Not enough free disk space in {folder}: the output may need up to "
                         f"{_megabytes(needed)} and {_megabytes(free)} are free. Free some space "
                         f"or choose an output folder on another disk.")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def temporary_path(path: Path) -> Path:
    """Hidden name in the same folder under which an output is written until it is complete."""
    return path.with_name(f".{path.stem}.partial{path.suffix or '.tif'}")


def sidecars(path: Path) -> dict[str, Path]:
    """Files that belong to a GeoTIFF: GDAL's attribute sidecar and QGIS's default style."""
    return {"aux": path.with_name(path.name + ".aux.xml"), "qml": path.with_suffix(".qml")}


class RasterWriter:
    """A GeoTIFF written under a hidden temporary name and renamed only by `commit()`.

    `discard()` (or leaving a `with` block by an exception) deletes the temporary files, so a
    failed or cancelled run leaves nothing behind and an older file at `path` unchanged.
    """

    def __init__(self, path: str | Path, profile: dict, description: RasterDescription | None = None):
        check_geotiff_path(path)
        self.path = Path(path)
        self.description = description or RasterDescription()
        check_output_folder(self.path, "output")
        check_free_space(self.path.parent, estimated_bytes(profile, self.description.mask))
        self.temporary = temporary_path(self.path)
        self.profile = profile
        try:
            self.dataset = rasterio.open(self.temporary, "w", **profile)
        except rasterio.errors.RasterioIOError as error:
            self.temporary.unlink(missing_ok=True)
            raise WriteError(f"Cannot create {self.path.name} in {self.path.parent}: {error}. "
                             f"Check that the folder is writable.") from error
        # GDAL compresses internal overviews at its default level unless told otherwise
        self.overview_options = ({"ZSTD_LEVEL_OVERVIEW": profile["zstd_level"]}
                                 if "zstd_level" in profile else {})

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
        """Finish the file (see `finish`) and move it into place; returns the final path."""
        self.finish()
        return self.move_into_place()

    def finish(self) -> None:
        """Describe, close and verify the temporary file and write its sidecars; on failure the
        temporary files are deleted and the error raised."""
        try:
            self._describe()
            self.dataset.close()
            if self.description.classes:
                _write_categories(self.temporary, self.description.classes)
            verify_geotiff(self.temporary, self.profile)
            if self.description.classes:
                sidecars(self.temporary)["qml"].write_text(
                    class_style_qml(self.description.classes), encoding="utf-8")
        except BaseException:
            self.discard()
            raise

    def move_into_place(self) -> Path:
        """Rename the finished file and its sidecars to the final name (replacing older ones)."""
        finished = sidecars(self.temporary)
        for kind, final in sidecars(self.path).items():
            if finished[kind].exists():
                os.replace(finished[kind], final)
            else:  # an older file's statistics or class style would not fit this one
                final.unlink(missing_ok=True)
        os.replace(self.temporary, self.path)
        return self.path

    def _describe(self) -> None:
        count = self.dataset.count
        names = self.description.band_names
        for index, name in enumerate(names[:count], start=1):
            self.dataset.set_band_description(index, name)
        if self.description.classes:
            if self.dataset.dtypes[0] in ("uint8", "uint16"):  # GeoTIFF colour tables
                self.dataset.colorinterp = [ColorInterp.palette] + [ColorInterp.undefined] * (count - 1)
                self.dataset.write_colormap(1, {c.value: c.rgba() for c in self.description.classes})
        else:
            self.dataset.colorinterp = colour_interpretation(names, count)
        if self.description.tags:
            self.dataset.update_tags(**self.description.tags)

    def discard(self) -> None:
        """Close and delete the temporary file and its sidecars."""
        if not self.dataset.closed:
            try:
                self.dataset.close()
            except Exception:  # the file is deleted anyway; the first error is the one to report
                pass
        self.temporary.unlink(missing_ok=True)
        for sidecar in sidecars(self.temporary).values():
            sidecar.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            self.discard()
        return False


def _write_categories(path: Path, classes: list[ClassEntry]) -> None:
    """GDAL category names and a raster attribute table (value, name, colour) on band 1."""
    from osgeo import gdal

    size = max(c.value for c in classes) + 1
    names = [""] * size
    for entry in classes:
        names[entry.value] = entry.name
    table = gdal.RasterAttributeTable()
    table.CreateColumn("Value", gdal.GFT_Integer, gdal.GFU_MinMax)
    table.CreateColumn("Class", gdal.GFT_String, gdal.GFU_Name)
    for column in ("Red", "Green", "Blue"):
        table.CreateColumn(column, gdal.GFT_Integer, getattr(gdal, f"GFU_{column}"))
    for row, entry in enumerate(classes):
        table.SetValueAsInt(row, 0, entry.value)
        table.SetValueAsString(row, 1, entry.name)
        for column, level in enumerate(entry.rgba()[:3], start=2):
            table.SetValueAsInt(row, column, level)
    dataset = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_UPDATE)
    if dataset is None:
        raise WriteError(f"Cannot reopen {path.name} to store its class names: "
                         f"{gdal.GetLastErrorMsg()}")
    band = dataset.GetRasterBand(1)
    failed = band.SetCategoryNames(names) != gdal.CE_None or band.SetDefaultRAT(table) != gdal.CE_None
    dataset = None  # closing writes the attribute sidecar
    if failed:
        raise WriteError(f"Cannot store the class names of {path.name}: {gdal.GetLastErrorMsg()}")


def read_class_entries(path: str | Path) -> list[ClassEntry]:
    """The class legend stored by `RasterWriter` in a class raster (its attribute table), or an
    empty list when the file has none."""
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    table = dataset.GetRasterBand(1).GetDefaultRAT() if dataset is not None else None
    if table is None or table.GetColumnCount() < 5:
        return []
    return [ClassEntry(table.GetValueAsInt(row, 0), table.GetValueAsString(row, 1),
                       "#{:02x}{:02x}{:02x}".format(*(table.GetValueAsInt(row, c) for c in (2, 3, 4))))
            for row in range(table.GetRowCount())]


def verify_geotiff(path: Path, profile: dict) -> None:
    """WriteError unless the file at `path` is complete: its size and bands as in `profile`,
    every block of every image inside the file, and every pixel readable."""
    from osgeo import gdal

    file_size = path.stat().st_size
    problem = None
    dataset = gdal.Open(str(path))
    if dataset is None:
        problem = gdal.GetLastErrorMsg() or "it cannot be opened"
    elif (dataset.RasterYSize, dataset.RasterXSize, dataset.RasterCount) != \
            (profile["height"], profile["width"], profile["count"]):
        problem = "its size or band count differs from what was written"
    else:
        problem = _missing_block(dataset, file_size)
    dataset = None
    if problem is None:
        problem = _unreadable(path)
    if problem is not None:
        raise WriteError(f"Writing {path.name.removeprefix('.').replace('.partial', '')} failed: "
                         f"{problem}. The disk may be full or the folder not writable; free some "
                         f"space or choose another output folder. An existing file of that name "
                         f"was left unchanged.")


def _missing_block(dataset, file_size: int) -> str | None:
    """A sentence naming the first block that is not in the file, or None."""
    bands = [dataset.GetRasterBand(i) for i in range(1, dataset.RasterCount + 1)]
    if dataset.GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE") == "PIXEL":
        bands = bands[:1]
    images = [image for band in bands
              for image in [band] + [band.GetOverview(i) for i in range(band.GetOverviewCount())]]
    for image in images:
        block_x, block_y = image.GetBlockSize()
        for y in range(math.ceil(image.YSize / block_y)):
            for x in range(math.ceil(image.XSize / block_x)):
                offset = int(image.GetMetadataItem(f"BLOCK_OFFSET_{x}_{y}", "TIFF") or 0)
                size = int(image.GetMetadataItem(f"BLOCK_SIZE_{x}_{y}", "TIFF") or 0)
                if offset <= 0 or size <= 0 or offset + size > file_size:
                    return f"block {x},{y} of a {image.XSize} x {image.YSize} image is missing"
    return None


def _unreadable(path: Path) -> str | None:
    """The read error of the first part of the file that does not decode, or None."""
    try:
        with rasterio.open(path) as dataset:
            for top in range(0, dataset.height, VERIFY_ROWS):
                window = Window(0, top, dataset.width, min(VERIFY_ROWS, dataset.height - top))
                dataset.read(window=window)
    except rasterio.errors.RasterioError as error:
        return str(error)
    return None
