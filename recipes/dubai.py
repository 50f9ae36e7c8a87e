"""The Dubai aerial land-cover data (`../shared/data/segmentation/dubai`): its six classes and
colours, each tile's chips as labelled scenes, and each tile as the one scene it is.

Classes (model order): Building, Land, Road, Vegetation, Water, Unlabeled, with the dataset's
mask colours; black mask pixels are unlabelled.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from models.data.labels import IGNORE_INDEX, LabelledScene, load_image_mask_folders

#: model class order; names as the dataset's titles give them
CLASS_NAMES = ["Building", "Land", "Road", "Vegetation", "Water", "Unlabeled"]


def dubai_classes(folder: Path) -> list[dict]:
    """The 6 classes with ids 0-5 and the colours of classes.json."""
    titles = {item["title"].split(" (")[0]: item["color"]
              for item in json.loads((folder / "classes.json").read_text())["classes"]}
    return [{"id": i, "name": name, "color": titles[name].lower()} for i, name in enumerate(CLASS_NAMES)]


def tile_scenes(folder: Path, tiles: list[str], classes: list[dict]):
    """Labelled scenes of the chips of `tiles` (mask colours not among the classes: unlabelled)."""
    scenes = []
    for tile in tiles:
        scenes += load_image_mask_folders(folder / tile / "images", folder / tile / "masks",
                                          classes=classes)
    return scenes


GRID = 3
"""Each tile's nine chips are the cells of a 3 x 3 grid, row by row (image_part_001 top left,
009 bottom right): on every tile the edges of neighbouring cells join (mean RGB step across a
seam 3-26, about the step between neighbouring columns inside a chip, 7-20; each chip's right
edge matches the next chip in its row better than any other chip of its tile)."""


def whole_tile(folder: Path, tile: str, classes: list[dict], work: Path) -> LabelledScene:
    """`tile` as the one scene it is: its chips put back in their grid, written as an RGB
    GeoTIFF under `work`, with its labels."""
    chips = tile_scenes(folder, [tile], classes)
    if len(chips) != GRID * GRID:
        raise ValueError(f"{tile} has {len(chips)} chips, not {GRID * GRID}")
    heights = [chips[row * GRID].labels.shape[0] for row in range(GRID)]
    widths = [chips[col].labels.shape[1] for col in range(GRID)]
    tops, lefts = np.cumsum([0, *heights]), np.cumsum([0, *widths])
    image = np.zeros((3, tops[-1], lefts[-1]), dtype=np.uint8)
    labels = np.full((tops[-1], lefts[-1]), IGNORE_INDEX, dtype=np.uint8)
    for index, chip in enumerate(chips):
        row, col = divmod(index, GRID)
        if chip.labels.shape != (heights[row], widths[col]):
            raise ValueError(f"{chip.raster_path.name} does not fit the grid of {tile}")
        cell = np.s_[tops[row]:tops[row + 1], lefts[col]:lefts[col + 1]]
        with rasterio.open(chip.raster_path) as dataset:
            image[(slice(None), *cell)] = dataset.read([1, 2, 3])
        labels[cell] = chip.labels
    path = work / f"{tile.replace(' ', '_').lower()}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2], height=image.shape[1],
                       count=3, dtype="uint8", tiled=True, compress="DEFLATE", crs="EPSG:32640",
                       transform=from_origin(500000, 2800000, 0.5, 0.5)) as out:
        out.write(image)
    return LabelledScene(path, labels, classes)
