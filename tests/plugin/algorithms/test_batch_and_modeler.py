"""Batch mode over three rasters, and the example graphical model run headless."""
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingMultiStepFeedback,
    QgsVectorLayer,
    QgsWkbTypes,
)

from dehaze_scenes import hazy_scene
from rasters import pansharpening_scene

from geodistill.models import nets
from geodistill.models.classical.pansharpen import upsample_bicubic
from geodistill.models.package import ModelCard, save_package
from support import ROOT

EXAMPLE_MODEL = (ROOT / "resources" / "models" / "examples"
                 / "dehaze_segment_polygons.model3")
CLASSES = [{"id": 10, "name": "field", "color": "#e3c16f"},
           {"id": 20, "name": "forest", "color": "#2f7d32"},
           {"id": 30, "name": "water", "color": "#1f78b4"}]


def test_pansharpen_as_a_batch_over_three_pairs(geodistill_provider, tmp_path):
    """Rows run one after the other with one algorithm and a multi-step feedback, as the
    Processing batch dialog runs them."""
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("geodistill:pansharpen")
    context = QgsProcessingContext()
    feedback = QgsProcessingFeedback()
    steps = QgsProcessingMultiStepFeedback(3, feedback)
    progress = []
    feedback.progressChanged.connect(progress.append)
    scenes = []
    for row in range(3):
        folder = tmp_path / f"pair{row}"
        folder.mkdir()
        scenes.append(pansharpening_scene(folder, bands=4, ratio=4, size=64, seed=row))
    for row, scene in enumerate(scenes):
        steps.setCurrentStep(row)
        results, ok = algorithm.run({"MS": str(scene.ms_path), "PAN": str(scene.pan_path), "METHOD": 1,
                                     "DEVICE": "cpu", "TILE_SIZE": 64, "OVERLAP": 16,
                                     "OUTPUT": str(tmp_path / f"sharp{row}.tif")}, context, steps)
        assert ok, feedback.textLog()
        with rasterio.open(results["OUTPUT"]) as out, rasterio.open(scene.ms_path) as ms:
            assert (out.width, out.height, out.count) == (64, 64, 4)
            sharp = out.read().astype(float)
            bicubic = upsample_bicubic(ms.read().astype(float), scene.ratio)
        truth = scene.truth.astype(float)
        assert np.sqrt(((sharp - truth) ** 2).mean()) < 0.7 * np.sqrt(((bicubic - truth) ** 2).mean())
    assert [Path(tmp_path / f"sharp{row}.tif").is_file() for row in range(3)] == [True] * 3
    assert max(progress) >= 99.9 and progress == sorted(progress)


@pytest.fixture
def segmentation_package(tmp_path):
    """An untrained tiny GINet packaged with three classes (values 10, 20, 30)."""
    torch.manual_seed(0)
    config = {"bands": 3, "classes": 3, "widths": [8, 16], "blocks": [1, 1], "decoder_width": 8,
              "guidance_width": 8}
    net = nets.build("ginet", config)
    card = ModelCard(name="tiny_landcover", task="segmentation", architecture="ginet",
                     config=dict(net.config.__dict__), input_bands={"image": ["red", "green", "blue"]},
                     classes=CLASSES, tile_size=64, overlap=16)
    path = tmp_path / "tiny_landcover.safetensors"
    save_package(path, net.state_dict(), card)
    return path


def test_example_model_dehazes_segments_and_polygonizes(geodistill_provider, tmp_path, segmentation_package):
    registered = {a.id() for a in geodistill_provider.algorithms()}
    absent = {"geodistill:dehaze", "geodistill:segment"} - registered
    if absent:
        pytest.skip(f"the example model needs {', '.join(sorted(absent))}, not registered yet")
    from qgis import processing

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(EXAMPLE_MODEL))
    assert model.validate()[0], model.validate()[1]
    scene = hazy_scene(tmp_path, size=96)
    polygons_path = tmp_path / "polygons.gpkg"
    classes_path = tmp_path / "classes.tif"
    results = processing.run(model, {
        "hazy_raster": str(scene.path), "dehaze_model": "dark_channel_prior",
        "segmentation_model": str(segmentation_package), "device": "cpu", "min_area": 0,
        "segment:Classes": str(classes_path), "segment:Polygons": str(polygons_path)})
    assert Path(results["segment:Polygons"]) == polygons_path
    with rasterio.open(classes_path) as classes, rasterio.open(scene.path) as source:
        assert classes.transform == source.transform and classes.crs == source.crs
        values = set(np.unique(classes.read(1)).tolist())
        pixel_area = abs(source.transform.a * source.transform.e)
        raster_area = source.width * source.height * pixel_area
    assert values <= {10, 20, 30} and values
    layer = QgsVectorLayer(str(polygons_path), "polygons", "ogr")
    assert layer.isValid() and layer.geometryType() == QgsWkbTypes.PolygonGeometry
    features = list(layer.getFeatures())
    assert {f["class_id"] for f in features} == values
    assert {f["class_name"] for f in features} <= {"field", "forest", "water"}
    total = sum(f.geometry().area() for f in features)
    assert total == pytest.approx(raster_area, rel=1e-6)  # the polygons tile the whole raster
