"""Hostile inputs to the training and evaluation tools, and the diagnostics: a clear message
naming what to change, and no model or report file left behind."""
import json

import numpy as np
import pytest

from .outcomes import refused, run
from rasters import write_raster


def tampered(source, folder):
    data = bytearray(source.read_bytes())
    data[-3] ^= 0x0F
    path = folder / f"tampered_{source.name}"
    path.write_bytes(bytes(data))
    return path


def test_dehaze_training_without_images_says_what_to_give(geodistill_provider, out):
    refused("geodistill:train_dehaze", {"EPOCHS": 1, "DEVICE": "cpu",
                                        "OUTPUT_MODEL": str(out / "m.safetensors")},
            "Give clear images to train on", folder=out)


def test_dehaze_training_on_a_missing_folder_names_it(geodistill_provider, out, tmp_path):
    refused("geodistill:train_dehaze", {"CLEAR_FOLDER": str(tmp_path / "nowhere"), "EPOCHS": 1,
                                        "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
            "nowhere", folder=out)


def test_dehaze_training_with_a_tampered_teacher_is_refused(geodistill_provider, rgb, out, tmp_path,
                                                            dehaze_package):
    teacher = tampered(dehaze_package, tmp_path)
    refused("geodistill:train_dehaze", {"CLEAR_IMAGES": [str(rgb)], "ARCHITECTURE": 0,
                                        "TEACHER": str(teacher), "EPOCHS": 1, "PATCH_SIZE": 32,
                                        "SAMPLES": 4, "DEVICE": "cpu",
                                        "OUTPUT_MODEL": str(out / "m.safetensors")},
            teacher.name, folder=out)


def test_pansharpen_training_with_unpaired_layers_is_refused(geodistill_provider, pair, out):
    refused("geodistill:train_pansharpen", {
        "MS_LAYERS": [str(pair.ms_path), str(pair.ms_path)], "PAN_LAYERS": [str(pair.pan_path)],
        "EPOCHS": 1, "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "PAN", folder=out)


def test_segmentation_training_on_polygons_without_a_class_field(geodistill_provider, rgb, out, tmp_path):
    from segmentation_scenes import write_polygons

    polygons = write_polygons(tmp_path / "labels.geojson", np.zeros((96, 96), int), {0: "water"})
    refused("geodistill:train_segmentation", {
        "INPUT": [str(rgb)], "LABELS": str(polygons), "ARCHITECTURE": 1, "EPOCHS": 1,
        "TILE_SIZE": 32, "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "CLASS_FIELD", folder=out)


def test_segmentation_training_with_labels_elsewhere(geodistill_provider, rgb, out, tmp_path):
    labels = write_raster(tmp_path / "far_labels.tif", np.ones((32, 32), np.uint8),
                          origin=(100000.0, 100000.0))
    refused("geodistill:train_segmentation", {
        "INPUT": [str(rgb)], "LABELS": str(labels), "ARCHITECTURE": 1, "EPOCHS": 1,
        "TILE_SIZE": 32, "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "far_labels.tif lies outside", folder=out)


def test_classifier_training_on_a_missing_folder(geodistill_provider, out, tmp_path):
    refused("geodistill:train_scene_classifier", {
        "CHIPS_FOLDER": str(tmp_path / "no_chips"), "ARCHITECTURE": 1, "METHOD": 1, "EPOCHS": 1,
        "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "no_chips does not exist", folder=out)


def test_classifier_evaluation_with_a_tampered_model(geodistill_provider, chip_folder, out, tmp_path):
    from geodistill.plugin.algorithms.base import BUNDLED_MODELS

    model = tampered(BUNDLED_MODELS / "classification_aid_efficientnet_lite0.safetensors", tmp_path)
    refused("geodistill:evaluate_scene_classifier", {
        "CHIPS_FOLDER": str(chip_folder), "MODEL": str(model), "DEVICE": "cpu",
        "OUTPUT_REPORT": str(out / "r.html")}, model.name, "sha256", folder=out)


def test_pansharpen_evaluation_with_swapped_inputs(geodistill_provider, pair, out):
    refused("geodistill:evaluate_pansharpen", {
        "MS": str(pair.pan_path), "PAN": str(pair.ms_path), "DEVICE": "cpu",
        "OUTPUT_REPORT": str(out / "r.html")}, "swapped", folder=out)


def test_dehaze_evaluation_with_pairs_of_different_sizes(geodistill_provider, rgb, out, tmp_path):
    small = write_raster(tmp_path / "small_clear.tif", np.full((3, 48, 48), 100, np.uint8))
    refused("geodistill:evaluate_dehaze", {
        "HAZY_LAYERS": [str(rgb)], "CLEAR_LAYERS": [str(small)], "MODEL": "default",
        "DEVICE": "cpu", "OUTPUT_REPORT": str(out / "r.html")}, "small_clear.tif", folder=out)


def test_segmentation_evaluation_of_rasters_apart(geodistill_provider, out, tmp_path):
    prediction = write_raster(tmp_path / "prediction.tif", np.ones((8, 8), np.uint8))
    reference = write_raster(tmp_path / "reference.tif", np.ones((8, 8), np.uint8),
                             origin=(100000.0, 100000.0))
    refused("geodistill:evaluate_segmentation", {
        "PREDICTION": str(prediction), "REFERENCE": str(reference),
        "OUTPUT_REPORT": str(out / "r.html")}, "reference.tif lies outside", folder=out)


def test_segmentation_evaluation_against_one_class_is_refused(geodistill_provider, out, tmp_path):
    prediction = write_raster(tmp_path / "prediction.tif", np.ones((8, 8), np.uint8))
    reference = write_raster(tmp_path / "reference.tif", np.ones((8, 8), np.uint8))
    refused("geodistill:evaluate_segmentation", {
        "PREDICTION": str(prediction), "REFERENCE": str(reference),
        "OUTPUT_REPORT": str(out / "r.html")}, "holds one class", "at least two classes",
        folder=out)


def test_segmentation_evaluation_scores_exactly(geodistill_provider, out, tmp_path):
    truth = np.zeros((8, 8), np.uint8)
    truth[:, 4:] = 1
    predicted = truth.copy()
    predicted[0, :2] = 1  # two pixels of class 0 called class 1
    prediction = write_raster(tmp_path / "prediction.tif", predicted)
    reference = write_raster(tmp_path / "reference.tif", truth)
    result = run("geodistill:evaluate_segmentation", {
        "PREDICTION": str(prediction), "REFERENCE": str(reference),
        "OUTPUT_REPORT": str(out / "r.html")})
    data = json.loads(open(result["OUTPUT_JSON"]).read())
    assert data["confusion_matrix"] == [[30, 2], [0, 32]]
    assert data["miou"] == pytest.approx((30 / 32 + 32 / 34) / 2)


def test_diagnostics_on_a_gpu_that_is_not_there(geodistill_provider):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    message = refused("geodistill:diagnostics", {"DEVICE": "cuda:7"}, "cuda")
    assert len(message) < 600
