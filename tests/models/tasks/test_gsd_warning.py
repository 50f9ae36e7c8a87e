"""A scene whose pixels are far larger or smaller than those a model was trained on is named in
the run's log (the Processing log and the CLI, not only the panel), and a close one is not."""
import numpy as np
import pytest

from rasters import smooth_field, write_raster

from geodistill.models.package import ModelCard, read_card
from geodistill.models.registry import BUNDLED_FOLDER
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.model_fit import gsd_warning
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen
from geodistill.models.tasks.segment import SegmentRequest, segment

SEGMENTATION_GSD = read_card(BUNDLED_FOLDER / "segmentation_landcover_lite.safetensors").gsd
DEHAZING_GSD = read_card(BUNDLED_FOLDER / "dehazing_lite_rgb.safetensors").gsd
PANSHARPENING_GSD = read_card(BUNDLED_FOLDER / "pansharpening_lite_4band_x4.safetensors").gsd


def card(gsd):
    return ModelCard(name="m", task="segmentation", architecture="a", config={}, gsd=gsd)


def test_the_warning_names_both_pixel_sizes_beyond_twice_either_way():
    assert gsd_warning(card(1.0), 2.0, "ortho") is None
    assert gsd_warning(card(1.0), 0.5, "ortho") is None
    assert gsd_warning(card(1.0), 2.2, "ortho") == (
        "'m' was trained on 1 m pixels; 'ortho' has 2.2 m pixels, so results may be poor "
        "(resample the layer or pick a model made for this resolution).")
    assert "0.3 m pixels" in gsd_warning(card(1.0), 0.3, "ortho")


def test_no_warning_without_a_size_on_either_side():
    assert gsd_warning(card(None), 30.0, "x") is None
    assert gsd_warning(card(1.0), None, "x") is None


def rgb(path, pixel_size):
    array = (smooth_field((3, 96, 96), np.random.default_rng(0), scale=8) * 900 + 50).astype(np.uint16)
    return str(write_raster(path, array, pixel_size=pixel_size))


def logged(run) -> list[str]:
    lines = []
    run(Callbacks(log=lines.append))
    return [line for line in lines if "was trained on" in line]


def segment_run(image, folder, callbacks):
    segment(SegmentRequest(image, str(folder / "classes.tif"), device="cpu", tile_size=64,
                           overlap=16), callbacks)


def dehaze_run(image, folder, callbacks):
    dehaze(DehazeRequest(image, str(folder / "clear.tif"), device="cpu", tile_size=64,
                         overlap=16), callbacks)


@pytest.mark.parametrize("run, gsd, factor, warned", [
    (segment_run, SEGMENTATION_GSD, 30.0, True), (segment_run, SEGMENTATION_GSD, 1.0, False),
    (dehaze_run, DEHAZING_GSD, 0.1, True), (dehaze_run, DEHAZING_GSD, 1.0, False)])
def test_a_run_logs_a_pixel_size_far_from_the_models(tmp_path, run, gsd, factor, warned):
    image = rgb(tmp_path / "scene.tif", gsd * factor)
    lines = logged(lambda callbacks: run(image, tmp_path, callbacks))
    assert len(lines) == int(warned)
    if warned:
        assert f"has {gsd * factor:.3g} m pixels" in lines[0] and "scene.tif" in lines[0]


def test_a_pansharpen_run_compares_the_pan_pixels_with_the_models(tmp_path):
    rng = np.random.default_rng(1)
    pan_size = PANSHARPENING_GSD * 30
    pan = write_raster(tmp_path / "pan.tif", (smooth_field((1, 128, 128), rng, 8) * 900 + 50).astype(np.uint16),
                       pixel_size=pan_size)
    ms = write_raster(tmp_path / "ms.tif", (smooth_field((4, 32, 32), rng, 4) * 900 + 50).astype(np.uint16),
                      pixel_size=pan_size * 4)
    lines = logged(lambda callbacks: pansharpen(PansharpenRequest(
        str(ms), str(pan), str(tmp_path / "out.tif"), method="model", device="cpu"), callbacks))
    assert len(lines) == 1 and "'pan.tif' has 15 m pixels" in lines[0]
