"""geodistill:train_pansharpen and geodistill:evaluate_pansharpen in a headless QGIS."""
import json
from pathlib import Path

import pytest
from qgis import processing
from qgis.core import QgsProcessingException

from rasters import pansharpening_scene

from geodistill.models.package import load_package
from geodistill.models.tasks.pansharpen_training import (PansharpenTrainingRequest,
                                                         train_pansharpening_model)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folders = [tmp_path_factory.mktemp(name) for name in ("a", "b")]
    return [pansharpening_scene(folder, size=128, seed=seed) for seed, folder in enumerate(folders)]


@pytest.fixture(scope="module")
def trained(scenes, tmp_path_factory):
    """A lite model trained briefly through the same pipeline the algorithm calls."""
    path = tmp_path_factory.mktemp("models") / "my_lite.safetensors"
    train_pansharpening_model(PansharpenTrainingRequest(
        [(str(s.ms_path), str(s.pan_path)) for s in scenes], str(path), epochs=1,
        samples_per_pair=32, patch_size=32, device="cpu"))
    return str(path)


def test_training_algorithm_writes_a_package_with_its_card(geodistill_provider, scenes, tmp_path):
    result = processing.run("geodistill:train_pansharpen", {
        "MS_LAYERS": [str(s.ms_path) for s in scenes], "PAN_LAYERS": [str(s.pan_path) for s in scenes],
        "ARCHITECTURE": 0, "EPOCHS": 1, "PATCH_SIZE": 32, "DEVICE": "cpu",
        "OUTPUT_MODEL": str(tmp_path / "my_lite.safetensors")})
    card, weights = load_package(result["OUTPUT_MODEL"])
    assert card.task == "pansharpening" and card.architecture == "pansharpen_lite"
    assert card.ratio == 4 and card.config["ms_bands"] == 4
    assert card.training_data == "ms.tif, ms.tif"
    assert card.gsd == pytest.approx(1.0)
    assert {"validation_l1", "validation_ergas"} <= set(card.metrics)
    assert card.metrics["validation_ergas"] > 0
    assert weights and len(card.sha256) == 64
    # the .onnx written next to the weights carries the same card and runs on ONNX Runtime
    from geodistill.models.runtime.onnx_file import load_onnx_package

    onnx = load_onnx_package(Path(result["OUTPUT_MODEL"]).with_suffix(".onnx"))
    assert onnx.card == card and onnx.runtime.inputs == ["pan", "ms"]


def test_trained_model_sharpens(geodistill_provider, trained, scenes, tmp_path):
    result = processing.run("geodistill:pansharpen", {
        "MS": str(scenes[0].ms_path), "PAN": str(scenes[0].pan_path), "METHOD": 0,
        "MODEL": trained, "ADAPT_ITERATIONS": 0, "DEVICE": "cpu", "TILE_SIZE": 64, "OVERLAP": 16,
        "OUTPUT": str(tmp_path / "sharp.tif")})
    import rasterio
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.count == 4 and out.width == 128


def test_evaluation_report_ranks_methods(geodistill_provider, trained, scenes, tmp_path):
    result = processing.run("geodistill:evaluate_pansharpen", {
        "MS": str(scenes[1].ms_path), "PAN": str(scenes[1].pan_path), "MODEL": trained,
        "ADAPT_ITERATIONS": 0, "OUTPUT_REPORT": str(tmp_path / "report.html")})  # DEVICE: auto
    data = json.loads(open(result["OUTPUT_JSON"]).read())
    methods = data["methods"]
    assert set(methods) == {"bicubic", "brovey (GDAL)", "mtf_glp", "my_lite"}
    assert methods["mtf_glp"]["reduced"]["ergas"] < methods["bicubic"]["reduced"]["ergas"]
    for scores in methods.values():
        assert 0 <= scores["full"]["qnr"] <= 1 and scores["reduced"]["sam"] >= 0
    html = open(result["OUTPUT_REPORT"]).read()
    assert "<table>" in html and "mtf_glp" in html and "ERGAS" in html


def test_pairs_must_match_in_number(geodistill_provider, scenes, tmp_path):
    with pytest.raises(QgsProcessingException, match="as many PAN layers as MS layers"):
        processing.run("geodistill:train_pansharpen", {
            "MS_LAYERS": [str(s.ms_path) for s in scenes], "PAN_LAYERS": [str(scenes[0].pan_path)],
            "EPOCHS": 1, "OUTPUT_MODEL": str(tmp_path / "x.safetensors")})


def test_teacher_only_for_the_lite_student(geodistill_provider, scenes, trained, tmp_path):
    with pytest.raises(QgsProcessingException, match="TEACHER"):
        processing.run("geodistill:train_pansharpen", {
            "MS_LAYERS": [str(scenes[0].ms_path)], "PAN_LAYERS": [str(scenes[0].pan_path)],
            "ARCHITECTURE": 1, "TEACHER": trained, "EPOCHS": 1,
            "OUTPUT_MODEL": str(tmp_path / "x.safetensors")})
    assert not (tmp_path / "x.safetensors").exists()
