"""geodistill:train_segmentation and geodistill:evaluate_segmentation in a headless QGIS, the
spatial hold-out, and every bad input the issue lists."""
import json
import zipfile

import numpy as np
import pytest
import rasterio
from qgis import processing
from qgis.core import QgsProcessingException, QgsRasterLayer, QgsVectorLayer

from rasters import write_raster
from segmentation_scenes import CLASS_IDS, CLASS_NAMES, TINY_NET, segmentation_scene, write_polygons

from geodistill.models.data.labels import IGNORE_INDEX, LabelledScene
from geodistill.models.nets import build
from geodistill.models.package import ModelCard, load_package, save_package
from geodistill.models.tasks.segment import CLASSES_TAG
from geodistill.models.tasks.segment_training import hold_out_block


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return segmentation_scene(tmp_path_factory.mktemp("scene"), size=64)


def train(scene, tmp_path, **extra):
    values = {"INPUT": [str(scene.raster)], "LABELS": str(scene.polygons_lonlat),
              "CLASS_FIELD": "landcover", "ARCHITECTURE": 1, "EPOCHS": 1, "TILE_SIZE": 32,
              "DEVICE": "cpu", "OUTPUT_MODEL": str(tmp_path / "model.safetensors")}
    values.update(extra)
    return processing.run("geodistill:train_segmentation", values)


@pytest.mark.slow
def test_polygons_in_another_crs_train_a_package_with_classes(geodistill_provider, scene, tmp_path):
    result = train(scene, tmp_path)
    card, weights = load_package(result["OUTPUT_MODEL"])
    assert card.task == "segmentation" and card.architecture == "ginet_lite"
    assert [c["name"] for c in card.classes] == CLASS_NAMES and [c["id"] for c in card.classes] == [0, 1, 2]
    assert card.config["classes"] == 3 and card.config["bands"] == 3
    assert card.gsd == pytest.approx(1.0) and card.training_data == "scene.tif"
    assert 0 <= card.metrics["validation_miou"] <= 1 and card.metrics["validation_patches"] >= 4
    assert weights and len(card.sha256) == 64


@pytest.mark.slow
def test_layers_inside_zip_archives_train_like_their_files(geodistill_provider, scene, tmp_path):
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(scene.raster, "data/scene.tif")
        zipped.write(scene.polygons_lonlat, "data/labels.geojson")
    raster = QgsRasterLayer(f"/vsizip/{archive}/data/scene.tif", "scene")
    labels = QgsVectorLayer(f"/vsizip/{archive}/data/labels.geojson", "labels", "ogr")
    assert raster.isValid() and labels.isValid()
    card, _ = load_package(train(scene, tmp_path, INPUT=[raster], LABELS=labels)["OUTPUT_MODEL"])
    assert [c["name"] for c in card.classes] == CLASS_NAMES and card.training_data == "scene.tif"


@pytest.mark.slow
def test_label_raster_on_another_grid_keeps_its_class_values(geodistill_provider, scene, tmp_path):
    with rasterio.open(scene.label_raster) as labels:
        fine = labels.read(1)
    coarse = write_raster(tmp_path / "coarse.tif", fine[::2, ::2], pixel_size=2.0)
    result = train(scene, tmp_path, LABELS=str(coarse), CLASS_FIELD="", IGNORE_VALUE=0)
    card, _ = load_package(result["OUTPUT_MODEL"])
    assert [c["id"] for c in card.classes] == CLASS_IDS


def test_validation_block_is_held_out_of_training(tmp_path):
    labels = np.full((10, 4), IGNORE_INDEX, dtype=np.uint8)
    labels[:, :2] = 0  # 20 labelled pixels, 2 per row
    scene = LabelledScene(tmp_path / "x.tif", labels, [{"id": 0, "name": "a", "color": "#000000"}])
    training, validation = hold_out_block(scene, 0.2)
    assert (training.labels[8:] == IGNORE_INDEX).all() and (training.labels[:8, :2] == 0).all()
    assert (validation.labels[:8] == IGNORE_INDEX).all() and (validation.labels[8:, :2] == 0).all()


def expect_error(scene, tmp_path, *words, **extra):
    with pytest.raises(QgsProcessingException) as raised:
        train(scene, tmp_path, **extra)
    for word in words:
        assert word in str(raised.value), str(raised.value)
    assert not (tmp_path / "model.safetensors").exists()


def test_labels_outside_the_raster(geodistill_provider, scene, tmp_path):
    far = write_raster(tmp_path / "far.tif", np.ones((20, 20), np.uint8), origin=(600000.0, 4500000.0))
    expect_error(scene, tmp_path, "outside the raster", LABELS=str(far), CLASS_FIELD="")
    polygons = write_polygons(tmp_path / "far.geojson", np.ones((8, 8), int), {1: "water"},
                              crs="EPSG:32634")
    expect_error(scene, tmp_path, "outside the raster", LABELS=str(polygons))


def test_class_field_with_no_values_or_missing(geodistill_provider, scene, tmp_path):
    polygons = write_polygons(tmp_path / "empty.geojson", np.ones((8, 8), int), {1: None})
    expect_error(scene, tmp_path, "no values", LABELS=str(polygons))
    expect_error(scene, tmp_path, "no field 'kind'", "landcover", CLASS_FIELD="kind")
    expect_error(scene, tmp_path, "CLASS_FIELD", CLASS_FIELD="")


def test_more_classes_than_the_teacher_model_has(geodistill_provider, scene, tmp_path):
    config = {"bands": 3, "classes": 2, "global_size": 256, **TINY_NET}
    teacher = tmp_path / "teacher.safetensors"
    save_package(teacher, build("ginet", config).state_dict(), ModelCard(
        name="teacher", task="segmentation", architecture="ginet", config=config,
        classes=[{"id": 0, "name": "field", "color": "#ff0000"},
                 {"id": 1, "name": "forest", "color": "#00ff00"}]))
    expect_error(scene, tmp_path, "water", "more classes than the model has", TEACHER=str(teacher))
    expect_error(scene, tmp_path, "TEACHER", TEACHER=str(teacher), ARCHITECTURE=0)


def prediction_raster(path, values, classes):
    write_raster(path, np.asarray(values, np.uint8), nodata=255)
    with rasterio.open(path, "r+") as dataset:
        dataset.update_tags(**{CLASSES_TAG: json.dumps(classes)})
    return str(path)


CLASSES = [{"id": 1, "name": "road", "color": "#000000"}, {"id": 2, "name": "roof", "color": "#ff0000"},
           {"id": 5, "name": "tree", "color": "#00ff00"}]


def test_evaluation_against_a_hand_computed_confusion_matrix(geodistill_provider, tmp_path):
    predicted = [[1, 1, 2, 2], [1, 2, 2, 5], [5, 5, 5, 255], [1, 1, 1, 1]]
    reference = [[1, 1, 2, 2], [1, 1, 2, 2], [5, 5, 2, 5], [0, 0, 0, 0]]  # 0: unlabelled
    # truth rows / predicted columns in class order road, roof, tree (the 255 pixel is left out):
    # road: 3 road, 1 roof; roof: 3 roof, 2 tree; tree: 2 tree
    expected = [[3, 1, 0], [0, 3, 2], [0, 0, 2]]
    prediction = prediction_raster(tmp_path / "prediction.tif", predicted, CLASSES)
    write_raster(tmp_path / "reference.tif", np.asarray(reference, np.uint8))
    result = processing.run("geodistill:evaluate_segmentation", {
        "PREDICTION": prediction, "REFERENCE": str(tmp_path / "reference.tif"), "IGNORE_VALUE": 0,
        "OUTPUT_REPORT": str(tmp_path / "report.html")})
    data = json.loads(open(result["OUTPUT_JSON"]).read())
    assert data["confusion_matrix"] == expected and data["unpredicted_pixels"] == 1
    ious = {"road": 3 / 4, "roof": 3 / 6, "tree": 2 / 4}  # tp / (row + column - tp)
    assert data["iou_per_class"] == pytest.approx(ious)
    assert data["miou"] == pytest.approx(np.mean(list(ious.values())))
    assert data["overall_accuracy"] == pytest.approx(8 / 11)
    html = open(result["OUTPUT_REPORT"]).read()
    assert "<table>" in html and "roof" in html and "Confusion matrix" in html


def test_evaluation_against_polygons_named_by_class(geodistill_provider, tmp_path):
    prediction = prediction_raster(tmp_path / "prediction.tif", np.full((8, 8), 2), CLASSES)
    truth = np.zeros((8, 8), int)
    truth[:, 4:] = 1
    polygons = write_polygons(tmp_path / "reference.geojson", truth, {0: "roof", 1: "Tree"},
                              to_crs="EPSG:4326")
    result = processing.run("geodistill:evaluate_segmentation", {
        "PREDICTION": prediction, "REFERENCE": str(polygons), "CLASS_FIELD": "landcover",
        "OUTPUT_REPORT": str(tmp_path / "report.html")})
    data = json.loads(open(result["OUTPUT_JSON"]).read())
    assert data["confusion_matrix"] == [[0, 0, 0], [0, 32, 0], [0, 32, 0]]
    assert data["iou_per_class"] == {"road": None, "roof": 0.5, "tree": 0.0}
