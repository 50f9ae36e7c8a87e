"""Class rasters and scene grids carry their legend: read back from fresh files (GDAL for the
rasters, a new QGIS layer for the styles), each class with its name and its own colour."""
import sqlite3

import numpy as np
import pytest
from osgeo import gdal
from qgis import processing
from qgis.core import QgsCategorizedSymbolRenderer, QgsPalettedRasterRenderer, QgsRasterLayer, QgsVectorLayer

from rasters import write_raster

from geodistill.models.package import read_card
from support import ROOT

RESOURCES = ROOT / "resources" / "models"


@pytest.fixture
def rgb(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.integers(20, 230, (3, 64, 64)).astype(np.uint8)
    return write_raster(tmp_path / "rgb.tif", image, pixel_size=0.5)


def gdal_legend(path):
    """(category names, colour table entries, RAT rows) of band 1, read from a fresh open."""
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    rat = band.GetDefaultRAT()  # also loads the .aux.xml (GDAL 3.6 reads it lazily)
    rows = [(rat.GetValueAsInt(r, 0), rat.GetValueAsString(r, 1),
             tuple(rat.GetValueAsInt(r, c) for c in (2, 3, 4))) for r in range(rat.GetRowCount())]
    names = band.GetCategoryNames()
    table = band.GetColorTable()
    colours = {value: table.GetColorEntry(value)[:3] for value, _, _ in rows}
    return names, colours, rows


def card_classes(name):
    return read_card(RESOURCES / f"{name}.safetensors").classes


def test_segmentation_classes_carry_names_colours_and_rat(geodistill_provider, rgb, tmp_path):
    result = processing.run("geodistill:segment", {
        "INPUT": str(rgb), "DEVICE": "cpu", "TILE_SIZE": 64, "OVERLAP": 16,
        "OUTPUT": str(tmp_path / "classes.tif")})
    names, colours, rows = gdal_legend(result["OUTPUT"])
    classes = card_classes("segmentation_landcover_lite")
    assert [r[1] for r in rows] == [c["name"] for c in classes]
    assert [names[c["id"]] for c in classes] == [c["name"] for c in classes]
    assert len(set(colours.values())) == len(classes)
    for value, _, colour in rows:
        assert colours[value] == colour
    layer = QgsRasterLayer(result["OUTPUT"], "fresh")  # loads classes.qml as its default style
    assert isinstance(layer.renderer(), QgsPalettedRasterRenderer)
    assert [c.label for c in layer.renderer().classes()] == [c["name"] for c in classes]


def test_scene_cell_raster_and_grid_have_a_distinct_colour_per_class(geodistill_provider, rgb,
                                                                      tmp_path):
    grid_path = tmp_path / "grid.gpkg"
    result = processing.run("geodistill:classify_scenes", {
        "INPUT": str(rgb), "DEVICE": "cpu", "CHIP_SIZE": 32, "MIN_CONFIDENCE": 0,
        "OUTPUT": str(grid_path), "OUTPUT_RASTER": str(tmp_path / "cells.tif")})
    classes = card_classes("classification_aid_efficientnet_lite0")
    assert len(classes) == 30
    names, colours, rows = gdal_legend(result["OUTPUT_RASTER"])
    assert [r[1] for r in rows] == [c["name"] for c in classes]
    assert len(set(colours.values())) == 30
    assert [names[c["id"]] for c in classes] == [c["name"] for c in classes]

    with sqlite3.connect(grid_path) as database:
        styles = database.execute("SELECT f_table_name, useAsDefault FROM layer_styles").fetchall()
    assert styles == [("grid", 1)]
    grid = QgsVectorLayer(str(grid_path), "reopened", "ogr")
    renderer = grid.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer)
    assert renderer.classAttribute() == "class_id"
    assert [c.label() for c in renderer.categories()] == [c["name"] for c in classes]
    assert len({c.symbol().color().name() for c in renderer.categories()}) == 30
