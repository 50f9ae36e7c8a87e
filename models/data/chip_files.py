"""Labelled image chips read from files, QGIS-free.

Two sources give a `ChipSet`:
- a folder with one sub-folder of chips per class (the ImageFolder layout), any format GDAL
  reads (jpg, png and tif included, read with rasterio); chips of other sizes are resized, files
  that fail to decode are skipped with a warning naming them, an empty class folder is an error;
- a raster plus a vector layer of labelled points or polygons: chips of `chip_size` raster
  pixels are cut around each point, and on a grid inside each polygon (its inner point when the
  polygon is smaller than a chip), read with rasterio windows after reprojecting the layer.
Chips are stored in their raw data type (see `chips`).
"""
from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
from rasterio.warp import transform_geom

from ..crs_units import pixel_size_metres
from ..errors import InputError
from ..inference.raster_io import band_list, band_names, open_raster, read_padded
from .chips import ChipSet, _resized_raw
from .labels import IMAGE_SUFFIXES, _classes_from_field_values, make_classes, read_vector_labels

#: chips whose window has less valid data than this are not used for training
MIN_VALID_SHARE = 0.5


def _read_chip(path: Path, bands: list[int] | None) -> tuple[np.ndarray, float | None, list[str]]:
    """(raw array, pixel size in metres or None, band names) of one chip file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as dataset:
            indexes = band_list(dataset, bands)
            array = dataset.read(indexes)
            names = band_names(dataset, indexes)
            return array, pixel_size_metres(dataset), names


def class_folders(folder: str | Path) -> list[Path]:
    """The class sub-folders of a chip folder, sorted by name (hidden folders left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"The chips folder {folder} does not exist; choose the folder holding one "
                         "sub-folder of chips per class.")
    found = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                   key=lambda p: p.name)
    if not found:
        raise InputError(f"{folder} has no class folders: put each class's chips in a sub-folder "
                         "named after the class (e.g. forest/, river/).")
    return found


def load_chip_folder(folder: str | Path, input_size: int = 0, bands: list[int] | None = None,
                     log: Callable[[str], None] | None = None) -> ChipSet:
    """Chips of every class folder, resized to `input_size` (0 = the most common chip side).

    Undecodable files are skipped with a warning (in `warnings` and `log`); a class folder
    without readable chips, or chips with another band count than the others, is an error.
    """
    log = log or (lambda line: None)
    folders = class_folders(folder)
    raw, labels, names, problems, gsds, chip_band_names = [], [], [], [], [], []
    for index, class_folder in enumerate(folders):
        files = sorted(p for p in class_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        readable = 0
        for path in files:
            try:
                array, gsd, names_of_bands = _read_chip(path, bands)
            except InputError:
                raise
            except Exception as error:  # GDAL raises several error types for damaged files
                message = f"skipped {class_folder.name}/{path.name}: it cannot be decoded ({error})"
                problems.append(message)
                log(f"Warning: {message}")
                continue
            if raw and array.shape[0] != raw[0].shape[0]:
                raise InputError(f"{class_folder.name}/{path.name} has {array.shape[0]} band(s) but "
                                 f"the other chips have {raw[0].shape[0]}: use chips with the same bands.")
            raw.append(array)
            labels.append(index)
            names.append(f"{class_folder.name}/{path.name}")
            gsds.append(gsd)
            chip_band_names = chip_band_names or names_of_bands
            readable += 1
        if not readable:
            raise InputError(f"The class folder '{class_folder.name}' in {Path(folder)} holds no "
                             "readable image chip: add chips to it or remove the folder.")
    sides = Counter(a.shape[1] if a.shape[1] == a.shape[2] else -1 for a in raw)
    chip_size = max((s for s in sides if s > 0), key=lambda s: sides[s], default=0) \
        or int(np.median([min(a.shape[1:]) for a in raw]))
    size = input_size or chip_size
    odd = sum(a.shape[1:] != (chip_size, chip_size) for a in raw)
    if odd:
        message = (f"{odd} chip(s) are not {chip_size} x {chip_size} pixels; they were resized "
                   f"to {size} x {size}.")
        problems.append(message)
        log(message)
    images = np.stack([_resized_raw(a, size) for a in raw])
    known = [g for g in gsds if g is not None]
    classes = make_classes(list(range(len(folders))), [f.name for f in folders])
    return ChipSet(images, np.asarray(labels, dtype=np.int64), classes, names, chip_size,
                   float(np.median(known)) if known else None, chip_band_names, problems)


def _geometry_centres(geometry: dict, dataset, chip_size: int) -> list[tuple[float, float]]:
    """Chip centres (x, y in the raster's CRS) for one point or polygon feature."""
    from osgeo import ogr

    shape = ogr.CreateGeometryFromJson(json.dumps(geometry))
    kind = ogr.GT_Flatten(shape.GetGeometryType())
    if kind in (ogr.wkbPoint, ogr.wkbMultiPoint):
        parts = [shape] if kind == ogr.wkbPoint else [shape.GetGeometryRef(i) for i in range(shape.GetGeometryCount())]
        return [(p.GetX(), p.GetY()) for p in parts]
    step = chip_size * abs(dataset.transform.a)
    left, right, bottom, top = shape.GetEnvelope()
    centres = []
    for y in np.arange(top - step / 2, bottom, -step):
        for x in np.arange(left + step / 2, right, step):
            point = ogr.Geometry(ogr.wkbPoint)
            point.AddPoint_2D(float(x), float(y))
            if shape.Contains(point):
                centres.append((float(x), float(y)))
    if not centres:
        inner = shape.PointOnSurface()
        if inner is not None and not inner.IsEmpty():
            centres.append((inner.GetX(), inner.GetY()))
    return centres


def chips_from_vector(raster_path: str | Path, vector_path: str | Path, class_field: str,
                      chip_size: int, input_size: int = 0,
                      bands: list[int] | None = None) -> ChipSet:
    """Chips of `chip_size` raster pixels cut around labelled points / inside labelled polygons.

    The layer is reprojected to the raster's CRS when needed; features without a class value,
    and chips that fall off the raster or are mostly nodata, are left out.
    """
    vector_path = Path(vector_path)
    if chip_size < 8:
        raise InputError(f"CHIP_SIZE must be at least 8 pixels to cut chips, got {chip_size}.")
    geometries, values, vector_crs = read_vector_labels(vector_path, class_field)
    kept = [(g, v) for g, v in zip(geometries, values) if v is not None and str(v).strip() != ""]
    if not kept:
        raise InputError(f"the field '{class_field}' of {vector_path.name} has no values; fill it "
                         "with the class of each feature or choose another field")
    classes, index_of = _classes_from_field_values([v for _, v in kept])
    size = input_size or chip_size
    images, labels, names = [], [], []
    with open_raster(raster_path) as dataset:
        indexes = band_list(dataset, bands)
        same_crs = not (vector_crs and dataset.crs) or rasterio.crs.CRS.from_wkt(vector_crs) == dataset.crs
        for number, (geometry, value) in enumerate(kept, start=1):
            if not same_crs:
                geometry = transform_geom(vector_crs, dataset.crs, geometry)
            for x, y in _geometry_centres(geometry, dataset, chip_size):
                row, col = dataset.index(x, y)
                if not (0 <= row < dataset.height and 0 <= col < dataset.width):
                    continue
                raw, valid = read_padded(dataset, indexes, row - chip_size // 2, col - chip_size // 2,
                                         chip_size, chip_size)
                if valid.mean() < MIN_VALID_SHARE:
                    continue
                images.append(_resized_raw(raw, size))
                labels.append(index_of[value if value in index_of else str(value)])
                names.append(f"feature {number}")
        gsd = pixel_size_metres(dataset)
        names_of_bands = band_names(dataset, indexes)
    if not images:
        raise InputError(f"no chip could be cut: the features of {vector_path.name} lie outside "
                         f"the raster {Path(raster_path).name} or over nodata; check that they "
                         "belong to it and that the layer's CRS is set correctly")
    return ChipSet(np.stack(images), np.asarray(labels, dtype=np.int64), classes, names, chip_size,
                   gsd, names_of_bands)
