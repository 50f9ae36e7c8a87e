"""Black no-data fill: the pansharpening evaluation scores only pixels with data, and MTF-GLP
regresses its gains on them."""
import json

import numpy as np
import pytest
import rasterio

from rasters import PansharpeningScene, pansharpening_scene, write_raster

from geodistill.models.tasks.pansharpen import (PansharpenRequest, inspect_pair, pair_scaling,
                                               pansharpen, read_scene_crop)
from geodistill.models.tasks.pansharpen_evaluation import (PansharpenEvaluationRequest,
                                                           evaluate_pansharpening)


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read()


def test_valid_pixels_are_neither_nodata_nor_black_in_every_band(tmp_path):
    scene = pansharpening_scene(tmp_path, size=64)
    ms = read(scene.ms_path).astype(np.float64)
    ms[:, :2, :] = 0  # black fill
    ms[:, 2, :] = 3.5e-310  # black too: float64 fill that is 0 in float32
    ms[0, 5, 5] = 0  # one band at 0: still data
    ms[:, 8, 2:6] = 7  # the nodata value in every band
    ms[1, 9, 9] = 7  # in one band only: data
    write_raster(scene.ms_path, ms, pixel_size=4.0, nodata=7)
    info = inspect_pair(str(scene.ms_path), str(scene.pan_path), 1)
    request = PansharpenRequest(str(scene.ms_path), str(scene.pan_path), "")
    _, _, valid = read_scene_crop(request, info, *pair_scaling(str(scene.ms_path)))
    expected = np.ones((16, 16), dtype=bool)
    expected[:3] = False
    expected[8, 2:6] = False
    np.testing.assert_array_equal(valid, expected)


def half_filled(folder, seed):
    """A 512^2-pixel PAN scene whose right half is black fill, and its left half alone."""
    scene = pansharpening_scene(folder, size=512, seed=seed)
    ms, pan = read(scene.ms_path), read(scene.pan_path)
    left = folder / "left"
    left.mkdir()
    alone = PansharpeningScene(write_raster(left / "ms.tif", ms[:, :, :64], pixel_size=4.0),
                               write_raster(left / "pan.tif", pan[:, :, :256]), None, 4)
    ms[:, :, 64:], pan[:, :, 256:] = 0, 0
    write_raster(scene.ms_path, ms, pixel_size=4.0)
    write_raster(scene.pan_path, pan)
    return scene, alone


def evaluate(scene, folder):
    return evaluate_pansharpening(PansharpenEvaluationRequest(
        str(scene.ms_path), str(scene.pan_path), str(folder / "report.html"), models=[]))


def test_black_fill_is_not_scored(tmp_path):
    """A scene whose right half is black fill scores about as its left half alone. Scored on
    every pixel, ERGAS was 1.6-1.8 times that of the half alone (band means halve) and MTF-GLP's
    Q2n and QNR 0.73 and 0.48 (0.97 and 1.00 alone); without the margin along the fill, ERGAS
    was 1.06-1.16 times."""
    whole, left = half_filled(tmp_path, seed=3)
    filled = evaluate(whole, tmp_path)
    alone = evaluate(left, left.ms_path.parent)
    assert filled["scored_fraction"] == 0.5 and alone["scored_fraction"] == 1.0
    for method in ("bicubic", "brovey (GDAL)", "mtf_glp"):
        scores, reference = filled["methods"][method], alone["methods"][method]
        assert scores["reduced"]["ergas"] == pytest.approx(reference["reduced"]["ergas"], rel=0.05)
        if method != "bicubic":  # bicubic's Q2n is low and noisy (0.49 alone)
            assert scores["reduced"]["q2n"] == pytest.approx(reference["reduced"]["q2n"], abs=0.02)
        assert scores["full"]["qnr"] == pytest.approx(reference["full"]["qnr"], abs=0.02)
    assert "50.0 % of them with data" in open(tmp_path / "report.html").read()
    assert json.loads(open(tmp_path / "report.json").read())["scored_fraction"] == 0.5


def test_mtf_glp_tool_sharpens_the_data_next_to_black_fill_as_the_data_alone(tmp_path):
    """The MTF-GLP method's global gains ignore the fill: away from it the output equals that of
    the data half alone (mean difference 3e-5 of the mean; 1e-2 with the fill in the gains)."""
    scene, left = half_filled(tmp_path, seed=4)

    def sharpen(pair, name):
        out = tmp_path / name
        pansharpen(PansharpenRequest(str(pair.ms_path), str(pair.pan_path), str(out),
                                     method="mtf_glp", device="cpu"))
        return read(out).astype(np.float64)

    alone = sharpen(left, "alone.tif")
    filled = sharpen(scene, "filled.tif")
    assert filled.shape == (4, 512, 512)
    away = (slice(None), slice(None), slice(0, 224))  # 32 PAN pixels from the fill
    assert np.abs(filled[away] - alone[away]).mean() < 1e-3 * alone.mean()
