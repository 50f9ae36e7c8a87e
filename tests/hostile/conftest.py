"""Small inputs every hostile case starts from (written once per module, a few kB each)."""
from __future__ import annotations

import numpy as np
import pytest

from packages import untrained_dehaze_lite
from rasters import pansharpening_scene, smooth_field, write_raster


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile_data")


@pytest.fixture(scope="module")
def rgb(data):
    """A 96 x 96 uint8 RGB raster with contrast (dehaze, segment, classify accept it)."""
    rng = np.random.default_rng(0)
    image = 40 + 180 * np.stack([smooth_field((96, 96), rng, scale=8) for _ in range(3)])
    return write_raster(data / "rgb.tif", image.astype(np.uint8))


@pytest.fixture(scope="module")
def pair(data):
    """A 4-band MS (16 x 16) and PAN (64 x 64) pair at ratio 4."""
    folder = data / "pair"
    folder.mkdir()
    return pansharpening_scene(folder, bands=4, ratio=4, size=64)


@pytest.fixture(scope="module")
def dehaze_package(data):
    """An untrained 3-band lite dehazing student, packaged."""
    return untrained_dehaze_lite(data / "hostile_dehaze.safetensors", "hostile_dehaze")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Hostile runs train and run tiny nets: on one torch thread (see `one_torch_thread`)."""


@pytest.fixture
def out(tmp_path):
    """An empty output folder."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder
