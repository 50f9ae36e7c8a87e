"""Processing only an area of a raster: the window it covers (whole pixels, whole MS pixels for a
PAN), VRTs of that window, and the tools' outputs on exactly that part of the input's grid."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from dehaze_scenes import hazy_scene
from rasters import ORIGIN, pansharpening_scene, write_raster

from geodistill.models.errors import InputError
from geodistill.models.inference.area import Area, View, area_window, view_rasters
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen

X0, Y0 = ORIGIN  # test rasters' top-left corner; 1 m pixels unless said


def area(left_col, top_row, right_col, bottom_row, pixel=1.0):
    """An Area from fractional pixel positions on the test grid."""
    return Area(X0 + left_col * pixel, Y0 - bottom_row * pixel, X0 + right_col * pixel, Y0 - top_row * pixel)


@pytest.fixture
def raster(tmp_path):
    values = np.arange(3 * 30 * 40, dtype=np.uint16).reshape(3, 30, 40)
    path = write_raster(tmp_path / "scene.tif", values, nodata=7)
    with rasterio.open(path, "r+") as dataset:
        dataset.descriptions = ("red", "green", "blue")
    return path


def test_window_is_widened_to_whole_pixels_and_multiples(raster):
    assert area_window(raster, area(5.5, 10.0, 20.2, 22.7)) == Window(5, 10, 16, 13)
    assert area_window(raster, area(5.5, 10.0, 20.2, 22.7), multiple=4) == Window(4, 8, 20, 16)
    assert area_window(raster, area(5 + 1e-9, 10 - 1e-9, 21 - 1e-9, 23)) == Window(5, 10, 16, 13)


def test_window_is_clipped_to_the_raster_and_a_missed_raster_is_refused(raster):
    assert area_window(raster, area(-10, -5, 12, 8)) == Window(0, 0, 12, 8)
    assert area_window(raster, area(30, 20, 90, 90)) == Window(30, 20, 10, 10)
    with pytest.raises(InputError, match="does not overlap scene.tif"):
        area_window(raster, area(50, 0, 60, 10))
    with pytest.raises(InputError, match="empty"):
        area(5, 5, 5, 9)


def test_window_vrt_keeps_pixels_grid_nodata_and_band_names(raster):
    window = Window(4, 8, 20, 16)
    with view_rasters([View(raster, window)]) as (part,):
        with rasterio.open(part) as clipped, rasterio.open(raster) as source:
            assert clipped.transform == source.transform * Affine.translation(4, 8)
            assert clipped.crs == source.crs and clipped.nodata == 7
            assert clipped.descriptions == ("red", "green", "blue")
            np.testing.assert_array_equal(clipped.read(), source.read(window=window))
        assert part.endswith("scene.vrt")
    assert not Path(part).exists()


def test_dehazed_area_lies_on_the_input_grid(tmp_path):
    scene = hazy_scene(tmp_path, "uint16", size=96)
    lines = []
    result = dehaze(DehazeRequest(str(scene.path), str(tmp_path / "part.tif"), model="dark_channel_prior",
                                  device="cpu", tile_size=64, overlap=16, area=area(10.5, 20, 70, 60.5)),
                    Callbacks(log=lines.append))
    with rasterio.open(result.output_path) as out, rasterio.open(scene.path) as source:
        assert out.transform == source.transform * Affine.translation(10, 20)
        assert (out.width, out.height, out.count, out.dtypes[0]) == (60, 41, 3, "uint16")
        assert out.read().std() > 0
    assert any("Area to process: 60 x 41 pixels of hazy.tif" in line for line in lines)


def test_a_dehazed_area_is_scaled_like_the_whole_raster(tmp_path):
    """The area is dehazed with the whole raster's scaling and airlight, so it matches the same
    part of a whole run up to the tile layout (dehazed alone, the part is 36 % off here)."""
    scene = hazy_scene(tmp_path, "uint16", size=192)
    request = DehazeRequest(str(scene.path), str(tmp_path / "whole.tif"), model="dark_channel_prior",
                            device="cpu", tile_size=128, overlap=32)
    whole = dehaze(request)
    part = dehaze(replace(request, output_path=str(tmp_path / "part.tif"), area=area(20, 30, 90, 100)))
    with rasterio.open(whole.output_path) as full, rasterio.open(part.output_path) as clipped:
        expected = full.read(window=Window(20, 30, 70, 70)).astype(np.float64)
        assert clipped.transform == full.window_transform(Window(20, 30, 70, 70))
        assert np.abs(clipped.read() - expected).mean() < 0.03 * expected.mean()


@pytest.mark.parametrize("method", ["mtf_glp", "model"])
def test_a_sharpened_area_equals_the_same_part_of_a_whole_run(tmp_path, method):
    """Scaling, MTF-GLP gains and the model come from the whole scene; away from the area's
    edge (16 px) the area's result is the whole run's, to the rounding of the output."""
    pair = pansharpening_scene(tmp_path, size=256)
    request = PansharpenRequest(str(pair.ms_path), str(pair.pan_path), str(tmp_path / "whole.tif"),
                                method=method, device="cpu", tile_size=128, overlap=32)
    whole = pansharpen(request)
    part = pansharpen(replace(request, output_path=str(tmp_path / "part.tif"), area=area(41, 61, 178, 199)))
    window = Window(40, 60, 140, 140)  # widened to whole MS pixels (4 PAN pixels)
    with rasterio.open(whole.output_path) as full, rasterio.open(part.output_path) as clipped:
        assert clipped.transform == full.window_transform(window) and clipped.shape == (140, 140)
        difference = np.abs(clipped.read().astype(np.int64) - full.read(window=window))
    assert difference[:, 16:-16, 16:-16].max() <= 1


@pytest.mark.parametrize("ms_margin", [0, 2])  # MS grid equal to the PAN's, or 2 MS pixels wider
def test_pansharpened_area_matches_the_same_part_of_a_whole_run(tmp_path, ms_margin):
    """GDAL's Brovey works pixel by pixel from its MS and PAN windows: away from the area's edge
    (the cubic MS resampling reaches 2 MS pixels), the area's result equals the whole run's,
    which lies on the PAN grid even when the MS reaches further."""
    pair = pansharpening_scene(tmp_path, size=128)
    if ms_margin:
        with rasterio.open(pair.ms_path) as ms:
            wide = np.pad(ms.read(), ((0, 0), (ms_margin, ms_margin), (ms_margin, ms_margin)), mode="edge")
        write_raster(pair.ms_path, wide, pixel_size=4.0,
                     origin=(X0 - 4 * ms_margin, Y0 + 4 * ms_margin))
    whole = pansharpen(PansharpenRequest(str(pair.ms_path), str(pair.pan_path),
                                         str(tmp_path / "whole.tif"), method="brovey"))
    part = pansharpen(PansharpenRequest(str(pair.ms_path), str(pair.pan_path), str(tmp_path / "part.tif"),
                                        method="brovey", area=area(21, 13.5, 70, 50)))
    with rasterio.open(whole.output_path) as full, rasterio.open(part.output_path) as clipped, \
            rasterio.open(pair.pan_path) as pan:
        assert (full.transform, full.shape) == (pan.transform, pan.shape)  # not the MS's extent
        assert clipped.transform == full.transform * Affine.translation(20, 12)
        assert (clipped.width, clipped.height) == (52, 40)
        inner = clipped.read()[:, 8:-8, 8:-8]
        np.testing.assert_array_equal(inner, full.read(window=Window(28, 20, 36, 24)))
