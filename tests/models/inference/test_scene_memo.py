"""Whole-scene results shared by the windows of a split raster: stored once, loaded bit for
bit, and keyed by what they depend on (the file's size and time, virtual paths too)."""
import os
import zipfile

import numpy as np

from rasterio.enums import Resampling

from rasters import write_raster

from geodistill.models.inference.raster_io import scene_overview
from geodistill.models.inference.scene_memo import file_state, remembered, shared_scene_results


def test_results_are_computed_once_per_folder_and_loaded_unchanged(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"values": np.arange(5, dtype=np.float64) / 3, "name": np.array("auto")}

    assert len(remembered("kind", ("a",), compute)["values"]) == 5 and len(calls) == 1
    remembered("kind", ("a",), compute)
    assert len(calls) == 2  # outside a shared folder every call computes
    with shared_scene_results(tmp_path / "shared"):
        first = remembered("kind", ("a",), compute)
        again = remembered("kind", ("a",), compute)
        other = remembered("kind", ("b",), compute)
    assert len(calls) == 4  # "a" once, "b" once
    np.testing.assert_array_equal(first["values"], again["values"])
    assert str(again["name"]) == "auto" and other["values"].dtype == np.float64
    assert not [p for p in (tmp_path / "shared").iterdir() if p.name.startswith(".")]


def test_a_changed_raster_is_read_again(tmp_path):
    path = write_raster(tmp_path / "scene.tif", np.full((1, 32, 32), 10, np.uint8))
    with shared_scene_results(tmp_path / "shared"):
        before, _, _ = scene_overview(path, None, 16, Resampling.average)
        write_raster(path, np.full((1, 32, 32), 200, np.uint8))
        os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
        after, _, _ = scene_overview(path, None, 16, Resampling.average)
    assert before.max() == 10 and after.min() == 200


def test_virtual_paths_are_keyed_by_their_size_and_time(tmp_path):
    archive = tmp_path / "scenes.zip"
    for content in (b"first", b"second, longer"):
        with zipfile.ZipFile(archive, "w") as packed:
            packed.writestr("a.tif", content)
        state = file_state(f"/vsizip/{archive}/a.tif")
        assert state == (f"/vsizip/{archive}/a.tif", len(content), state[2]) and state[2] > 0
    assert file_state(tmp_path / "missing.tif") == (str(tmp_path / "missing.tif"),)
