"""Failed and cancelled runs: one clear message (the traceback only at debug level), nothing
left that looks finished, files already at the output paths unchanged, and what the run held
released."""
import errno
import shutil
import weakref

import numpy as np
import pytest
import rasterio
import torch
from qgis.core import QgsProcessingException

from .outcomes import RecordingFeedback, refused
from rasters import write_raster

from geodistill.models.errors import Cancelled, InputError, PackageError, shorten, user_message
from geodistill.plugin.algorithms.dehaze import DehazeAlgorithm


def test_cancelled_dehaze_leaves_the_existing_output_byte_identical(geodistill_provider, rgb, out):
    existing = out / "dehazed.tif"
    shutil.copy(rgb, existing)
    refused("geodistill:dehaze", {"INPUT": str(rgb), "MODEL": "dark_channel_prior", "DEVICE": "cpu",
                                  "TILE_SIZE": 64, "OVERLAP": 8, "OUTPUT": str(existing)},
            "Cancelled", folder=out, feedback=RecordingFeedback(cancel_after_progress=1))


def test_segmentation_cancelled_before_the_polygons_leaves_no_class_raster(geodistill_provider, rgb, out):
    refused("geodistill:segment", {
        "INPUT": str(rgb), "MODEL": "default", "DEVICE": "cpu", "TILE_SIZE": 128, "OVERLAP": 16,
        "OUTPUT": str(out / "classes.tif"), "OUTPUT_PROBABILITIES": str(out / "p.tif"),
        "OUTPUT_POLYGONS": str(out / "polygons.gpkg")},
        "Cancelled", folder=out, feedback=RecordingFeedback(cancel_after_progress=80))


def test_a_report_that_cannot_be_written_leaves_no_half_report(geodistill_provider, tmp_path, out):
    classes = np.zeros((8, 8), np.uint8)
    classes[:, 4:] = 1
    prediction = write_raster(tmp_path / "prediction.tif", classes)
    (out / "report.html").mkdir()  # the page's name is taken by a folder: its JSON must not stay
    message = refused("geodistill:evaluate_segmentation", {
        "PREDICTION": str(prediction), "REFERENCE": str(prediction),
        "OUTPUT_REPORT": str(out / "report.html")}, "report.html", folder=out)
    assert sorted(p.name for p in out.iterdir()) == ["report.html"] and "Traceback" not in message


def test_a_tampered_model_leaves_the_existing_output_byte_identical(geodistill_provider, rgb, out,
                                                                   dehaze_package, tmp_path):
    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(dehaze_package.read_bytes())
    data[-5] ^= 0x55
    tampered.write_bytes(bytes(data))
    existing = out / "dehazed.tif"
    shutil.copy(rgb, existing)
    refused("geodistill:dehaze", {"INPUT": str(rgb), "MODEL": str(tampered), "DEVICE": "cpu",
                                  "OUTPUT": str(existing)}, "sha256", folder=out)


def test_the_traceback_goes_to_the_debug_log_only(geodistill_provider, tmp_path, out):
    path = tmp_path / "cut.tif"
    write_raster(path, (np.random.default_rng(0).random((3, 300, 300)) * 200).astype(np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    feedback = RecordingFeedback()
    message = refused("geodistill:dehaze", {"INPUT": str(path), "MODEL": "dark_channel_prior",
                                            "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
                      "cut.tif", folder=out, feedback=feedback)
    assert "Traceback" not in message
    assert any(text.startswith("Traceback") and "RasterioIOError" in text for text in feedback.debug)


def test_a_failed_run_releases_what_its_frames_held():
    algorithm = DehazeAlgorithm()
    held = []

    def failing_step():
        weights = torch.zeros(1_000_000)
        held.append(weakref.ref(weights))
        raise ValueError("boom")

    with pytest.raises(QgsProcessingException):
        with algorithm.user_errors(RecordingFeedback()):
            failing_step()
    assert held[0]() is None


@pytest.mark.parametrize("error,words", [
    (MemoryError(), ("not enough memory", "smaller TILE_SIZE")),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), ("not enough memory",)),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out.tif"),
     ("The disk is full (/data/out.tif)", "Free some space")),
    (PermissionError(errno.EACCES, "Permission denied", "/data/ro.tif"),
     ("Permission denied (/data/ro.tif)", "Choose a file or folder you can read and write")),
    (rasterio.errors.RasterioIOError("Read failed. /d/a.tif, band 1: IReadBlock failed\nmore"),
     ("could not be read or written (Read failed. /d/a.tif, band 1: IReadBlock failed)",
      "damaged or truncated")),
    (RecursionError("maximum recursion depth exceeded"), ("nested too deeply",)),
    (KeyError("input_size"), ("unexpected error (KeyError: 'input_size')", "debug level")),
    (Cancelled("The run was cancelled."), ("Cancelled: The run was cancelled.",)),
    (PackageError("m.safetensors: the weights do not match"), ("m.safetensors: the weights",)),
])
def test_every_error_becomes_one_actionable_line(error, words):
    message = user_message(error)
    assert "\n" not in message and "Traceback" not in message and len(message) <= 600
    for word in words:
        assert word in message, message


def test_pasted_names_are_cut_but_short_words_kept():
    text = shorten(f"Layer '{'x' * 100000}' is odd, see Band 1")
    assert len(text) < 200 and text.endswith("is odd, see Band 1") and "x…x" in text
    assert shorten(InputError("a\n  b").args[0]) == "a b"


def test_scene_classification_cancelled_writes_no_layer(geodistill_provider, rgb, out):
    refused("geodistill:classify_scenes", {
        "INPUT": str(rgb), "MODEL": "default", "DEVICE": "cpu", "CHIP_SIZE": 32,
        "OUTPUT": str(out / "scenes.gpkg"), "OUTPUT_RASTER": str(out / "cells.tif")},
        "Cancelled", folder=out, feedback=RecordingFeedback(cancel_after_progress=1))


def test_a_failed_run_lets_go_of_the_input_layers_it_loaded(geodistill_provider, pair, out):
    from qgis import processing
    from qgis.core import QgsProcessingContext

    context = QgsProcessingContext()
    with pytest.raises(QgsProcessingException, match="PAN_BAND 5 does not exist"):
        processing.run("geodistill:pansharpen", {
            "MS": str(pair.ms_path), "PAN": str(pair.pan_path), "PAN_BAND": 5, "METHOD": 0,
            "DEVICE": "cpu", "OUTPUT": str(out / "sharp.tif")},
            context=context, feedback=RecordingFeedback())
    assert context.temporaryLayerStore().count() == 0
    assert list(out.iterdir()) == []
