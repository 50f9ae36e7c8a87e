"""Segmentation training data from the user's own layers, QGIS-free.

Labels come as polygons with a class field (rasterized onto the raster's grid, reprojected
first when the vector has another CRS), as a label raster (warped with nearest neighbour onto
the raster's grid when it lies on another grid), or as folders of image chips and masks
(single-band class values, or RGB masks coded with the classes' colours). Every source gives
`LabelledScene`s: the raster's path and a uint8 array of class indices on its grid, with
`IGNORE_INDEX` wherever nothing is labelled (sparse labels are fine).

Training patches are cut from the scenes by `models.data.patches`. Class index i of the
labels (and of a model's output) is `classes[i]`, a dict {"id": the value in the user's data, "name", "color": "#rrggbb"}.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import rasterize
from rasterio.warp import transform_bounds, transform_geom

from ..errors import InputError
from ..inference.raster_io import band_list, open_raster
from .label_windows import TargetGrid, read_class_indices

IGNORE_INDEX = 255
"""Label value of unlabelled pixels (and the ignore index of the losses and metrics)."""
MAX_CLASSES = 255
PALETTE = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".img", ".vrt"}


@dataclass
class LabelledScene:
    """A raster and its class indices (uint8, IGNORE_INDEX = unlabelled) on the raster's grid."""

    raster_path: Path
    labels: np.ndarray
    classes: list[dict]
    bands: list[int] | None = None


def make_classes(ids: list, names: list[str] | None = None) -> list[dict]:
    """Class dicts {"id", "name", "color"} in the order given, colours from a fixed palette."""
    if len(ids) > MAX_CLASSES:
        raise InputError(f"found {len(ids)} classes but at most {MAX_CLASSES} are supported; "
                         "check that the class field holds classes, not unique ids")
    names = names or [f"class {value}" for value in ids]
    return [{"id": value, "name": name, "color": PALETTE[i % len(PALETTE)]}
            for i, (value, name) in enumerate(zip(ids, names))]


def _classes_from_field_values(values: list) -> tuple[list[dict], dict]:
    """Classes for the distinct field values, and the map value -> class index.

    Whole numbers keep their value as id; text values are numbered in sorted order.
    """
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    if all(isinstance(v, (int, float)) and float(v).is_integer() for v in distinct):
        classes = make_classes([int(v) for v in distinct])
    else:
        distinct = sorted({str(v) for v in values})
        classes = make_classes(list(range(len(distinct))), distinct)
    return classes, {value: index for index, value in enumerate(distinct)}


def _index_in_classes(values: list, classes: list[dict], source: str) -> dict:
    """Map each field value to its index in `classes` (numbers by id, text by name)."""
    by_id = {int(c["id"]): i for i, c in enumerate(classes)}
    by_name = {str(c["name"]).strip().lower(): i for i, c in enumerate(classes)}
    index_of, unknown = {}, set()
    for value in set(values):
        number = value if isinstance(value, (int, float)) else None
        if number is None and str(value).strip().lstrip("-").isdigit():
            number = int(str(value).strip())
        if number is not None and float(number).is_integer() and int(number) in by_id:
            index_of[value] = by_id[int(number)]
        elif str(value).strip().lower() in by_name:
            index_of[value] = by_name[str(value).strip().lower()]
        else:
            unknown.add(str(value))
    if unknown:
        known = ", ".join(f"{c['id']} ({c['name']})" for c in classes)
        raise InputError(f"{source} has class value(s) {', '.join(sorted(unknown))} that are not "
                         f"among the model's {len(classes)} classes ({known}); the labels have "
                         "more classes than the model has: merge or relabel them, or train a "
                         "new model without a teacher")
    return index_of


def _read_vector_fiona(fiona, path: Path, class_field: str) -> tuple[list, list, str | None]:
    with fiona.open(path) as collection:
        fields = list(collection.schema["properties"])
        _check_field(class_field, fields, path)
        crs = collection.crs_wkt or None
        features = [(dict(f["geometry"]), f["properties"][class_field]) for f in collection
                    if f["geometry"] is not None]
    return [g for g, _ in features], [v for _, v in features], crs


def _read_vector_ogr(path: Path, class_field: str) -> tuple[list, list, str | None]:
    from osgeo import ogr

    source = ogr.Open(str(path))
    if source is None:
        raise InputError(f"Cannot read vector file {path}; check the path and the format.")
    layer = source.GetLayer(0)
    definition = layer.GetLayerDefn()
    fields = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    _check_field(class_field, fields, path)
    reference = layer.GetSpatialRef()
    geometries, values = [], []
    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is not None:
            geometries.append(json.loads(geometry.ExportToJson()))
            values.append(feature.GetField(class_field))
    return geometries, values, reference.ExportToWkt() if reference is not None else None


def _check_field(class_field: str, fields: list[str], path: Path) -> None:
    if class_field not in fields:
        raise InputError(f"{path.name} has no field '{class_field}'; choose the class field among: "
                         f"{', '.join(fields) or 'none (the layer has no attributes)'}")


def read_vector_labels(path: str | Path, class_field: str) -> tuple[list[dict], list, str | None]:
    """(GeoJSON-like geometries, class field values, CRS as WKT or None) of the first layer.

    Read with fiona when it is installed, otherwise with GDAL's OGR bindings.
    """
    path = Path(path)
    try:
        import fiona
    except ImportError:
        return _read_vector_ogr(path, class_field)
    return _read_vector_fiona(fiona, path, class_field)


def _geometry_bounds(geometries: list[dict]) -> tuple[float, float, float, float]:
    xs, ys = [], []

    def walk(coordinates):
        if coordinates and isinstance(coordinates[0], (int, float)):
            xs.append(coordinates[0])
            ys.append(coordinates[1])
        else:
            for item in coordinates:
                walk(item)

    for geometry in geometries:
        for part in geometry.get("geometries", [geometry]):
            walk(part["coordinates"])
    return min(xs), min(ys), max(xs), max(ys)


def _overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def rasterize_polygons(vector_path: str | Path, raster_path: str | Path, class_field: str,
                       bands: list[int] | None = None, all_touched: bool = False,
                       classes: list[dict] | None = None) -> LabelledScene:
    """Labels from polygons: each polygon's class (from `class_field`) burnt onto the raster's
    grid; pixels no polygon covers are IGNORE_INDEX. Polygons in another CRS are reprojected
    (a layer without a CRS is taken to be in the raster's CRS); features with an empty class
    value are skipped.

    With `classes` given (e.g. a teacher model's), the class order follows that list: whole
    number values match class ids, text values class names; a value no class has is an error.
    """
    vector_path = Path(vector_path)
    geometries, values, vector_crs = read_vector_labels(vector_path, class_field)
    kept = [(g, v) for g, v in zip(geometries, values) if v is not None and str(v).strip() != ""]
    if not kept:
        raise InputError(f"the field '{class_field}' of {vector_path.name} has no values; fill it "
                         "with the class of each polygon or choose another field")
    if classes is None:
        classes, index_of = _classes_from_field_values([v for _, v in kept])
    else:
        index_of = _index_in_classes([v for _, v in kept], classes, vector_path.name)
    with open_raster(raster_path) as dataset:
        shape, transform, crs, bounds = (dataset.height, dataset.width), dataset.transform, \
            dataset.crs, tuple(dataset.bounds)
    if vector_crs and crs and rasterio.crs.CRS.from_wkt(vector_crs) != crs:
        geometries = [transform_geom(vector_crs, crs, g) for g, _ in kept]
    else:
        geometries = [g for g, _ in kept]
    if not _overlaps(_geometry_bounds(geometries), bounds):
        raise InputError(f"the polygons of {vector_path.name} lie outside the raster "
                         f"{Path(raster_path).name}; check that they belong to it and that the "
                         "layer's CRS is set correctly")
    shapes = [(g, index_of[v if v in index_of else str(v)]) for g, (_, v) in zip(geometries, kept)]
    labels = rasterize(shapes, out_shape=shape, transform=transform, fill=IGNORE_INDEX,
                       dtype="uint8", all_touched=all_touched)
    if not (labels != IGNORE_INDEX).any():
        raise InputError(f"no polygon of {vector_path.name} covers a pixel centre of the raster; "
                         "draw larger polygons or rasterize with all touched pixels")
    return LabelledScene(Path(raster_path), labels, classes, bands)


def align_label_raster(label_path: str | Path, raster_path: str | Path,
                       ignore_value: float | None = None, bands: list[int] | None = None,
                       label_band: int = 1) -> LabelledScene:
    """Labels from a class raster, warped with nearest neighbour onto the raster's grid when
    it has another CRS, transform or size, and read in blocks of rows (`label_windows`). Pixels
    equal to `ignore_value` or to the label raster's nodata, and pixels it does not cover, are
    unlabelled.
    """
    label_path, raster_path = Path(label_path), Path(raster_path)
    with open_raster(raster_path) as image:
        grid = TargetGrid((image.height, image.width), image.transform, image.crs)
        bounds = tuple(image.bounds)
    with open_raster(label_path) as source:
        band_list(source, [label_band])
        source_bounds = transform_bounds(source.crs, grid.crs, *source.bounds) \
            if source.crs and grid.crs else tuple(source.bounds)
        if not _overlaps(source_bounds, bounds):
            raise InputError(f"the label raster {label_path.name} lies outside the raster "
                             f"{raster_path.name}; check that they cover the same area")
        labels, values = read_class_indices(source, label_band, grid, [ignore_value, source.nodata])
    if not values:
        raise InputError(f"the label raster {label_path.name} has no labelled pixel over "
                         f"{raster_path.name}; check the ignore value")
    return LabelledScene(raster_path, labels, make_classes([int(v) for v in values]), bands)


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    text = color.lstrip("#")
    if len(text) != 6:
        raise InputError(f"class colour '{color}' is not of the form #rrggbb")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def _mask_values(mask: np.ndarray, classes: list[dict] | None) -> np.ndarray:
    """A mask as one value per pixel: single-band as is; RGB mapped to the id of the class with
    that colour (-1 for colours no class has)."""
    if mask.shape[0] == 1:
        return mask[0].astype(np.int64)
    if mask.shape[0] < 3 or not classes:
        raise InputError("RGB masks need the list of classes with their colours; give the classes "
                         "or use single-band masks")
    codes = (mask[0].astype(np.int64) << 16) | (mask[1].astype(np.int64) << 8) | mask[2]
    values = np.full(codes.shape, -1, dtype=np.int64)
    for item in classes:
        r, g, b = _hex_to_rgb(item["color"])
        values[codes == (r << 16 | g << 8 | b)] = int(item["id"])
    return values


def _mask_array(dataset, classes: list[dict] | None) -> np.ndarray:
    """A mask's pixels; a paletted single-band mask is expanded to RGB through its colour
    table when classes with colours are given (its indices are not class ids)."""
    mask = dataset.read()
    if mask.shape[0] != 1 or not classes:
        return mask
    try:
        table = dataset.colormap(1)
    except ValueError:  # no colour table: the values are the class ids
        return mask
    lookup = np.zeros((256, 3), dtype=np.uint8)
    for index, colour in table.items():
        if 0 <= index < 256:
            lookup[index] = colour[:3]
    return lookup[mask[0]].transpose(2, 0, 1)


def load_image_mask_folders(image_folder: str | Path, mask_folder: str | Path,
                            ignore_value: int | None = None, classes: list[dict] | None = None,
                            bands: list[int] | None = None) -> list[LabelledScene]:
    """Scenes from image chips and their masks, paired by file name without suffix.

    Masks are single-band class values, or RGB coded with `classes`' colours. With `classes`
    given, the class order (and so the model's outputs) follows it and mask values not among
    its ids are unlabelled; otherwise the classes are the distinct mask values.
    """
    image_folder, mask_folder = Path(image_folder), Path(mask_folder)
    images = sorted(p for p in image_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    masks = {p.stem: p for p in mask_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise InputError(f"{image_folder} holds no images (.tif, .png, .jpg ...); choose the "
                         "folder of image chips")
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise InputError(f"no mask in {mask_folder} for {', '.join(missing[:5])}; give every image "
                         "a mask with the same name")
    values = []
    for path in images:
        with open_raster(path) as image, open_raster(masks[path.stem]) as mask:
            if image.shape != mask.shape:
                raise InputError(f"{path.name} is {image.shape[0]}x{image.shape[1]} pixels but its "
                                 f"mask is {mask.shape[0]}x{mask.shape[1]}; masks must match their images")
            values.append(_mask_values(_mask_array(mask, classes), classes))
    labelled = [(v != ignore_value if ignore_value is not None else np.ones(v.shape, bool)) & (v >= 0)
                for v in values]
    if classes is None:
        ids = np.unique(np.concatenate([v[ok] for v, ok in zip(values, labelled)]))
        classes = make_classes([int(i) for i in ids])
    lookup = {int(item["id"]): index for index, item in enumerate(classes)}
    scenes = []
    for path, value, ok in zip(images, values, labelled):
        labels = np.full(value.shape, IGNORE_INDEX, dtype=np.uint8)
        for class_id, index in lookup.items():
            labels[ok & (value == class_id)] = index
        scenes.append(LabelledScene(path, labels, classes, bands))
    if all((s.labels == IGNORE_INDEX).all() for s in scenes):
        raise InputError(f"the masks in {mask_folder} have no labelled pixel; check the ignore "
                         "value and the class colours")
    return scenes
