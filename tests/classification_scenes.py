"""Synthetic scene classification data for tests: colour-and-texture classes that a tiny net
separates in a few epochs, written as chip folders (PNG and GeoTIFF, with rasterio), as a
georeferenced mosaic of class blocks, and as labelled points."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from rasters import CRS, ORIGIN, write_raster

#: mean RGB and texture strength of each synthetic class (no orientation: flips keep the class)
CLASS_LOOKS = {"forest": ((60, 140, 60), 10), "water": ((40, 70, 170), 4), "urban": ((170, 160, 150), 45)}


def scene_chip(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 (3, size, size) chip of class `name`."""
    colour, texture = CLASS_LOOKS[name]
    chip = np.asarray(colour, dtype=np.float64)[:, None, None] + rng.normal(0, texture, (1, size, size))
    chip = chip + rng.normal(0, 8, (3, size, size))
    return np.clip(chip, 0, 255).astype(np.uint8)


def write_chip(path: Path, chip: np.ndarray) -> Path:
    """Write a chip with rasterio: PNG or GeoTIFF by suffix (no georeferencing)."""
    driver = {".png": "PNG", ".tif": "GTiff"}[path.suffix]
    with rasterio.open(path, "w", driver=driver, width=chip.shape[2], height=chip.shape[1],
                       count=chip.shape[0], dtype="uint8") as dataset:
        dataset.write(chip)
    return path


def write_chip_folder(folder: Path, per_class: int = 12, size: int = 32, seed: int = 0,
                      classes: tuple[str, ...] = tuple(CLASS_LOOKS)) -> Path:
    """One sub-folder per class, chips alternating between PNG and GeoTIFF."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            suffix = ".png" if index % 2 else ".tif"
            write_chip(folder / name / f"{name}_{index}{suffix}", scene_chip(name, size, rng))
    return folder


def write_block_mosaic(path: Path, layout: list[list[str]], block: int = 32, seed: int = 1,
                       pixel_size: float = 1.0) -> Path:
    """A georeferenced RGB raster made of `block`-pixel squares of the classes in `layout`."""
    rng = np.random.default_rng(seed)
    rows = [np.concatenate([scene_chip(name, block, rng) for name in row], axis=2) for row in layout]
    return write_raster(path, np.concatenate(rows, axis=1), pixel_size=pixel_size)


def write_points(path: Path, points: list[tuple[float, float, str]], crs: str = CRS) -> Path:
    """A GeoJSON point layer with a text field `landuse` (coordinates in `crs`)."""
    features = [{"type": "Feature", "properties": {"landuse": label},
                 "geometry": {"type": "Point", "coordinates": [x, y]}} for x, y, label in points]
    epsg = crs.split(":")[1]
    name = "urn:ogc:def:crs:OGC:1.3:CRS84" if epsg == "4326" else f"urn:ogc:def:crs:EPSG::{epsg}"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features,
                                "crs": {"type": "name", "properties": {"name": name}}}))
    return path


def block_centre(row: int, col: int, block: int = 32, pixel_size: float = 1.0) -> tuple[float, float]:
    """Map coordinates of the centre of block (row, col) of a mosaic written at ORIGIN."""
    return (ORIGIN[0] + (col + 0.5) * block * pixel_size, ORIGIN[1] - (row + 0.5) * block * pixel_size)
