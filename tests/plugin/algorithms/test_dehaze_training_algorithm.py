"""geodistill:train_dehaze and geodistill:evaluate_dehaze in a headless QGIS."""
import json

import numpy as np
import pytest
import rasterio
import torch
from qgis import processing
from qgis.core import QgsProcessingException

from dehaze_scenes import clear_images, hazy_scene
from rasters import write_raster

from geodistill.models.package import load_model
from geodistill.models.tasks.dehaze_training import DehazeTrainingRequest, train_dehazing_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dehaze_data")
    clear = clear_images(folder / "clear", 3)
    pair = hazy_scene(folder, "uint8", size=96, seed=5, name="pair_hazy.tif")
    pair_clear = write_raster(folder / "pair_clear.tif", pair.clear.astype(np.uint8))
    return {"folder": folder / "clear", "clear": clear, "pair": (pair.path, pair_clear)}


def train_params(data, output):
    return {"CLEAR_FOLDER": str(data["folder"]), "HAZY_LAYERS": [str(data["pair"][0])],
            "CLEAR_LAYERS": [str(data["pair"][1])], "ARCHITECTURE": 0, "EPOCHS": 1,
            "PATCH_SIZE": 32, "SAMPLES": 32, "DEVICE": "cpu", "OUTPUT_MODEL": str(output)}


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A lite model trained briefly through the same pipeline the algorithm calls."""
    output = tmp_path_factory.mktemp("models") / "my_dehazer.safetensors"
    train_dehazing_model(DehazeTrainingRequest(
        str(output), clear_folder=str(data["folder"]), pairs=[tuple(map(str, data["pair"]))],
        epochs=1, patch_size=32, samples=32, device="cpu"))
    return str(output)


def test_training_writes_a_package_with_a_valid_card(geodistill_provider, data, tmp_path):
    result = processing.run("geodistill:train_dehaze", train_params(data, tmp_path / "mine.safetensors"))
    card, net = load_model(result["OUTPUT_MODEL"])
    assert card.name == "mine" and card.task == "dehazing" and card.architecture == "dehaze_lite"
    assert card.config["bands"] == 3 and card.input_bands == {"image": ["Red", "Green", "Blue"]}
    assert card.teacher.startswith("ktdn_teacher trained in the same run")
    assert card.training_data == ("clear_0.tif, clear_1.tif, clear_2.tif, "
                                  "pair_hazy.tif / pair_clear.tif")
    assert card.metrics["validation_samples"] == pytest.approx(6)  # 10 % of 2 x 32 patches
    assert {"validation_psnr", "validation_ssim", "validation_input_psnr"} <= set(card.metrics)
    assert card.scaling is None and card.gsd == pytest.approx(1.0) and len(card.sha256) == 64
    assert net(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_trained_model_dehazes_a_uint16_scene_on_its_grid(geodistill_provider, trained, tmp_path):
    scene = hazy_scene(tmp_path, "uint16", size=96)
    result = processing.run("geodistill:dehaze", {
        "INPUT": str(scene.path), "MODEL": trained, "DEVICE": "cpu", "TILE_SIZE": 64,
        "OVERLAP": 16, "OUTPUT": str(tmp_path / "dehazed.tif")})
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(scene.path) as source:
        assert out.dtypes == ("uint16",) * 3 and out.transform == source.transform
        assert out.shape == source.shape
        values = out.read().astype(np.float64)
    assert 0 < values.mean() < 65535 and values.std() > 0


def test_evaluation_report_numbers_are_consistent(geodistill_provider, trained, data, tmp_path):
    result = processing.run("geodistill:evaluate_dehaze", {
        "CLEAR_IMAGES": [str(p) for p in data["clear"]], "HAZY_LAYERS": [str(data["pair"][0])],
        "CLEAR_LAYERS": [str(data["pair"][1])], "MODEL": trained,  # DEVICE: auto
        "OUTPUT_REPORT": str(tmp_path / "report.html")})
    report = json.loads(open(result["OUTPUT_JSON"]).read())
    methods = report["methods"]
    assert set(methods) == {"hazy input", "dark channel prior", "my_dehazer"}
    assert report["images"][-1] == "pair_hazy.tif / pair_clear.tif" and len(report["images"]) == 4
    for scores in methods.values():
        assert set(scores["per_image"]) == set(report["images"])
        assert scores["psnr"] == pytest.approx(np.mean([s["psnr"] for s in scores["per_image"].values()]))
        assert scores["ssim"] == pytest.approx(np.mean([s["ssim"] for s in scores["per_image"].values()]))
        assert -1 <= scores["ssim"] <= 1 and scores["megapixels_per_second"] > 0
    assert methods["dark channel prior"]["psnr"] > methods["hazy input"]["psnr"] + 1.0
    html = open(result["OUTPUT_REPORT"]).read()
    assert "<table>" in html and f"{methods['dark channel prior']['psnr']:.4g}" in html


def test_pairs_must_match_in_number(geodistill_provider, data, tmp_path):
    with pytest.raises(QgsProcessingException, match="as many clear layers as hazy layers"):
        processing.run("geodistill:train_dehaze", {
            "HAZY_LAYERS": [str(data["pair"][0]), str(data["pair"][0])],
            "CLEAR_LAYERS": [str(data["pair"][1])], "EPOCHS": 1,
            "OUTPUT_MODEL": str(tmp_path / "x.safetensors")})
    assert not (tmp_path / "x.safetensors").exists()


def test_training_without_images_says_what_to_give(geodistill_provider, tmp_path):
    with pytest.raises(QgsProcessingException, match="CLEAR_IMAGES or CLEAR_FOLDER"):
        processing.run("geodistill:train_dehaze", {"EPOCHS": 1, "OUTPUT_MODEL": str(tmp_path / "x.safetensors")})
    assert not (tmp_path / "x.safetensors").exists()


def test_images_with_different_band_counts_are_refused(geodistill_provider, data, tmp_path):
    four = clear_images(tmp_path / "four", 1, bands=4)
    with pytest.raises(QgsProcessingException, match="4 band.*3: one model dehazes one band count"):
        processing.run("geodistill:train_dehaze", {
            "CLEAR_IMAGES": [str(data["clear"][0]), str(four[0])], "EPOCHS": 1,
            "OUTPUT_MODEL": str(tmp_path / "x.safetensors")})
    assert not (tmp_path / "x.safetensors").exists()
