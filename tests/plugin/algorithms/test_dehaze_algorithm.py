"""geodistill:dehaze end to end in a headless QGIS, and every bad input the issue lists."""
import gzip
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds
import torch
from qgis import processing
from qgis.core import QgsApplication, QgsProcessingException, QgsProject, QgsRasterLayer

from dehaze_scenes import hazy_scene
from packages import untrained_dehaze_lite
from rasters import write_raster

from geodistill.models.classical.dehaze import dark_channel


@pytest.fixture(scope="module")
def lite_package(tmp_path_factory):
    """An (untrained) 3-band lite student packaged as a user would get it."""
    return untrained_dehaze_lite(tmp_path_factory.mktemp("models") / "lite_rgb_test.safetensors",
                                 "lite_rgb_test")


def run(input_path, output, **extra):
    params = {"INPUT": input_path if isinstance(input_path, QgsRasterLayer) else str(input_path), "MODEL": "dark_channel_prior", "DEVICE": "cpu",
              "TILE_SIZE": 96, "OVERLAP": 16, "OUTPUT": str(output)}
    params.update(extra)
    return processing.run("geodistill:dehaze", params)


def rmse(a, b):
    return float(np.sqrt(((a - b) ** 2).mean()))


def mean_dark_channel(array):
    return float(dark_channel(torch.from_numpy(array[None].astype(np.float64)), 7).mean())


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_dark_channel_prior_keeps_grid_and_dtype_and_removes_haze(geodistill_provider, tmp_path, dtype):
    scene = hazy_scene(tmp_path, dtype)
    result = run(scene.path, tmp_path / "dehazed.tif")
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(scene.path) as source:
        assert (out.width, out.height, out.count) == (source.width, source.height, source.count)
        assert out.transform == source.transform and out.crs == source.crs
        assert out.dtypes == source.dtypes == (dtype,) * 3
        dehazed = out.read().astype(np.float64)
    offset = 200.0 if dtype == "uint16" else 0.0
    assert rmse(dehazed, scene.clear) < 0.7 * rmse(scene.hazy, scene.clear)
    assert mean_dark_channel(dehazed - offset) < 0.5 * mean_dark_channel(scene.hazy - offset)


def test_model_package_keeps_grid_dtype_and_nodata(geodistill_provider, tmp_path, lite_package):
    scene = hazy_scene(tmp_path, "uint16", size=128)
    hazy = scene.hazy.astype(np.uint16)
    hazy[:, :, :20] = 0
    path = write_raster(tmp_path / "hazy_nodata.tif", hazy, nodata=0)
    result = run(path, tmp_path / "dehazed.tif", MODEL=str(lite_package), TILE_SIZE=64)
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.dtypes == ("uint16",) * 3 and out.nodata == 0
        assert out.transform == rasterio.open(path).transform
        values = out.read()
    assert np.all(values[:, :, :20] == 0)
    assert np.all(np.any(values[:, :, 20:] != 0, axis=0))


def test_area_given_in_another_crs_is_dehazed_on_the_input_grid(geodistill_provider, tmp_path):
    """EXTENT in degrees: the part of the UTM raster under it comes out, on the raster's grid."""
    scene = hazy_scene(tmp_path, "uint8", size=96)
    with rasterio.open(scene.path) as source:
        transform, crs = source.transform, source.crs
    left, top = transform * (10, 20)
    right, bottom = transform * (60, 70)
    west, south, east, north = transform_bounds(crs, "EPSG:4326", left, bottom, right, top)
    result = run(scene.path, tmp_path / "part.tif", EXTENT=f"{west},{east},{south},{north} [EPSG:4326]")
    with rasterio.open(result["OUTPUT"]) as out:
        col, row = ~transform * (out.bounds.left, out.bounds.top)
        assert out.crs == crs and out.transform.a == transform.a
        assert col == round(col) and row == round(row)  # on the input's pixel grid
        assert 9 <= col <= 10 and 19 <= row <= 20
        assert 50 <= out.width <= 52 and 50 <= out.height <= 52


def test_a_raster_inside_a_zip_archive_is_read_from_the_archive(geodistill_provider, tmp_path):
    """QGIS opens rasters inside archives as /vsizip/ layers: the tool reads the raster, not the
    archive, and gives the same result as for the unzipped file."""
    scene = hazy_scene(tmp_path, "uint8", size=64)
    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(scene.path, "inner/scene.tif")
    layer = QgsRasterLayer(f"/vsizip/{archive}/inner/scene.tif", "scene in a zip")
    assert layer.isValid()
    zipped_result = run(layer, tmp_path / "from_zip.tif")
    plain_result = run(scene.path, tmp_path / "plain.tif")
    with rasterio.open(zipped_result["OUTPUT"]) as zipped_out, rasterio.open(plain_result["OUTPUT"]) as plain_out:
        assert zipped_out.transform == plain_out.transform and zipped_out.crs == plain_out.crs
        np.testing.assert_array_equal(zipped_out.read(), plain_out.read())
        assert zipped_out.read().std() > 0


def expect_error(input_path, output, *words, **extra):
    with pytest.raises(QgsProcessingException) as raised:
        run(input_path, output, **extra)
    message = str(raised.value)
    for word in words:
        assert word in message, message
    assert not output.exists()
    assert [p.name for p in output.parent.iterdir() if p.name.startswith(output.stem)] == []


def test_one_raster_of_a_geopackage_with_several_is_the_one_read(geodistill_provider, tmp_path):
    scenes = [hazy_scene(tmp_path, "uint8", size=64, seed=seed, name=f"hazy_{seed}.tif") for seed in (1, 2)]
    package = tmp_path / "rasters.gpkg"
    for index, scene in enumerate(scenes):
        with rasterio.open(scene.path) as source:
            profile = dict(source.profile, driver="GPKG", RASTER_TABLE=f"scene_{index}",
                           APPEND_SUBDATASET="YES" if index else "NO")
            with rasterio.open(package, "w", **profile) as table:
                table.write(source.read())
    layer = QgsRasterLayer(f"GPKG:{package}:scene_1", "second scene", "gdal")
    assert layer.isValid()
    from_package = run(layer, tmp_path / "from_package.tif")
    from_file = run(scenes[1].path, tmp_path / "from_file.tif")
    with rasterio.open(from_package["OUTPUT"]) as a, rasterio.open(from_file["OUTPUT"]) as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_a_gzip_compressed_raster_is_refused_with_what_to_do(geodistill_provider, tmp_path):
    scene = hazy_scene(tmp_path, "uint8", size=64)
    compressed = tmp_path / "scene.tif.gz"
    compressed.write_bytes(gzip.compress(scene.path.read_bytes()))
    layer = QgsRasterLayer(f"/vsigzip/{compressed}", "compressed scene")
    assert layer.isValid()
    # in the project, as the panel passes layers: a layer object given to a failed run outlives
    # QGIS (QGIS 3.22 keeps the exception's traceback) and crashes the process when it quits
    project = QgsProject.instance()
    project.addMapLayer(layer, False)
    try:
        expect_error(layer.id(), tmp_path / "dehazed.tif", "compressed", "decompress")
    finally:
        project.removeMapLayer(layer.id())


def test_outputs_are_geotiffs_and_other_names_are_refused(geodistill_provider, tmp_path):
    assert geodistill_provider.supportedOutputRasterLayerExtensions() == ["tif"]
    output = QgsApplication.processingRegistry().algorithmById("geodistill:dehaze").parameterDefinition("OUTPUT")
    assert output.defaultFileExtension() == "tif" and "png" not in output.createFileFilter().lower()
    scene = hazy_scene(tmp_path, "uint8", size=64)
    expect_error(scene.path, tmp_path / "dehazed.png", "GeoTIFF", ".tif", "'.png'")


def test_output_over_the_input_is_refused_and_the_input_kept(geodistill_provider, tmp_path):
    scene = hazy_scene(tmp_path, "uint8", size=64)
    before = scene.path.read_bytes()
    with pytest.raises(QgsProcessingException, match="is the input raster itself"):
        run(scene.path, scene.path)
    assert scene.path.read_bytes() == before
    # GDAL's statistics sidecar (.aux.xml), written when QGIS lets go of the input layer, may appear
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".aux.xml")) == \
        [scene.path.name]


def test_band_count_different_from_the_model(geodistill_provider, tmp_path, lite_package):
    scene = hazy_scene(tmp_path, "uint8", bands=4, size=64)
    expect_error(scene.path, tmp_path / "dehazed.tif", "3-band", "4 bands",
                 MODEL=str(lite_package))


def test_all_nodata_input(geodistill_provider, tmp_path, lite_package):
    path = write_raster(tmp_path / "empty.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)
    expect_error(path, tmp_path / "dehazed.tif", "no valid pixels", "nodata",
                 MODEL=str(lite_package))


def test_constant_image(geodistill_provider, tmp_path):
    path = write_raster(tmp_path / "flat.tif", np.full((3, 64, 64), 180, np.uint8))
    expect_error(path, tmp_path / "dehazed.tif", "constant image")


def test_bundled_default_student_removes_synthetic_haze(geodistill_provider, tmp_path):
    """MODEL left at its default: the bundled lite student is chosen for an RGB scene and
    brings it closer to the clear image (grid and dtype kept). The smooth synthetic scene is
    far from the aerial imagery it learned on (it darkens it too much), hence the margin."""
    scene = hazy_scene(tmp_path, "uint8", size=192)
    result = run(scene.path, tmp_path / "dehazed.tif", MODEL="default", TILE_SIZE=128, OVERLAP=32)
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.dtypes == ("uint8",) * 3 and (out.width, out.height) == (192, 192)
        dehazed = out.read().astype(np.float64)
    assert rmse(dehazed, scene.clear) < 0.8 * rmse(scene.hazy, scene.clear)
