"""Processing part of a raster: the pixel window an area covers, and views of a raster (a
window and/or some of its bands) as GDAL virtual rasters (VRT) a pipeline reads unchanged.

The window is widened to whole pixels (and, for a PAN, to whole MS pixels) and clipped to the
raster. The engine runs over such a window of the whole raster (`run_tiled(region=...)`), so
statistics and global views still come from all of it; VRT views serve band choices and the
pipelines that are not tiled (scene classification, GDAL's Brovey). A VRT keeps the CRS, the
window's geotransform, nodata, the mask and band names, and reads the source's overviews, so
outputs land exactly on the input's grid.
"""
from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rasterio.windows import Window, from_bounds

from ..errors import InputError
from .raster_io import NOT_GEOREFERENCED, band_list, display_transform, has_mask, open_raster

#: pixel fractions closer than this to a whole pixel count as whole (float noise of bounds)
SNAP = 1e-6


@dataclass(frozen=True)
class Area:
    """A rectangle in the raster's CRS (what a QGIS extent parameter gives)."""

    left: float
    bottom: float
    right: float
    top: float

    def __post_init__(self):
        if not (self.right > self.left and self.top > self.bottom):
            raise InputError(f"The area to process is empty ({self.left:g}, {self.bottom:g} to "
                             f"{self.right:g}, {self.top:g}); draw or choose a larger one.")


def area_window(path: str | Path, area: Area, multiple: int = 1) -> Window:
    """The pixels of the raster that `area` touches, widened outwards to multiples of `multiple`
    pixels from the raster's origin and clipped to the raster; InputError when they miss it."""
    with open_raster(path) as dataset:
        return window_of_area(area, display_transform(dataset), dataset.shape,
                              Path(path).name, multiple)


def window_of_area(area: Area, transform, shape: tuple[int, int], name: str,
                   multiple: int = 1) -> Window:
    """`area_window` of the raster `name` of `shape` (rows, columns) drawn with `transform`."""
    window = from_bounds(area.left, area.bottom, area.right, area.top, transform)
    height, width = shape
    first_col = _outward(window.col_off, multiple, math.floor)
    first_row = _outward(window.row_off, multiple, math.floor)
    last_col = _outward(window.col_off + window.width, multiple, math.ceil)
    last_row = _outward(window.row_off + window.height, multiple, math.ceil)
    first_col, first_row = max(first_col, 0), max(first_row, 0)
    last_col, last_row = min(last_col, width), min(last_row, height)
    if last_col <= first_col or last_row <= first_row:
        raise InputError(f"The area to process does not overlap {name}; choose an "
                         f"area over the raster (or leave it empty for the whole raster).")
    return Window(first_col, first_row, last_col - first_col, last_row - first_row)


def _outward(pixels: float, multiple: int, rounding) -> int:
    nearest = round(pixels)
    whole = nearest if abs(pixels - nearest) < SNAP else rounding(pixels)
    return int(rounding(whole / multiple) * multiple)


@dataclass(frozen=True)
class View:
    """What a pipeline sees of a raster: a pixel window (None = all of it) and bands (None = the
    data bands, see `band_list`)."""

    path: str | Path
    window: Window | None = None
    bands: list[int] | None = None


@contextmanager
def view_rasters(views: list[View]) -> Iterator[list[str]]:
    """A VRT of each view in a temporary folder (named after its raster); yields their paths and
    deletes them on exit. A window may reach past the raster's edge (nodata there); an alpha
    or mask band becomes the VRT's mask."""
    from osgeo import gdal

    with tempfile.TemporaryDirectory(prefix="geodistill-view-") as folder:
        paths = []
        for index, view in enumerate(views):
            name = Path(str(view.path)).name
            with open_raster(view.path) as dataset:
                options = {"format": "VRT", "bandList": band_list(dataset, view.bands)}
                if has_mask(dataset):
                    options["maskBand"] = "mask"
                if display_transform(dataset) is NOT_GEOREFERENCED:  # keep where QGIS draws it
                    window = view.window or Window(0, 0, dataset.width, dataset.height)
                    left, top = NOT_GEOREFERENCED * (window.col_off, window.row_off)
                    right, bottom = NOT_GEOREFERENCED * (window.col_off + window.width,
                                                         window.row_off + window.height)
                    options["outputBounds"] = [left, top, right, bottom]
            if view.window is not None:
                window = view.window
                options["srcWin"] = [int(window.col_off), int(window.row_off), int(window.width),
                                     int(window.height)]
            target = Path(folder) / str(index) / f"{Path(str(view.path)).stem}.vrt"
            target.parent.mkdir()
            try:
                dataset = gdal.Translate(str(target), str(view.path), **options)
            except RuntimeError:  # GDAL with exceptions on
                dataset = None
            if dataset is None:
                raise InputError(f"Could not read the part of {name} to process: "
                                 f"{gdal.GetLastErrorMsg()}")
            dataset = None  # closing writes the VRT
            paths.append(str(target))
        yield paths


def area_region(path: str | Path, area: Area | None, log=None, multiple: int = 1,
                unit: str = "pixels") -> Window | None:
    """The window `area` covers (see `area_window`), logged with `log`; None without an area."""
    if area is None:
        return None
    return logged_window(area_window(path, area, multiple), Path(str(path)).name, log, unit)


def logged_window(window: Window, name: str, log=None, unit: str = "pixels") -> Window:
    """`window` of the raster `name`, said with `log` as the area to process."""
    if log is not None:
        log(f"Area to process: {int(window.width)} x {int(window.height)} {unit} of "
            f"{name} (from column {int(window.col_off)}, row {int(window.row_off)}).")
    return window


@contextmanager
def raster_part(path: str | Path, area: Area | None = None, bands: list[int] | None = None,
                log=None) -> Iterator[str]:
    """A VRT of the part of one raster to process: the window `area` covers (None = all of it)
    and `bands` (None = the data bands); what is chosen is logged with `log`."""
    window = area_region(path, area, log)
    if log is not None and bands:
        log(f"Bands used: {', '.join(map(str, bands))} of {Path(str(path)).name}.")
    with view_rasters([View(path, window, bands)]) as (part,):
        yield part
