"""A run opens each input raster once for its Scene and once for the engine's reader (a scene
classification, which reads its chips itself, only once), and gives the pixels of the engine
run over the input with the whole-scene statistics of the path-based helpers (what the tasks
composed before the Scene)."""
from contextlib import contextmanager

import numpy as np
import pytest
import rasterio

from dehaze_scenes import hazy_scene
from rasters import ORIGIN, pansharpening_scene

from geodistill.models.data.haze import MODEL_SCALING
from geodistill.models.inference import raster_io
from geodistill.models.inference.area import Area
from geodistill.models.inference.engine import OutputSpec, RasterInput, run_tiled
from geodistill.models.inference.global_context import read_global_view
from geodistill.models.inference.raster_style import class_entries
from geodistill.models.inference.scene import open_scene
from geodistill.models.inference.tiling import TilingOptions
from geodistill.models.runtime.loader import open_for_inference
from geodistill.models.tasks.classify import ClassifyRequest, classify_scenes
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze, model_needs
from geodistill.models.tasks.model_fit import load_fitting_model
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen
from geodistill.models.tasks.segment import SegmentRequest, segment
from geodistill.models.tasks.segment import model_needs as segmentation_needs

X0, Y0 = ORIGIN


@contextmanager
def counted_opens(monkeypatch):
    """A list that gets the path of every rasterio.open within the block."""
    opened, real_open = [], rasterio.open

    def counting(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting)
    yield opened
    monkeypatch.setattr(rasterio, "open", real_open)


def pixels(path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read()


@pytest.fixture
def hazy(tmp_path):
    return hazy_scene(tmp_path, size=160).path


@pytest.fixture
def landscape(tmp_path):
    """A 3-band uint16 raster of 128 x 128 pixels."""
    return hazy_scene(tmp_path, "uint16", size=128, name="landscape.tif").path


def test_a_dehaze_run_opens_its_input_twice(hazy, tmp_path, monkeypatch):
    with counted_opens(monkeypatch) as opened:
        dehaze(DehazeRequest(str(hazy), str(tmp_path / "out.tif"), device="cpu", tile_size=64,
                             overlap=16))
    assert opened.count(str(hazy)) == 2


def test_a_dehaze_run_over_an_area_opens_its_input_twice(hazy, tmp_path, monkeypatch):
    area = Area(X0 + 10, Y0 - 120, X0 + 130, Y0 - 20)
    with counted_opens(monkeypatch) as opened:
        dehaze(DehazeRequest(str(hazy), str(tmp_path / "out.tif"), device="cpu", tile_size=64,
                             overlap=16, area=area))
    assert opened.count(str(hazy)) == 2


def test_dehazed_pixels_are_those_of_the_engine_with_the_scene_statistics(hazy, tmp_path):
    result = dehaze(DehazeRequest(str(hazy), str(tmp_path / "out.tif"), device="cpu",
                                  tile_size=64, overlap=16))
    path, _ = load_fitting_model(model_needs(3, hazy.name), "default", None)
    model = open_for_inference(path, "cpu")
    scaling = raster_io.scene_scaling(hazy, **MODEL_SCALING)
    reference = run_tiled(model.tile_model(), [RasterInput(hazy, scaling=scaling)],
                          OutputSpec(tmp_path / "reference.tif", band_count=3, dtype="uint8",
                                     kind="continuous", scaling=scaling),
                          TilingOptions(tile_size=64, overlap=16, multiple_of=model.multiple_of),
                          device="cpu")
    assert np.array_equal(pixels(result.output_path), pixels(reference.output_path))


def test_a_segment_run_opens_its_input_twice(landscape, tmp_path, monkeypatch):
    with counted_opens(monkeypatch) as opened:
        segment(SegmentRequest(str(landscape), str(tmp_path / "classes.tif"), device="cpu",
                               tile_size=64, overlap=16,
                               area=Area(X0 + 8, Y0 - 100, X0 + 120, Y0 - 10)))
    assert opened.count(str(landscape)) == 2


def test_segmented_classes_are_those_of_the_engine_with_the_scene_statistics(landscape, tmp_path):
    result = segment(SegmentRequest(str(landscape), str(tmp_path / "classes.tif"), device="cpu",
                                    tile_size=64, overlap=16))
    path, card = load_fitting_model(segmentation_needs(3), "default", None)
    model = open_for_inference(path, "cpu")
    scaling = raster_io.scene_scaling(landscape)
    view = read_global_view(landscape, None, scaling, model.config_value("global_size"))
    reference = run_tiled(model.ginet_tile_model(view, (128, 128), (0, 0)),
                          [RasterInput(landscape, scaling=scaling)],
                          OutputSpec(tmp_path / "reference.tif", band_count=len(card.classes),
                                     kind="classes", nodata=255,
                                     classes=class_entries(card.classes)),
                          TilingOptions(tile_size=64, overlap=16, multiple_of=model.multiple_of),
                          device="cpu")
    assert np.array_equal(pixels(result.output_path), pixels(reference.output_path))


def test_a_scene_classification_reads_its_chips_from_the_scene(hazy, monkeypatch):
    with counted_opens(monkeypatch) as opened:
        classify_scenes(ClassifyRequest(str(hazy), chip_size=32, device="cpu"))
    assert opened.count(str(hazy)) == 1


def test_a_pansharpen_run_opens_each_input_twice(tmp_path, monkeypatch):
    pair = pansharpening_scene(tmp_path)
    with counted_opens(monkeypatch) as opened:
        pansharpen(PansharpenRequest(str(pair.ms_path), str(pair.pan_path),
                                     str(tmp_path / "out.tif"), device="cpu", tile_size=64,
                                     overlap=16,
                                     area=Area(X0 + 8, Y0 - 100, X0 + 120, Y0 - 16)))
    assert (opened.count(str(pair.ms_path)), opened.count(str(pair.pan_path))) == (2, 2)


def test_the_scene_reads_the_whole_raster_small_once(hazy, monkeypatch):
    with open_scene(hazy) as scene:
        calls = []
        real_read = raster_io._read_decimated
        monkeypatch.setattr(raster_io, "_read_decimated",
                            lambda *args: calls.append(args) or real_read(*args))
        first, again = scene.scaling(), scene.scaling()
        assert first == again and len(calls) == 1
        assert first == raster_io.scene_scaling(hazy)
