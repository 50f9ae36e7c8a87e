"""The dock's model-fit warning: band counts and ratio as the tools read them, pixel sizes in
metres in any CRS, an alpha band counted as the mask."""
import math

import numpy as np
import pytest
import rasterio
from qgis.core import QgsRasterLayer

from rasters import write_raster

from geodistill.models.package import ModelCard


def test_layer_fit_checks_use_pixel_size_in_metres():
    from geodistill.plugin.ui.model_fit import LayerFacts, fit_problems

    card = ModelCard(name="seg", task="segmentation", architecture="x", gsd=0.5,
                     config={"bands": 3})
    fine = LayerFacts("INPUT", "ortho", 3, 0.5, True)
    coarse = LayerFacts("INPUT", "ortho", 3, 10.0, True)
    degrees = LayerFacts("INPUT", "ortho", 3, 0.0001, False)
    assert fit_problems(card, [fine]) == [] and fit_problems(card, [degrees]) == []
    assert fit_problems(card, [coarse]) == [
        "'seg' was trained on 0.5 m pixels; 'ortho' has 10 m pixels, so results may be poor "
        "(resample the layer or pick a model made for this resolution)."]
    assert "expects 3 band(s)" in fit_problems(card, [LayerFacts("INPUT", "ortho", 4, 0.5, True)])[0]
    assert np.isclose(len(fit_problems(card, [])), 0)
    sharpener = ModelCard(name="ms4", task="pansharpening", architecture="x",
                          config={"ms_bands": 4, "ratio": 4})
    pair = [LayerFacts("MS", "ms", 8, 2.0, True), LayerFacts("PAN", "pan", 1, 0.5, True)]
    assert fit_problems(sharpener, pair) == [
        "'ms4' expects 4 band(s) for MS; 'ms' has 8. Choose another model or layer."]
    wrong_ratio = [LayerFacts("MS", "ms", 4, 1.5, True), LayerFacts("PAN", "pan", 1, 0.5, True)]
    assert fit_problems(sharpener, wrong_ratio) == [
        "'ms4' sharpens by a ratio of 4; the pixel sizes of 'ms' and 'pan' differ by 3.00."]


@pytest.mark.parametrize("crs, size, origin, expected", [
    # degrees at 60 N: the WGS 84 parallel's radius a cos(phi) / sqrt(1 - e^2 sin^2 phi) times the angle
    ("EPSG:4326", 0.0001, (10.0, 60.0005),
     6378137.0 * math.cos(math.radians(60)) / math.sqrt(1 - 0.00669437999014 * math.sin(math.radians(60)) ** 2)
     * math.radians(0.0001)),
    # US survey feet (QGIS converts them as international feet: 2 parts per million off)
    ("EPSG:2263", 10.0, (1_000_000.0, 200_000.0), 10.0 * 1200 / 3937),
    ("EPSG:32633", 0.5, (500_000.0, 4_500_000.0), 0.5),
])
def test_pixel_size_for_the_fit_checks_is_in_metres_in_any_crs(tmp_path, crs, size, origin, expected):
    from geodistill.plugin.ui.layer_facts import pixel_facts

    path = write_raster(tmp_path / "layer.tif", np.zeros((3, 10, 10), np.uint8), pixel_size=size,
                        crs=crs, origin=origin)
    facts = pixel_facts("INPUT", QgsRasterLayer(str(path), "layer"))
    assert facts.metres and facts.band_count == 3
    assert facts.pixel_size == pytest.approx(expected, rel=1e-5)


def test_fit_checks_count_an_alpha_band_as_the_mask(tmp_path):
    from rasterio.enums import ColorInterp

    from geodistill.plugin.ui.layer_facts import pixel_facts

    path = write_raster(tmp_path / "rgba.tif", np.zeros((4, 10, 10), np.uint8))
    with rasterio.open(path, "r+") as dataset:
        dataset.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    assert pixel_facts("INPUT", QgsRasterLayer(str(path), "ortho")).band_count == 3
    plain = write_raster(tmp_path / "rgbn.tif", np.zeros((4, 10, 10), np.uint8))
    assert pixel_facts("INPUT", QgsRasterLayer(str(plain), "rgbn")).band_count == 4
