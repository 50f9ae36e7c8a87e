"""Choosing the bands a model reads (BANDS): e.g. the red, green and blue bands of a
multispectral image for an RGB model, in the model's order."""
import numpy as np
import pytest
import rasterio
from qgis import processing
from qgis.core import QgsProcessingException

from dehaze_scenes import hazy_scene
from rasters import write_raster

from geodistill.models.errors import InputError
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.segment import SegmentRequest, segment


@pytest.fixture
def multispectral(tmp_path):
    """A 5-band uint16 image whose bands 4, 2, 1 are the red, green, blue of a hazy scene;
    and that RGB scene alone as a 3-band file."""
    rgb = hazy_scene(tmp_path, "uint16", size=96).hazy.astype(np.uint16)
    rng = np.random.default_rng(3)
    five = np.stack([rgb[2], rgb[1], rng.integers(200, 900, (96, 96)), rgb[0],
                     rng.integers(200, 900, (96, 96))]).astype(np.uint16)
    path = write_raster(tmp_path / "five.tif", five)
    with rasterio.open(path, "r+") as dataset:
        dataset.descriptions = ("blue", "green", "coastal", "red", "nir")
    return path, write_raster(tmp_path / "rgb.tif", rgb)


def test_dehazing_chosen_bands_equals_dehazing_them_alone(multispectral, tmp_path):
    five, rgb = multispectral
    chosen = dehaze(DehazeRequest(str(five), str(tmp_path / "chosen.tif"), device="cpu", bands=[4, 2, 1]))
    alone = dehaze(DehazeRequest(str(rgb), str(tmp_path / "alone.tif"), device="cpu"))
    with rasterio.open(chosen.output_path) as a, rasterio.open(alone.output_path) as b:
        assert a.descriptions == ("red", "green", "blue")
        np.testing.assert_array_equal(a.read(), b.read())


def test_a_band_that_does_not_exist_is_named(multispectral, tmp_path):
    with pytest.raises(InputError, match="has 5 band"):
        dehaze(DehazeRequest(str(multispectral[0]), str(tmp_path / "x.tif"), device="cpu", bands=[4, 2, 9]))
    assert not (tmp_path / "x.tif").exists()


def test_segmenting_chosen_bands_with_the_bundled_rgb_model(multispectral, tmp_path):
    five, rgb = multispectral
    chosen = segment(SegmentRequest(str(five), str(tmp_path / "chosen.tif"), device="cpu", bands=[4, 2, 1]))
    alone = segment(SegmentRequest(str(rgb), str(tmp_path / "alone.tif"), device="cpu"))
    with rasterio.open(chosen.output_path) as a, rasterio.open(alone.output_path) as b:
        np.testing.assert_array_equal(a.read(), b.read())


@pytest.mark.parametrize("bands", [[4, 2, 1], "4,2,1", "4; 2; 1"])  # a list, or text as typed
def test_bands_parameter_keeps_the_order_given(geodistill_provider, multispectral, tmp_path, bands):
    five, rgb = multispectral
    result = processing.run("geodistill:dehaze", {
        "INPUT": str(five), "BANDS": bands, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "out.tif")})
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.count == 3 and out.descriptions == ("red", "green", "blue")


def test_bands_text_that_is_not_numbers_is_refused(geodistill_provider, multispectral, tmp_path):
    with pytest.raises(QgsProcessingException, match="BANDS: 'red,green' is not a list of band numbers"):
        processing.run("geodistill:dehaze", {"INPUT": str(multispectral[0]), "BANDS": "red,green",
                                              "DEVICE": "cpu", "OUTPUT": str(tmp_path / "out.tif")})
