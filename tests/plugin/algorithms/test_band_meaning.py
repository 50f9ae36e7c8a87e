"""Band meaning: GDAL tags the 4th band of a default 4-band byte GeoTIFF as alpha. Such a band is
a mask only when it holds 0 and 255 alone; otherwise it is data (and the log says so), and the
outputs never tag a data band as alpha."""
import numpy as np
import pytest
import rasterio
from qgis import processing
from qgis.core import QgsProcessingFeedback
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from rasters import CRS, ORIGIN, pansharpening_scene

from geodistill.models.inference.raster_io import data_bands, has_mask, input_notes


class LogFeedback(QgsProcessingFeedback):
    """Feedback that keeps every log line."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, info):  # noqa: N802 (QGIS API)
        self.lines.append(info)
        super().pushInfo(info)


def write_default_rgba(path, array, pixel_size):
    """A 4-band byte GeoTIFF written with GDAL's defaults: bands tagged red, green, blue, alpha."""
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=4, dtype="uint8", crs=CRS,
                       transform=from_origin(*ORIGIN, pixel_size, pixel_size)) as dataset:
        dataset.write(array)
    with rasterio.open(path) as dataset:
        assert dataset.colorinterp[3] == ColorInterp.alpha  # what GDAL made of it
    return path


@pytest.fixture
def rgba_tagged_pair(tmp_path):
    """A 4-band multispectral MS (the 4th band NIR-like data) written with GDAL's default tags,
    and its byte PAN at ratio 4."""
    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=128, dtype="uint16")
    with rasterio.open(scene.ms_path) as ms, rasterio.open(scene.pan_path) as pan:
        ms_bytes = (ms.read() // 8).astype(np.uint8)
        pan_bytes = (pan.read() // 8).astype(np.uint8)
    ms_path = write_default_rgba(tmp_path / "ms_rgba.tif", ms_bytes, 4.0)
    pan_path = tmp_path / "pan8.tif"
    with rasterio.open(pan_path, "w", driver="GTiff", width=128, height=128, count=1,
                       dtype="uint8", crs=CRS, transform=from_origin(*ORIGIN, 1.0, 1.0)) as dataset:
        dataset.write(pan_bytes)
    return ms_path, pan_path, ms_bytes


def test_alpha_holding_data_values_is_a_data_band(rgba_tagged_pair):
    ms_path, _, _ = rgba_tagged_pair
    with rasterio.open(ms_path) as dataset:
        assert data_bands(dataset) == [1, 2, 3, 4]
        assert not has_mask(dataset)
    assert any("used as data bands" in note for note in input_notes(ms_path))


def test_alpha_of_0_and_255_only_is_the_mask(tmp_path):
    array = np.full((4, 40, 40), 120, np.uint8)
    array[3] = 255
    array[3, :10] = 0
    path = write_default_rgba(tmp_path / "ortho.tif", array, 1.0)
    with rasterio.open(path) as dataset:
        assert data_bands(dataset) == [1, 2, 3]
        assert has_mask(dataset)
        assert np.all(dataset.read_masks(1)[:10] == 0)
    assert input_notes(path) == []


@pytest.mark.parametrize("method", [0, 1])  # model, mtf_glp
def test_rgba_tagged_multispectral_gives_four_output_bands(geodistill_provider, rgba_tagged_pair,
                                                           tmp_path, method):
    ms_path, pan_path, ms_bytes = rgba_tagged_pair
    feedback = LogFeedback()
    result = processing.run("geodistill:pansharpen", {
        "MS": str(ms_path), "PAN": str(pan_path), "METHOD": method, "TILE_SIZE": 64,
        "OVERLAP": 16, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "sharp.tif")}, feedback=feedback)
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.count == 4
        assert ColorInterp.alpha not in out.colorinterp
        sharp = out.read().astype(float)
    # the 4th output band follows the MS's 4th band (block means match it), not a mask
    block_means = sharp[3].reshape(32, 4, 32, 4).mean(axis=(1, 3))
    assert np.corrcoef(block_means.ravel(), ms_bytes[3].ravel().astype(float))[0, 1] > 0.9
    assert any("used as data bands" in line for line in feedback.lines)


def test_bands_parameter_chooses_and_orders_the_ms_bands(geodistill_provider, rgba_tagged_pair,
                                                         tmp_path):
    ms_path, pan_path, ms_bytes = rgba_tagged_pair
    result = processing.run("geodistill:pansharpen", {
        "MS": str(ms_path), "PAN": str(pan_path), "METHOD": 1, "BANDS": "4,1",
        "TILE_SIZE": 64, "OVERLAP": 16, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "two.tif")})
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.count == 2
        sharp = out.read().astype(float)
    for index, band in enumerate((3, 0)):
        block_means = sharp[index].reshape(32, 4, 32, 4).mean(axis=(1, 3))
        assert np.corrcoef(block_means.ravel(), ms_bytes[band].ravel().astype(float))[0, 1] > 0.9


def test_outputs_carry_band_names_and_the_input_colours_without_alpha(geodistill_provider,
                                                                       rgba_tagged_pair, tmp_path):
    ms_path, pan_path, ms_bytes = rgba_tagged_pair
    tagged = tmp_path / "ms_bgrn.tif"
    with rasterio.open(ms_path) as source:
        profile = dict(source.profile, photometric="MINISBLACK")
        with rasterio.open(tagged, "w", **profile) as dataset:
            dataset.write(source.read())
            dataset.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red,
                                   ColorInterp.undefined]
    result = processing.run("geodistill:pansharpen", {
        "MS": str(tagged), "PAN": str(pan_path), "METHOD": 1, "TILE_SIZE": 64, "OVERLAP": 16,
        "DEVICE": "cpu", "OUTPUT": str(tmp_path / "sharp.tif")})
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.descriptions == ("Blue", "Green", "Red", "Band 4")
        assert out.colorinterp == (ColorInterp.blue, ColorInterp.green, ColorInterp.red,
                                   ColorInterp.undefined)


def test_panel_counts_bands_as_the_tools_read_them(qgis_app, rgba_tagged_pair, tmp_path):
    from qgis.core import QgsRasterLayer

    from geodistill.plugin.ui.layer_facts import data_band_count

    array = np.full((4, 40, 40), 120, np.uint8)
    array[3] = 255
    array[3, :10] = 0
    orthophoto = QgsRasterLayer(str(write_default_rgba(tmp_path / "ortho.tif", array, 1.0)), "ortho")
    multispectral = QgsRasterLayer(str(rgba_tagged_pair[0]), "ms")
    assert data_band_count(orthophoto) == 3
    assert data_band_count(multispectral) == 4
