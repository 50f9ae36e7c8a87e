"""RGBA rasters (orthophotos with an alpha band): the alpha band is the mask, not a fourth band
of data, so 3-band models take them and transparent pixels stay out of the outputs."""
import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from dehaze_scenes import hazy_scene
from rasters import CRS, ORIGIN

from geodistill.models.inference.raster_io import band_names, data_bands
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.segment import NODATA, SegmentRequest, segment

TRANSPARENT = (slice(0, 24), slice(0, 32))


@pytest.fixture
def orthophoto(tmp_path):
    """A hazy RGB scene with an alpha band, transparent in its top-left corner."""
    rgb = hazy_scene(tmp_path, "uint8", size=96).hazy.astype(np.uint8)
    alpha = np.full((1, 96, 96), 255, np.uint8)
    alpha[(0, *TRANSPARENT)] = 0
    path = tmp_path / "ortho.tif"
    with rasterio.open(path, "w", driver="GTiff", width=96, height=96, count=4, dtype="uint8", crs=CRS,
                       transform=from_origin(*ORIGIN, 0.5, 0.5), photometric="RGB", alpha="YES") as dataset:
        dataset.write(np.concatenate([rgb, alpha]))
        dataset.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        dataset.descriptions = ("red", "green", "blue", "alpha")
    return path


def test_alpha_band_is_not_a_data_band(orthophoto):
    with rasterio.open(orthophoto) as dataset:
        assert dataset.count == 4
        assert data_bands(dataset) == [1, 2, 3]
        assert band_names(dataset) == ["red", "green", "blue"]


@pytest.mark.parametrize("model", ["default", "dark_channel_prior"])
def test_dehazing_an_rgba_orthophoto_masks_its_transparent_pixels(orthophoto, tmp_path, model):
    result = dehaze(DehazeRequest(str(orthophoto), str(tmp_path / "dehazed.tif"), model=model,
                                  device="cpu", tile_size=64, overlap=16))
    with rasterio.open(result.output_path) as out:
        assert out.count == 3 and out.descriptions == ("red", "green", "blue")
        mask = out.dataset_mask()
        values = out.read()
    assert np.all(mask[TRANSPARENT] == 0)
    opaque = np.ones(mask.shape, bool)
    opaque[TRANSPARENT] = False
    assert np.all(mask[opaque] == 255)
    assert values[:, opaque].std() > 5


def test_segmenting_an_rgba_orthophoto_with_the_bundled_model(orthophoto, tmp_path):
    result = segment(SegmentRequest(str(orthophoto), str(tmp_path / "classes.tif"), device="cpu"))
    with rasterio.open(result.output_path) as out:
        classes = out.read(1)
    assert np.all(classes[TRANSPARENT] == NODATA)
    opaque = classes[24:, 32:]
    assert np.all(opaque != NODATA)
    assert set(np.unique(opaque)) <= {int(c["id"]) for c in result.classes}
