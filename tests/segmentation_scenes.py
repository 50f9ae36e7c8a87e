"""Synthetic land-cover scenes for the segmentation tool tests: colour-coded classes, their
truth, a label raster and label polygons (in the raster's CRS or in lon/lat)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.features import shapes
from rasterio.transform import from_origin
from rasterio.warp import transform_geom

from rasters import CRS, ORIGIN, smooth_field, write_raster

#: class values (ids) and names; each class has its own colour in the image
CLASS_IDS = [10, 20, 30]
CLASS_NAMES = ["field", "forest", "water"]
COLOURS = np.array([[800, 300, 200], [200, 900, 300], [400, 400, 900]])
#: a net small enough to train in seconds on one thread (multiple_of = 8)
TINY_NET = {"widths": [8, 16], "blocks": [1, 1], "decoder_width": 8, "guidance_width": 8}


@dataclass
class SegmentationScene:
    """A 3-band uint16 image of colour-coded classes and its labels."""

    raster: Path
    truth: np.ndarray
    """(H, W) class ids; 0 where the image is nodata."""
    label_raster: Path
    """uint8 class ids on a third of the pixels, 0 = unlabelled."""
    polygons: Path
    """GeoJSON polygons of every class region, field "landcover" = class name, raster CRS."""
    polygons_lonlat: Path
    """The same polygons in EPSG:4326."""


def write_polygons(path: Path, classes: np.ndarray, values: dict, crs: str = CRS,
                   to_crs: str | None = None, field: str = "landcover") -> Path:
    """GeoJSON of the regions of the (H, W) id array on the 1 m test grid; the property
    `field` is values[id]; ids absent from `values` are skipped."""
    transform = from_origin(*ORIGIN, 1.0, 1.0)
    features = []
    for geometry, value in shapes(classes.astype(np.int32), transform=transform):
        if int(value) in values:
            if to_crs:
                geometry = transform_geom(crs, to_crs, geometry)
            features.append({"type": "Feature", "properties": {field: values[int(value)]},
                             "geometry": geometry})
    collection = {"type": "FeatureCollection", "features": features}
    if to_crs is None:
        collection["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:{crs.replace(':', '::')}"}}
    path.write_text(json.dumps(collection))
    return path


def segmentation_scene(folder: Path, size: int = 96, seed: int = 0,
                       nodata_block: tuple[slice, slice] | None = None) -> SegmentationScene:
    """Three smooth class regions, each in its colour plus noise; `nodata_block` is set to 0
    (the raster's nodata) in every band."""
    rng = np.random.default_rng(seed)
    index = np.digitize(smooth_field((size, size), rng, scale=16), [0.35, 0.65])
    image = COLOURS[index].transpose(2, 0, 1) + rng.normal(0, 60, (3, size, size))
    image = np.clip(image, 1, 2000).astype(np.uint16)
    truth = np.asarray(CLASS_IDS)[index]
    if nodata_block is not None:
        image[(slice(None),) + nodata_block] = 0
        truth[nodata_block] = 0
    raster = write_raster(folder / "scene.tif", image, nodata=0)
    labels = np.where(rng.random((size, size)) < 0.33, truth, 0).astype(np.uint8)
    label_raster = write_raster(folder / "labels.tif", labels)
    names = dict(zip(CLASS_IDS, CLASS_NAMES))
    return SegmentationScene(raster, truth, label_raster,
                             write_polygons(folder / "labels.geojson", truth, names),
                             write_polygons(folder / "labels_lonlat.geojson", truth, names,
                                            to_crs="EPSG:4326"))
