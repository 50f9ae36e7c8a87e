"""geodistill:pansharpen end to end in a headless QGIS, and every bad input the issue lists."""
import numpy as np
import pytest
import rasterio
from qgis import processing
from qgis.core import QgsProcessingException

from rasters import pansharpening_scene, write_raster

from geodistill.models.classical.pansharpen import upsample_bicubic
from geodistill.models import nets
from geodistill.models.package import ModelCard, save_package


def rmse(path, truth):
    with rasterio.open(path) as dataset:
        return float(np.sqrt(((dataset.read().astype(float) - truth) ** 2).mean()))


@pytest.fixture
def scene(tmp_path):
    return pansharpening_scene(tmp_path, bands=4, ratio=4, size=128)


@pytest.fixture
def lite_package(tmp_path):
    """An (untrained) 4-band ratio-4 lite student packaged as a user would get it."""
    net = nets.build("pansharpen_lite", {"ms_bands": 4, "ratio": 4})
    card = ModelCard(name="lite_test", task="pansharpening", architecture="pansharpen_lite",
                     config={"ms_bands": 4, "ratio": 4}, ratio=4)
    path = tmp_path / "lite_test.safetensors"
    save_package(path, net.state_dict(), card)
    return path


def run(params):
    return processing.run("geodistill:pansharpen", params)


def base_params(scene, tmp_path, **extra):
    params = {"MS": str(scene.ms_path), "PAN": str(scene.pan_path), "METHOD": 1,
              "TILE_SIZE": 64, "OVERLAP": 16, "DEVICE": "cpu",
              "OUTPUT": str(tmp_path / "sharp.tif")}
    params.update(extra)
    return params


def test_mtf_glp_output_is_on_pan_grid_keeps_dtype_and_beats_bicubic(geodistill_provider, scene, tmp_path):
    result = run(base_params(scene, tmp_path))
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(scene.pan_path) as pan, \
            rasterio.open(scene.ms_path) as ms:
        assert (out.width, out.height) == (pan.width, pan.height)
        assert out.transform == pan.transform and out.crs == pan.crs
        assert out.count == ms.count and out.dtypes == ms.dtypes
        ms_array = ms.read().astype(float)
    bicubic = upsample_bicubic(ms_array, scene.ratio)
    bicubic_rmse = float(np.sqrt(((bicubic - scene.truth) ** 2).mean()))
    assert rmse(result["OUTPUT"], scene.truth) < 0.6 * bicubic_rmse


def test_model_method_runs_package_on_pan_grid(geodistill_provider, scene, tmp_path, lite_package):
    result = run(base_params(scene, tmp_path, METHOD=0, MODEL=str(lite_package), ADAPT_ITERATIONS=0))
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(scene.pan_path) as pan:
        assert out.transform == pan.transform and out.dtypes[0] == "uint16"
        values = out.read()
    assert values.min() > 0 and abs(values.mean() - scene.truth.mean()) < 0.02 * scene.truth.mean()


def test_brovey_through_gdal(geodistill_provider, scene, tmp_path):
    result = run(base_params(scene, tmp_path, METHOD=2))
    # the synthetic PAN is exactly the band mean: Brovey's own assumption, so it is near exact
    assert rmse(result["OUTPUT"], scene.truth) < 0.2 * scene.truth.std()


def expect_error(params, *words):
    with pytest.raises(QgsProcessingException) as raised:
        run(params)
    message = str(raised.value)
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("method", [0, 1, 2])  # the model, MTF-GLP and GDAL's Brovey
def test_output_over_the_pan_is_refused_and_the_pan_kept(geodistill_provider, scene, tmp_path, method):
    before = scene.pan_path.read_bytes()
    expect_error(base_params(scene, tmp_path, METHOD=method, OUTPUT=str(scene.pan_path)),
                 "is the input raster itself")
    assert scene.pan_path.read_bytes() == before


def test_rasters_that_do_not_overlap(geodistill_provider, scene, tmp_path):
    with rasterio.open(scene.ms_path) as ms:
        array = ms.read()
    far = write_raster(tmp_path / "far_ms.tif", array, pixel_size=4.0, origin=(600000.0, 4500000.0))
    expect_error(base_params(scene, tmp_path, MS=str(far)), "does not overlap")


def test_crs_that_differ(geodistill_provider, scene, tmp_path):
    with rasterio.open(scene.ms_path) as ms:
        array = ms.read()
    other = write_raster(tmp_path / "utm34_ms.tif", array, pixel_size=4.0, crs="EPSG:32634")
    expect_error(base_params(scene, tmp_path, MS=str(other)), "CRS", "reproject")


def test_ratio_that_is_not_an_integer(geodistill_provider, scene, tmp_path):
    with rasterio.open(scene.ms_path) as ms:
        array = ms.read()
    odd = write_raster(tmp_path / "odd_ms.tif", array, pixel_size=2.5)
    expect_error(base_params(scene, tmp_path, MS=str(odd)), "integer")


def test_band_count_different_from_the_model(geodistill_provider, scene, tmp_path, lite_package):
    with rasterio.open(scene.ms_path) as ms:
        array = ms.read()
    eight = write_raster(tmp_path / "ms8.tif", np.concatenate([array, array]), pixel_size=4.0)
    expect_error(base_params(scene, tmp_path, MS=str(eight), METHOD=0, MODEL=str(lite_package)),
                 "4-band", "8 bands")


def test_multiband_pan_without_pan_band(geodistill_provider, scene, tmp_path):
    with rasterio.open(scene.pan_path) as pan:
        array = pan.read()
    two = write_raster(tmp_path / "pan2.tif", np.concatenate([array, array]), pixel_size=1.0)
    params = base_params(scene, tmp_path, PAN=str(two))
    params.pop("PAN_BAND", None)
    expect_error(params, "PAN_BAND")
    params["PAN_BAND"] = 2
    result = run(params)
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.count == 4


def test_failed_run_leaves_no_output(geodistill_provider, scene, tmp_path):
    with rasterio.open(scene.ms_path) as ms:
        array = ms.read()
    odd = write_raster(tmp_path / "odd_ms.tif", array, pixel_size=2.5)
    expect_error(base_params(scene, tmp_path, MS=str(odd)), "integer")
    assert sorted(p.name for p in tmp_path.iterdir() if "sharp" in p.name) == []


def test_loaded_result_keeps_the_ms_layers_band_choice(geodistill_provider, scene, tmp_path):
    """Run as the toolbox does (results loaded into the project): the output is shown with
    the same RGB bands as the MS layer, applied by a post-processor after the algorithm
    copy that ran it is gone."""
    from qgis.core import QgsMultiBandColorRenderer, QgsProject, QgsRasterLayer

    ms_layer = QgsRasterLayer(str(scene.ms_path), "ms")
    ms_layer.setRenderer(QgsMultiBandColorRenderer(ms_layer.dataProvider(), 4, 2, 1))
    QgsProject.instance().addMapLayer(ms_layer)
    try:
        result = processing.runAndLoadResults("geodistill:pansharpen", base_params(
            scene, tmp_path, MS=ms_layer.id(), OUTPUT=str(tmp_path / "loaded.tif")))
        loaded = QgsProject.instance().mapLayer(result["OUTPUT"]) or next(
            layer for layer in QgsProject.instance().mapLayers().values()
            if layer.source() == str(tmp_path / "loaded.tif"))
        renderer = loaded.renderer()
        assert isinstance(renderer, QgsMultiBandColorRenderer)
        assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (4, 2, 1)
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_user_model_is_found_by_name(geodistill_provider, scene, tmp_path, lite_package):
    """A package in the user model folder (plugin settings) is given by name, as in the dock."""
    from geodistill.plugin import settings

    folder = tmp_path / "my_models"
    folder.mkdir()
    lite_package.rename(folder / "my_lite.safetensors")
    previous = settings.user_model_folder()
    settings.set_user_model_folder(folder)
    try:
        result = run(base_params(scene, tmp_path, METHOD=0, MODEL="my_lite", ADAPT_ITERATIONS=0))
    finally:
        settings.set_user_model_folder(previous)
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.count == 4 and out.width == 128


def test_brovey_progress_reaches_100(geodistill_provider, scene, tmp_path):
    """The classical methods report progress in the same 0-100 range as the model path."""
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    seen = []
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(seen.append)
    processing.run("geodistill:pansharpen", base_params(scene, tmp_path, METHOD=2),
                   context=QgsProcessingContext(), feedback=feedback)
    assert seen and max(seen) == pytest.approx(100.0)
    assert seen == sorted(seen)
