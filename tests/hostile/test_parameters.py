"""Nonsense parameters: each is refused before any work, naming the parameter and its valid
range or what to give instead, and no output file appears."""
import shutil

import numpy as np
import pytest
from qgis.core import QgsProject, QgsRasterLayer

from .outcomes import refused
from rasters import write_raster


def dehaze_params(raster, out, **extra):
    return {"INPUT": str(raster), "MODEL": "dark_channel_prior", "DEVICE": "cpu", "TILE_SIZE": 128,
            "OVERLAP": 16, "OUTPUT": str(out / "out.tif"), **extra}


def pansharpen_params(pair, out, **extra):
    return {"MS": str(pair.ms_path), "PAN": str(pair.pan_path), "METHOD": 0, "DEVICE": "cpu",
            "TILE_SIZE": 64, "OVERLAP": 8, "OUTPUT": str(out / "sharp.tif"), **extra}


def test_pan_band_zero_is_refused_with_the_valid_range(geodistill_provider, pair, out):
    refused("geodistill:pansharpen", pansharpen_params(pair, out, PAN_BAND=0),
            "PAN_BAND 0 does not exist", "choose a band from 1 to 1", folder=out)


def test_pan_band_past_the_last_band_is_refused(geodistill_provider, pair, out):
    refused("geodistill:pansharpen", pansharpen_params(pair, out, PAN_BAND=3),
            "PAN_BAND 3 does not exist", "pan.tif has 1 band(s)", folder=out)


def test_swapped_ms_and_pan_are_named(geodistill_provider, pair, out):
    refused("geodistill:pansharpen",
            pansharpen_params(pair, out, MS=str(pair.pan_path), PAN=str(pair.ms_path), PAN_BAND=1),
            "look swapped", folder=out)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu"])
def test_unknown_device_is_refused_with_the_valid_forms(geodistill_provider, rgb, out, device):
    refused("geodistill:dehaze", dehaze_params(rgb, out, DEVICE=device),
            f"Device '{device}' is not valid", "auto, cpu, cuda or cuda:N", folder=out)


def test_overlap_of_half_the_tile_is_refused(geodistill_provider, rgb, out):
    refused("geodistill:dehaze", dehaze_params(rgb, out, TILE_SIZE=64, OVERLAP=32),
            "overlap (32 px) must be less than half the tile size (64 px)", folder=out)


@pytest.mark.parametrize("tile", [0, 16, 100000])
def test_tile_size_outside_its_range_is_refused(geodistill_provider, rgb, out, tile):
    refused("geodistill:dehaze", dehaze_params(rgb, out, TILE_SIZE=tile, OVERLAP=0),
            "TILE_SIZE", folder=out)


@pytest.mark.parametrize("bands,words", [
    ("1,x", ("BANDS", "'1,x' is not a list of band numbers", "5,3,2")),
    ("0", ("rgb.tif has 3 band(s); band(s) 0 do not exist",)),
    ("7", ("rgb.tif has 3 band(s); band(s) 7 do not exist",)),
])
def test_band_lists_that_cannot_be_read_are_refused(geodistill_provider, rgb, out, bands, words):
    refused("geodistill:dehaze", dehaze_params(rgb, out, BANDS=bands), *words, folder=out)


def test_complex_raster_is_refused_not_truncated(geodistill_provider, data, out):
    values = (np.arange(64 * 64).reshape(1, 64, 64) * (1 + 2j)).astype(np.complex64)
    path = write_raster(data / "complex.tif", np.repeat(values, 3, axis=0))
    refused("geodistill:dehaze", dehaze_params(path, out), "holds complex numbers",
            "imaginary", "Convert it to real values", folder=out)


def test_a_pasted_huge_layer_name_is_cut_in_the_message(geodistill_provider, rgb, data, out):
    values = np.ones((3, 32, 32), np.complex64)
    layer = QgsRasterLayer(str(write_raster(data / "complex_named.tif", values)), "n" * 2_000_000)
    QgsProject.instance().addMapLayer(layer, False)  # the project deletes it while QGIS runs
    try:
        message = refused("geodistill:dehaze", {**dehaze_params(rgb, out), "INPUT": layer.id()},
                          "holds complex numbers", folder=out)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert len(message) < 700 and "nnnn…" in message


def test_unknown_model_name_lists_the_models_there_are(geodistill_provider, rgb, out):
    refused("geodistill:dehaze", dehaze_params(rgb, out, MODEL="no_such_model"),
            "No dehazing model named 'no_such_model'", "Available:", "dehazing_lite_rgb",
            folder=out)


def test_a_text_file_given_as_model_is_refused(geodistill_provider, rgb, out, tmp_path):
    fake = tmp_path / "fake.safetensors"
    fake.write_text("not a model")
    refused("geodistill:dehaze", dehaze_params(rgb, out, MODEL=str(fake)),
            "fake.safetensors is not a readable .safetensors model package", folder=out)


def test_a_tampered_model_is_refused_and_nothing_is_written(geodistill_provider, rgb, out,
                                                            dehaze_package, tmp_path):
    tampered = tmp_path / "tampered.safetensors"
    shutil.copy(dehaze_package, tampered)
    data = bytearray(tampered.read_bytes())
    data[-9] ^= 0xFF
    tampered.write_bytes(bytes(data))
    refused("geodistill:dehaze", dehaze_params(rgb, out, MODEL=str(tampered)),
            "tampered.safetensors: the weights do not match the sha256", folder=out)


def test_a_model_of_another_task_is_refused(geodistill_provider, rgb, out):
    refused("geodistill:dehaze", dehaze_params(rgb, out, MODEL="pansharpening_lite_4band_x4"),
            "No dehazing model named 'pansharpening_lite_4band_x4'", folder=out)


def test_a_band_count_the_model_does_not_read_is_explained(geodistill_provider, data, out,
                                                           dehaze_package):
    rng = np.random.default_rng(1)
    four = write_raster(data / "four.tif", (rng.random((4, 64, 64)) * 200).astype(np.uint8))
    message = refused("geodistill:dehaze", dehaze_params(four, out, MODEL=str(dehaze_package)),
                      "dehazes 3-band images", "has 4 bands", folder=out)
    assert "None-band" not in message


def test_dehaze_training_patch_not_a_multiple_of_32_is_refused(geodistill_provider, rgb, out):
    refused("geodistill:train_dehaze", {
        "CLEAR_IMAGES": [str(rgb)], "EPOCHS": 1, "PATCH_SIZE": 48, "SAMPLES": 4, "DEVICE": "cpu",
        "ARCHITECTURE": 0, "OUTPUT_MODEL": str(out / "m.safetensors")},
        "PATCH_SIZE 48 is not a multiple of 32", "use 32 or 64", folder=out)


def test_pansharpen_training_patch_off_the_ratio_grid_is_refused(geodistill_provider, pair, out):
    refused("geodistill:train_pansharpen", {
        "MS_LAYERS": [str(pair.ms_path)], "PAN_LAYERS": [str(pair.pan_path)], "EPOCHS": 1,
        "PATCH_SIZE": 30, "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "PATCH_SIZE 30 is not a multiple of", folder=out)


def test_segmentation_training_on_one_class_is_refused(geodistill_provider, rgb, data, out):
    labels = np.zeros((96, 96), np.uint8)
    labels[10:60, 10:60] = 3
    path = write_raster(data / "one_class.tif", labels, nodata=0)
    refused("geodistill:train_segmentation", {
        "INPUT": [str(rgb)], "LABELS": str(path), "ARCHITECTURE": 1, "EPOCHS": 1, "TILE_SIZE": 32,
        "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "The labels holds only 'class 3'", "at least two classes", folder=out)


def test_segmentation_training_tile_off_the_model_grid_is_refused(geodistill_provider, rgb, data, out):
    labels = np.zeros((96, 96), np.uint8)
    labels[10:60, 10:60], labels[60:90, 10:90] = 3, 5
    path = write_raster(data / "two_classes.tif", labels, nodata=0)
    refused("geodistill:train_segmentation", {
        "INPUT": [str(rgb)], "LABELS": str(path), "ARCHITECTURE": 1, "EPOCHS": 1, "TILE_SIZE": 40,
        "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "TILE_SIZE 40 is not a multiple of", folder=out)


def test_a_chip_folder_with_one_class_is_refused(geodistill_provider, data, out):
    forest = data / "one_class_chips" / "forest"
    forest.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for index in range(4):
        write_raster(forest / f"chip{index}.tif", (rng.random((3, 32, 32)) * 255).astype(np.uint8))
    refused("geodistill:train_scene_classifier", {
        "CHIPS_FOLDER": str(forest.parent), "ARCHITECTURE": 1, "METHOD": 1, "EPOCHS": 1,
        "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "holds only 'forest'", "at least two classes", folder=out)


def test_classification_chip_size_below_eight_is_refused(geodistill_provider, rgb, out):
    refused("geodistill:classify_scenes", {
        "INPUT": str(rgb), "MODEL": "default", "DEVICE": "cpu", "CHIP_SIZE": 4,
        "OUTPUT": str(out / "grid.gpkg")}, "CHIP_SIZE", folder=out)
