"""Plain images without georeference (a PNG or JPG without world file): QGIS draws them in pixel
coordinates with y going down (x 0..W, y -H..0); every output must overlay its input exactly as
QGIS shows both."""
import numpy as np
import pytest
from PIL import Image
from qgis import processing
from qgis.core import QgsRasterLayer, QgsRectangle, QgsVectorLayer

from dehaze_scenes import hazy_scene

WIDTH, HEIGHT = 96, 64


@pytest.fixture
def plain_image(tmp_path):
    """A hazy RGB picture saved as PNG: no CRS, no geotransform, no world file."""
    rgb = hazy_scene(tmp_path, "uint8", size=96).hazy.astype(np.uint8)[:, :HEIGHT, :WIDTH]
    path = tmp_path / "photo.png"
    Image.fromarray(np.moveaxis(rgb, 0, -1)).save(path)
    return path


def extent(path, provider=None) -> QgsRectangle:
    layer = QgsVectorLayer(str(path), "v", provider) if provider else QgsRasterLayer(str(path), "r")
    assert layer.isValid(), path
    return layer.extent()


def test_qgis_draws_a_plain_image_in_pixels_y_down(qgis_app, plain_image):
    assert extent(plain_image) == QgsRectangle(0, -HEIGHT, WIDTH, 0)


def test_dehazed_plain_image_overlays_its_input(geodistill_provider, plain_image, tmp_path):
    result = processing.run("geodistill:dehaze", {
        "INPUT": str(plain_image), "MODEL": "dark_channel_prior", "DEVICE": "cpu",
        "TILE_SIZE": 64, "OVERLAP": 16, "OUTPUT": str(tmp_path / "clear.tif")})
    assert extent(result["OUTPUT"]) == extent(plain_image)


def test_area_of_a_plain_image_is_taken_where_qgis_draws_it(geodistill_provider, plain_image,
                                                             tmp_path):
    result = processing.run("geodistill:dehaze", {
        "INPUT": str(plain_image), "MODEL": "dark_channel_prior", "DEVICE": "cpu",
        "TILE_SIZE": 64, "OVERLAP": 16, "EXTENT": "10,40,-50,-20",
        "OUTPUT": str(tmp_path / "part.tif")})
    assert extent(result["OUTPUT"]) == QgsRectangle(10, -50, 40, -20)


def test_segmented_plain_image_and_probabilities_overlay_it(geodistill_provider, plain_image,
                                                             tmp_path):
    result = processing.run("geodistill:segment", {
        "INPUT": str(plain_image), "DEVICE": "cpu", "TILE_SIZE": 64, "OVERLAP": 16,
        "OUTPUT": str(tmp_path / "classes.tif"),
        "OUTPUT_PROBABILITIES": str(tmp_path / "probabilities.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "classes.gpkg")})
    assert extent(result["OUTPUT"]) == extent(plain_image)
    assert extent(result["OUTPUT_PROBABILITIES"]) == extent(plain_image)
    assert extent(result["OUTPUT_POLYGONS"], "ogr") == extent(plain_image)


def test_scene_grid_and_cell_raster_of_a_plain_image_overlay_it(geodistill_provider, plain_image,
                                                                 tmp_path):
    result = processing.run("geodistill:classify_scenes", {
        "INPUT": str(plain_image), "DEVICE": "cpu", "CHIP_SIZE": 32,
        "OUTPUT": str(tmp_path / "grid.gpkg"), "OUTPUT_RASTER": str(tmp_path / "cells.tif")})
    assert extent(result["OUTPUT_RASTER"]) == extent(plain_image)
    assert extent(result["OUTPUT"], "ogr") == extent(plain_image)


def test_scene_grid_of_an_area_of_a_plain_image_lies_under_that_area(geodistill_provider,
                                                                      plain_image, tmp_path):
    result = processing.run("geodistill:classify_scenes", {
        "INPUT": str(plain_image), "DEVICE": "cpu", "CHIP_SIZE": 32, "EXTENT": "32,96,-64,-32",
        "OUTPUT": str(tmp_path / "grid.gpkg"), "OUTPUT_RASTER": str(tmp_path / "cells.tif")})
    assert extent(result["OUTPUT_RASTER"]) == QgsRectangle(32, -64, 96, -32)
    assert extent(result["OUTPUT"], "ogr") == QgsRectangle(32, -64, 96, -32)


@pytest.mark.parametrize("method", [1, 2])  # mtf_glp, brovey
def test_pansharpened_plain_images_overlay_the_pan(geodistill_provider, tmp_path, method):
    """A PAN picture and an MS picture of the same scene, 4 times smaller: the result lies on
    the PAN as QGIS draws it."""
    rng = np.random.default_rng(4)
    pan = (60 + 120 * rng.random((128, 128))).astype(np.uint8)
    ms = np.stack([pan.reshape(32, 4, 32, 4).mean(axis=(1, 3))] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(pan).save(tmp_path / "pan.png")
    Image.fromarray(ms).save(tmp_path / "ms.png")
    result = processing.run("geodistill:pansharpen", {
        "MS": str(tmp_path / "ms.png"), "PAN": str(tmp_path / "pan.png"), "METHOD": method,
        "DEVICE": "cpu", "TILE_SIZE": 64, "OVERLAP": 16, "OUTPUT": str(tmp_path / "sharp.tif")})
    assert extent(result["OUTPUT"]) == extent(tmp_path / "pan.png") == QgsRectangle(0, -128, 128, 0)
