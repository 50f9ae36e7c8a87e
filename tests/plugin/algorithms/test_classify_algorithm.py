"""geodistill:classify_scenes, train_scene_classifier and evaluate_scene_classifier in a headless
QGIS, with every bad input the issue lists."""
import json

import numpy as np
import pytest
import rasterio
from qgis import processing
from qgis.core import (QgsCategorizedSymbolRenderer, QgsGeometry, QgsProcessingContext,
                       QgsProcessingException, QgsProcessingFeedback,
                       QgsProcessingOutputLayerDefinition, QgsProject, QgsVectorLayer)

from classification_scenes import CLASS_LOOKS, write_block_mosaic, write_chip_folder
from rasters import write_raster

from geodistill.models.package import load_package
from geodistill.models.tasks.classify_training import (ClassifierTrainingRequest,
                                                       train_scene_classifier)

LAYOUT = [["forest", "water", "urban", "forest"], ["urban", "urban", "water", "forest"],
          ["water", "forest", "forest", "urban"]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_path(chip_folder, tmp_path_factory):
    """A tiny ResNet-18-class classifier trained on 32-pixel chips of the three classes."""
    path = tmp_path_factory.mktemp("models") / "tiny_scenes.safetensors"
    train_scene_classifier(ClassifierTrainingRequest(
        output_model=str(path), chips_folder=str(chip_folder), architecture="resnet18",
        method="plain", epochs=8, batch_size=6, validation_fraction=0.3,
        net_options={"width": 8, "depths": [1, 1, 1, 1]}, device="cpu"))
    return str(path)


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    """3 x 4 blocks of 32 pixels (96 x 128), pixel size 2 m."""
    return write_block_mosaic(tmp_path_factory.mktemp("mosaic") / "mosaic.tif", LAYOUT,
                              pixel_size=2.0)


def classify(params):
    return processing.run("geodistill:classify_scenes", params)


def features_of(path):
    layer = QgsVectorLayer(str(path), "grid", "ogr")
    assert layer.isValid()
    return layer, list(layer.getFeatures())


def test_grid_covers_the_raster_and_finds_the_blocks(geodistill_provider, mosaic, model_path, tmp_path):
    result = classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu",
                       "OUTPUT": str(tmp_path / "grid.gpkg"),
                       "OUTPUT_RASTER": str(tmp_path / "cells.tif")})
    layer, features = features_of(result["OUTPUT"])
    assert [f.name() for f in layer.fields()][1:] == [  # (fid first in a GeoPackage)
        "class_id", "class_name", "confidence", "class2_id", "class2_name", "confidence2",
        "cell_row", "cell_col"]
    assert len(features) == 12 and layer.crs().authid() == "EPSG:32633"
    union = QgsGeometry.unaryUnion([f.geometry() for f in features])
    with rasterio.open(mosaic) as dataset:
        bounds = dataset.bounds
    box = union.boundingBox()
    assert (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()) == pytest.approx(tuple(bounds))
    assert union.area() == pytest.approx(96 * 128 * 4.0)
    assert sum(f.geometry().area() for f in features) == pytest.approx(union.area())
    names = sorted(CLASS_LOOKS)
    right = 0
    for feature in features:
        truth = LAYOUT[feature["cell_row"]][feature["cell_col"]]
        right += feature["class_name"] == truth
        assert names[feature["class_id"]] == feature["class_name"]
        assert 1.0 >= feature["confidence"] >= feature["confidence2"] >= 0.0
        assert feature["class2_name"] != feature["class_name"]
    assert right >= 11
    with rasterio.open(result["OUTPUT_RASTER"]) as cells:
        assert cells.shape == (3, 4) and cells.res == (64.0, 64.0) and cells.nodata == 255
        values = cells.read(1)
    for feature in features:
        assert values[feature["cell_row"], feature["cell_col"]] == feature["class_id"]


def test_area_to_process_grids_only_its_part(geodistill_provider, mosaic, model_path, tmp_path):
    """The 3 x 4 blocks of 32 px (2 m pixels): an area over blocks (row 1, cols 1-2) gives the
    same classes there as the whole run, on cells starting at the area's corner."""
    whole = classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu", "CHIP_SIZE": 32,
                      "OUTPUT": str(tmp_path / "whole.gpkg")})
    with rasterio.open(mosaic) as source:
        left, top = source.transform * (32, 32)
        right, bottom = source.transform * (96, 64)
    part = classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu", "CHIP_SIZE": 32,
                     "EXTENT": f"{left},{right},{bottom},{top} [EPSG:32633]",
                     "OUTPUT": str(tmp_path / "part.gpkg")})
    whole_cells = {(f["cell_row"], f["cell_col"]): f for f in features_of(whole["OUTPUT"])[1]}
    part_cells = features_of(part["OUTPUT"])[1]
    assert sorted((f["cell_row"], f["cell_col"]) for f in part_cells) == [(0, 0), (0, 1)]
    for cell in part_cells:
        twin = whole_cells[(cell["cell_row"] + 1, cell["cell_col"] + 1)]
        assert cell["class_id"] == twin["class_id"]
        assert cell.geometry().equals(twin.geometry())


def test_stride_and_chip_size_that_do_not_divide_the_raster(geodistill_provider, mosaic, model_path, tmp_path):
    result = classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu",
                       "CHIP_SIZE": 40, "STRIDE": 40, "OUTPUT": str(tmp_path / "grid.gpkg")})
    _, features = features_of(result["OUTPUT"])
    assert len(features) == 3 * 4  # ceil(96 / 40) x ceil(128 / 40)
    union = QgsGeometry.unaryUnion([f.geometry() for f in features])
    assert union.area() == pytest.approx(96 * 128 * 4.0)
    last = [f for f in features if (f["cell_row"], f["cell_col"]) == (2, 3)][0]
    assert last.geometry().area() == pytest.approx((96 - 80) * (128 - 120) * 4.0)


def test_output_is_styled_with_the_cards_colours(geodistill_provider, mosaic, model_path, tmp_path):
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    output = QgsProcessingOutputLayerDefinition(str(tmp_path / "styled.gpkg"), QgsProject.instance())
    alg = geodistill_provider.algorithm("classify_scenes").create()
    result, ok = alg.run({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu",
                          "OUTPUT": output}, context, QgsProcessingFeedback())
    assert ok
    details = context.layerToLoadOnCompletionDetails(result["OUTPUT"])
    layer = QgsVectorLayer(result["OUTPUT"], "grid", "ogr")
    details.postProcessor().postProcessLayer(layer, context, QgsProcessingFeedback())
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "class_id"
    card, _ = load_package(model_path)
    assert [(c.value(), c.label(), c.symbol().color().name()) for c in renderer.categories()] == \
        [(c["id"], c["name"], c["color"]) for c in card.classes] + [(3, "uncertain", "#a0a0a0")]


def test_cells_below_the_minimum_confidence_are_uncertain_with_the_guess_second(
        geodistill_provider, mosaic, model_path, tmp_path):
    confident = {(f["cell_row"], f["cell_col"]): f for f in features_of(classify(
        {"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu", "MIN_CONFIDENCE": 0.0,
         "OUTPUT": str(tmp_path / "all.gpkg")})["OUTPUT"])[1]}
    threshold = sorted(f["confidence"] for f in confident.values())[5]
    result = classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu",
                       "MIN_CONFIDENCE": threshold, "OUTPUT": str(tmp_path / "some.gpkg"),
                       "OUTPUT_RASTER": str(tmp_path / "some.tif")})
    with rasterio.open(result["OUTPUT_RASTER"]) as cells:
        values = cells.read(1)
    uncertain = 0
    for feature in features_of(result["OUTPUT"])[1]:
        before = confident[(feature["cell_row"], feature["cell_col"])]
        assert feature["confidence"] == pytest.approx(before["confidence"])
        if before["confidence"] < threshold:
            uncertain += 1
            assert (feature["class_id"], feature["class_name"]) == (3, "uncertain")
            assert (feature["class2_id"], feature["class2_name"]) == (before["class_id"], before["class_name"])
            assert feature["confidence2"] == pytest.approx(before["confidence"])
        else:
            assert [feature[k] for k in ("class_id", "class2_id", "confidence2")] == \
                pytest.approx([before[k] for k in ("class_id", "class2_id", "confidence2")])
        assert values[feature["cell_row"], feature["cell_col"]] == feature["class_id"]
    assert 0 < uncertain == sum(f["confidence"] < threshold for f in confident.values()) < 12
    assert all(f["class_name"] != "uncertain" for f in confident.values())
    with pytest.raises(QgsProcessingException, match="MIN_CONFIDENCE"):
        classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu", "MIN_CONFIDENCE": 1.5,
                  "OUTPUT": str(tmp_path / "bad.gpkg")})


def test_raster_smaller_than_one_chip(geodistill_provider, model_path, tmp_path):
    small = write_raster(tmp_path / "small.tif", np.full((3, 20, 40), 100, np.uint8))
    with pytest.raises(QgsProcessingException, match="smaller than one chip of 32 x 32 pixels"):
        classify({"INPUT": str(small), "MODEL": model_path, "DEVICE": "cpu",
                  "OUTPUT": str(tmp_path / "grid.gpkg"), "OUTPUT_RASTER": str(tmp_path / "c.tif")})
    assert not any(p.name.startswith(("grid", "c.", ".c")) for p in tmp_path.iterdir())


def test_cell_raster_named_other_than_tif_is_refused_before_running(geodistill_provider, mosaic,
                                                                   model_path, tmp_path):
    with pytest.raises(QgsProcessingException, match=r"GeoTIFF.*'\.png'"):
        classify({"INPUT": str(mosaic), "MODEL": model_path, "DEVICE": "cpu",
                  "OUTPUT": str(tmp_path / "grid.gpkg"), "OUTPUT_RASTER": str(tmp_path / "cells.png")})
    assert list(tmp_path.iterdir()) == []


def test_band_count_different_from_the_model(geodistill_provider, model_path, tmp_path):
    four = write_raster(tmp_path / "four.tif", np.full((4, 64, 64), 100, np.uint8))
    with pytest.raises(QgsProcessingException, match="reads 3-band chips but the raster has 4"):
        classify({"INPUT": str(four), "MODEL": model_path, "DEVICE": "cpu",
                  "OUTPUT": str(tmp_path / "grid.gpkg")})


def test_training_algorithm_on_a_chip_folder(geodistill_provider, chip_folder, tmp_path):
    result = processing.run("geodistill:train_scene_classifier", {
        "CHIPS_FOLDER": str(chip_folder), "ARCHITECTURE": 1, "METHOD": 1, "EPOCHS": 1,
        "DEVICE": "cpu", "OUTPUT_MODEL": str(tmp_path / "mine.safetensors")})
    card, weights = load_package(result["OUTPUT_MODEL"])
    assert card.task == "classification" and card.architecture == "resnet18_classifier"
    assert card.config["input_size"] == 32 and card.tile_size == 32
    assert [c["name"] for c in card.classes] == sorted(CLASS_LOOKS)
    assert card.description.startswith("resnet18 scene classifier (class_aware)")
    assert weights


def test_training_algorithm_bad_inputs(geodistill_provider, chip_folder, tmp_path):
    params = {"CHIPS_FOLDER": str(chip_folder), "ARCHITECTURE": 1, "METHOD": 0, "EPOCHS": 1,
              "DEVICE": "cpu", "OUTPUT_MODEL": str(tmp_path / "x.safetensors")}
    with pytest.raises(QgsProcessingException, match="give a TEACHER"):
        processing.run("geodistill:train_scene_classifier", params)
    empty = write_chip_folder(tmp_path / "chips", per_class=2, classes=("forest",))
    (empty / "desert").mkdir()
    with pytest.raises(QgsProcessingException, match="'desert'.*no readable image chip"):
        processing.run("geodistill:train_scene_classifier", {**params, "METHOD": 2,
                                                              "CHIPS_FOLDER": str(empty)})
    with pytest.raises(QgsProcessingException, match="Give the training chips"):
        processing.run("geodistill:train_scene_classifier", {**params, "CHIPS_FOLDER": None})
    assert not (tmp_path / "x.safetensors").exists()


def test_evaluation_report(geodistill_provider, model_path, tmp_path):
    folder = write_chip_folder(tmp_path / "held_out", per_class=5, seed=7)
    result = processing.run("geodistill:evaluate_scene_classifier", {
        "CHIPS_FOLDER": str(folder), "MODEL": model_path, "DEVICE": "cpu",
        "OUTPUT_REPORT": str(tmp_path / "report.html")})
    data = json.loads(open(result["OUTPUT_JSON"]).read())
    scores = data["models"]["tiny_scenes"]
    matrix = np.array(scores["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 15 and matrix.sum(axis=1).tolist() == [5, 5, 5]
    assert scores["overall_accuracy"] == pytest.approx(np.trace(matrix) / 15)
    assert scores["overall_accuracy"] >= 0.8 and scores["kappa"] >= 0.7
    assert len(scores["per_class_accuracy"]) == 3
    html = open(result["OUTPUT_REPORT"]).read()
    assert "kappa" in html and "confusion matrix" in html and "forest" in html


def test_evaluation_with_classes_the_model_lacks(geodistill_provider, model_path, tmp_path):
    folder = write_chip_folder(tmp_path / "other", per_class=2, classes=("forest", "water"))
    (folder / "forest").rename(folder / "glacier")
    with pytest.raises(QgsProcessingException, match="glacier of the labelled chips are not among"):
        processing.run("geodistill:evaluate_scene_classifier", {
            "CHIPS_FOLDER": str(folder), "MODEL": model_path, "DEVICE": "cpu",
            "OUTPUT_REPORT": str(tmp_path / "r.html")})
