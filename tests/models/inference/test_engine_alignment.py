"""Alignment checks between a reference raster and a lower-resolution input."""
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from geodistill.models.errors import InputError
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen
from geodistill.models.inference.alignment import check_alignment, input_grid
from rasters import pansharpening_scene
from test_engine import TRANSFORM, write_raster


@pytest.fixture
def pan(tmp_path):
    return write_raster(tmp_path / "pan.tif", np.ones((1, 64, 64), np.uint16))


def ms_at(tmp_path, pixel, x_shift=0.0, crs=CRS.from_epsg(32633), name="ms.tif"):
    transform = Affine(pixel, 0, TRANSFORM.c + x_shift, 0, -pixel, TRANSFORM.f)
    return write_raster(tmp_path / name, np.ones((2, 16, 16), np.uint16), transform=transform, crs=crs)


def test_ratio_and_offset_come_from_the_geotransforms(tmp_path, pan):
    assert check_alignment(pan, ms_at(tmp_path, 2.0)) == 4
    grid = input_grid(pan, ms_at(tmp_path, 2.0, x_shift=-4.0, name="shifted.tif"))
    assert (grid.ratio, grid.row_offset, grid.col_offset) == (4, 0, 2)
    assert grid.window(8, 16, 32, 32) == (2, 6, 8, 8)


def test_shift_off_whole_input_pixels_is_measured_in_reference_pixels(tmp_path, pan):
    """An MS origin 2.375 MS pixels off the PAN's reads from MS column 2 and says it is 1.5 PAN
    pixels off; whole MS pixels leave no shift."""
    assert input_grid(pan, ms_at(tmp_path, 2.0, x_shift=-4.0, name="whole.tif")).shift == (0.0, 0.0)
    grid = input_grid(pan, ms_at(tmp_path, 2.0, x_shift=-4.75, name="part.tif"))
    assert (grid.col_offset, grid.row_offset) == (2, 0)
    assert grid.shift == pytest.approx((0.0, 1.5))


def test_pansharpening_warns_when_the_ms_grid_is_off_the_pan_grid(tmp_path):
    pair = pansharpening_scene(tmp_path, size=64)
    with rasterio.open(pair.ms_path) as ms:
        array, transform = ms.read(), ms.transform
    logs = {}
    for name, x_shift in (("aligned", 0.0), ("shifted", 1.5 * transform.a / 4)):
        ms_path = write_raster(tmp_path / f"{name}_ms.tif", array,
                               transform=Affine.translation(x_shift, 0) * transform)
        lines: list[str] = []
        pansharpen(PansharpenRequest(str(ms_path), str(pair.pan_path), str(tmp_path / f"{name}.tif"),
                                     method="mtf_glp", device="cpu"), Callbacks(log=lines.append))
        logs[name] = [line for line in lines if line.startswith("Warning")]
    assert logs["aligned"] == []
    assert len(logs["shifted"]) == 1 and "+0.00 rows and -1.50 columns" in logs["shifted"][0]


def test_ratio_within_one_percent_is_accepted(tmp_path, pan):
    assert check_alignment(pan, ms_at(tmp_path, 2.01)) == 4


def test_non_integer_ratio_is_refused_with_advice(tmp_path, pan):
    with pytest.raises(InputError, match=r"not an integer multiple .*ratio 2\.500"):
        check_alignment(pan, ms_at(tmp_path, 1.25))


def test_other_crs_is_refused(tmp_path, pan):
    with pytest.raises(InputError, match="is not in the CRS of pan.tif.*reproject"):
        check_alignment(pan, ms_at(tmp_path, 2.0, crs=CRS.from_epsg(32634)))


def test_rasters_that_do_not_overlap_are_refused(tmp_path, pan):
    with pytest.raises(InputError, match="does not overlap pan.tif"):
        check_alignment(pan, ms_at(tmp_path, 2.0, x_shift=10_000.0))
