"""Outputs are checked before any work and never left half-written: missing folders and wrong
extensions are refused up front for every output (models and reports included), a full disk
fails the algorithm with a clear message and leaves an older output byte-identical, a failed
polygon step leaves no class raster, and NaN/Inf inputs are nodata, counted in the log."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis import processing
from qgis.core import QgsProcessingException

from rasters import write_raster

from geodistill.models.errors import InputError
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.classify_evaluation import ClassifierEvaluationRequest, evaluate_classifier
from geodistill.models.tasks.classify_training import ClassifierTrainingRequest, train_scene_classifier
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.dehaze_evaluation import DehazeEvaluationRequest, evaluate_dehazing
from geodistill.models.tasks.dehaze_training import DehazeTrainingRequest, train_dehazing_model
from geodistill.models.tasks.pansharpen_evaluation import (PansharpenEvaluationRequest,
                                                           evaluate_pansharpening)
from geodistill.models.tasks.pansharpen_training import (PansharpenTrainingRequest,
                                                         train_pansharpening_model)
from geodistill.models.tasks.report import write_report
from geodistill.models.tasks.segment import SegmentRequest, segment
from geodistill.models.tasks.segment_evaluation import (SegmentationEvaluationRequest,
                                                        evaluate_segmentation)
from geodistill.models.tasks.segment_training import (SegmentationTrainingRequest,
                                                      train_segmentation_model)


def files_besides_statistics(folder):
    """File names in `folder`, leaving out GDAL's statistics sidecars (.aux.xml), which QGIS
    writes beside a raster it has loaded when it lets the layer go."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".aux.xml"))


def training_runs(output):
    """Each training task with `output` as its model path (the inputs need not exist: the
    output is checked first)."""
    return [
        lambda: train_scene_classifier(ClassifierTrainingRequest(output, chips_folder="nowhere")),
        lambda: train_dehazing_model(DehazeTrainingRequest(output, clear_folder="nowhere")),
        lambda: train_pansharpening_model(PansharpenTrainingRequest([("a.tif", "b.tif")], output)),
        lambda: train_segmentation_model(SegmentationTrainingRequest(["a.tif"], "b.tif", output)),
    ]


def evaluation_runs(report):
    return [
        lambda: evaluate_classifier(ClassifierEvaluationRequest(report, chips_folder="nowhere")),
        lambda: evaluate_dehazing(DehazeEvaluationRequest(report, clear_folder="nowhere")),
        lambda: evaluate_pansharpening(PansharpenEvaluationRequest("a.tif", "b.tif", report)),
        lambda: evaluate_segmentation(SegmentationEvaluationRequest("a.tif", "b.tif", report)),
    ]


@pytest.mark.parametrize("index", range(4))
def test_training_output_in_a_missing_folder_is_refused_first(tmp_path, index):
    with pytest.raises(InputError, match="does not exist"):
        training_runs(str(tmp_path / "missing" / "model.safetensors"))[index]()
    with pytest.raises(InputError, match=r"\.safetensors"):
        training_runs(str(tmp_path / "model.pt"))[index]()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("index", range(4))
def test_report_under_another_extension_or_folder_is_refused_first(tmp_path, index):
    with pytest.raises(InputError, match=r"\.html"):
        evaluation_runs(str(tmp_path / "scores.png"))[index]()
    with pytest.raises(InputError, match="does not exist"):
        evaluation_runs(str(tmp_path / "missing" / "scores.html"))[index]()
    assert list(tmp_path.iterdir()) == []


def test_report_files_are_complete(tmp_path):
    html, json_path = write_report(tmp_path / "r.html", "Title", ["line"], [], {"score": 1.5})
    assert '"score": 1.5' in json_path.read_text()
    assert "<h1>Title</h1>" in html.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]


def test_raster_output_in_a_missing_folder_fails_before_work(geodistill_provider, tmp_path):
    source = write_raster(tmp_path / "in.tif", np.full((3, 32, 32), 90, np.uint8))
    with pytest.raises(QgsProcessingException, match="does not exist"):
        processing.run("geodistill:dehaze", {
            "INPUT": str(source), "MODEL": "dark_channel_prior", "DEVICE": "cpu",
            "OUTPUT": str(tmp_path / "missing" / "out.tif")})
    assert files_besides_statistics(tmp_path) == ["in.tif"]


def test_failed_polygons_leave_no_class_raster(tmp_path):
    source = write_raster(tmp_path / "in.tif", np.random.default_rng(0).integers(
        0, 255, (3, 64, 64)).astype(np.uint8))
    (tmp_path / "regions.gpkg").mkdir()  # a folder where the polygon file should go
    with pytest.raises(Exception):
        segment(SegmentRequest(str(source), str(tmp_path / "classes.tif"), device="cpu",
                               tile_size=64, overlap=16, polygons_path=str(tmp_path / "regions.gpkg"),
                               probabilities_path=str(tmp_path / "probabilities.tif")))
    assert files_besides_statistics(tmp_path) == ["in.tif", "regions.gpkg"]


def test_non_finite_input_values_are_nodata_and_counted(tmp_path):
    rng = np.random.default_rng(1)
    array = (0.2 + 0.5 * rng.random((3, 64, 64))).astype(np.float32)
    array[0, 5, 7] = np.inf
    array[1, 20, 30] = -np.inf
    array[2, 40, 50] = np.nan
    source = write_raster(tmp_path / "float.tif", array)
    lines = []
    dehaze(DehazeRequest(str(source), str(tmp_path / "clear.tif"), model="dark_channel_prior",
                         device="cpu", tile_size=64, overlap=16), Callbacks(log=lines.append))
    with rasterio.open(tmp_path / "clear.tif") as out:
        values = out.read()
        assert np.isnan(out.nodata)
    bad = np.zeros((64, 64), bool)
    bad[5, 7] = bad[20, 30] = bad[40, 50] = True
    assert np.all(np.isnan(values[:, bad]))
    assert np.all(np.isfinite(values[:, ~bad]))
    assert any(line.startswith("3 pixel(s) of float.tif hold NaN or infinite") for line in lines)


DISK_FULL_RUN = textwrap.dedent("""
    import resource, signal, sys
    sys.path.insert(0, sys.argv[1])
    from qgis.core import QgsApplication
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    Processing.initialize()
    import geodistill
    plugin = geodistill.classFactory(None)
    plugin.initProcessing()
    from qgis import processing
    from qgis.core import QgsProcessingException
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    try:
        processing.run("geodistill:dehaze", {"INPUT": sys.argv[2], "MODEL": "dark_channel_prior",
                       "DEVICE": "cpu", "TILE_SIZE": 256, "OVERLAP": 32, "OUTPUT": sys.argv[3]})
    except QgsProcessingException as error:
        print("FAILED:", error)
        sys.exit(3)
""")


def test_disk_full_fails_the_algorithm_and_keeps_the_older_output(tmp_path):
    import geodistill

    noise = np.random.default_rng(2).integers(0, 255, (3, 512, 512)).astype(np.uint8)
    source = write_raster(tmp_path / "noisy.tif", noise)
    output = write_raster(tmp_path / "result.tif", np.full((3, 8, 8), 7, np.uint8))
    before = output.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", DISK_FULL_RUN, str(Path(geodistill.__file__).parent.parent),
         str(source), str(output)], capture_output=True, text=True, timeout=300,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
             "PYTHONPATH": ":".join(p for p in sys.path if p)})
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-3000:]
    message = done.stdout.split("FAILED:", 1)[1]
    assert "Writing result.tif failed" in message and "left unchanged" in message
    assert "Traceback" not in message
    assert output.read_bytes() == before
    assert files_besides_statistics(tmp_path) == ["noisy.tif", "result.tif"]


def test_scene_grid_in_a_missing_folder_fails_before_work(geodistill_provider, tmp_path):
    source = write_raster(tmp_path / "in.tif", np.full((3, 64, 64), 90, np.uint8))
    with pytest.raises(QgsProcessingException, match="scene grid .*does not exist"):
        processing.run("geodistill:classify_scenes", {
            "INPUT": str(source), "DEVICE": "cpu", "CHIP_SIZE": 32,
            "OUTPUT": str(tmp_path / "missing" / "grid.gpkg"),
            "OUTPUT_RASTER": str(tmp_path / "cells.tif")})
    assert files_besides_statistics(tmp_path) == ["in.tif"]


def test_non_finite_ms_and_pan_values_stay_local_in_mtf_glp(tmp_path):
    from rasters import pansharpening_scene
    from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen

    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=128, dtype="float32")
    with rasterio.open(scene.ms_path, "r+") as ms:
        array = ms.read()
        array[2, 10, 12] = np.inf
        ms.write(array)
    with rasterio.open(scene.pan_path, "r+") as pan:
        array = pan.read()
        array[0, 100, 20] = -np.inf
        pan.write(array)
    lines = []
    pansharpen(PansharpenRequest(str(scene.ms_path), str(scene.pan_path),
                                 str(tmp_path / "sharp.tif"), method="mtf_glp", device="cpu",
                                 tile_size=64, overlap=16), Callbacks(log=lines.append))
    with rasterio.open(tmp_path / "sharp.tif") as out:
        values = out.read()
    bad = ~np.all(np.isfinite(values), axis=0)
    assert bad[40:44, 48:52].all() and bad[100, 20]  # the MS pixel's 4 x 4 and the PAN pixel
    assert bad.sum() <= 64  # only near them: the rest of the scene is sharpened
    assert any("1 pixel(s) of ms.tif" in line for line in lines)
    assert any("1 pixel(s) of pan.tif" in line for line in lines)
