"""The one GeoTIFF writer: a complete, self-describing file or no change at all.

A full disk is simulated with RLIMIT_FSIZE in a child process (writes past the limit fail with
EFBIG, as on a full file system), since GDAL's GeoTIFF driver then reports no error itself.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from osgeo import gdal
from rasterio.enums import ColorInterp

from geodistill.models.errors import InputError
from geodistill.models.inference.raster_style import ClassEntry, class_entries, class_style_qml
from geodistill.models.inference.raster_writer import (RasterDescription, RasterWriter, WriteError,
                                                       geotiff_profile, temporary_path)

TRANSFORM = Affine(2.0, 0, 500000.0, 0, -2.0, 4500000.0)
CLASSES = [ClassEntry(0, "Building", "#3c1098"), ClassEntry(3, "Road", "#6ec1e4"),
           ClassEntry(7, "Water", "#e2a929")]


def _write(path: Path, array: np.ndarray, description: RasterDescription | None = None) -> Path:
    profile = geotiff_profile(array.shape[1], array.shape[2], array.shape[0], array.dtype.name,
                              "EPSG:32633", TRANSFORM, None)
    with RasterWriter(path, profile, description) as writer:
        writer.write(array, 0)
        return writer.commit()


def test_class_raster_legend_reads_back_with_gdal_from_a_fresh_file(tmp_path):
    values = np.array([[0, 3, 7, 255]] * 4, dtype=np.uint8)[None]
    path = _write(tmp_path / "classes.tif", values, RasterDescription(["class"], CLASSES))

    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    assert table.GetColorEntry(3)[:3] == (0x6e, 0xc1, 0xe4)
    assert table.GetColorEntry(7)[:3] == (0xe2, 0xa9, 0x29)
    assert band.GetColorInterpretation() == gdal.GCI_PaletteIndex
    rat = band.GetDefaultRAT()
    rows = [(rat.GetValueAsInt(r, 0), rat.GetValueAsString(r, 1),
             tuple(rat.GetValueAsInt(r, c) for c in (2, 3, 4))) for r in range(rat.GetRowCount())]
    assert rows == [(0, "Building", (0x3c, 0x10, 0x98)), (3, "Road", (0x6e, 0xc1, 0xe4)),
                    (7, "Water", (0xe2, 0xa9, 0x29))]
    # GDAL 3.6's GeoTIFF driver loads the .aux.xml lazily: asked first, category names come
    # back empty; after any call that loads it (the RAT above, the geotransform) they are there
    assert band.GetCategoryNames() == ["Building", "", "", "Road", "", "", "", "Water"]
    assert band.GetDescription() == "class"
    np.testing.assert_array_equal(band.ReadAsArray(), values[0])
    assert path.with_suffix(".qml").read_text(encoding="utf-8") == class_style_qml(CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "classes.qml", "classes.tif", "classes.tif.aux.xml"]


def test_a_later_raster_at_the_same_path_drops_the_older_class_sidecars(tmp_path):
    path = tmp_path / "out.tif"
    _write(path, np.zeros((1, 8, 8), np.uint8), RasterDescription(["class"], CLASSES))
    _write(path, np.full((3, 8, 8), 9, np.uint8), RasterDescription(["Red", "Green", "Blue"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    with rasterio.open(path) as dataset:
        assert dataset.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def test_repeated_or_missing_card_colours_become_distinct():
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    classes = [{"id": i, "name": f"c{i}", "color": palette[i % 3]} for i in range(30)]
    classes[5]["color"] = None
    entries = class_entries(classes)
    assert len({e.colour for e in entries}) == 30
    assert [e.colour for e in entries[:3]] == palette  # first uses keep the card's colours
    assert [e.value for e in entries] == list(range(30))


@pytest.mark.parametrize("names, expected", [
    (["Blue", "Green", "Red", "NIR"],
     [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]),
    (["Band 1", "Band 2", "Band 3", "Band 4"],
     [ColorInterp.gray, ColorInterp.undefined, ColorInterp.undefined, ColorInterp.undefined]),
    (["red", "red edge", "NIR", ""],
     [ColorInterp.gray, ColorInterp.undefined, ColorInterp.undefined, ColorInterp.undefined]),
    (["Green", "Red", "Red edge", "Blue"],
     [ColorInterp.green, ColorInterp.red, ColorInterp.undefined, ColorInterp.blue]),
])
def test_four_byte_bands_get_explicit_interpretation_and_never_alpha(tmp_path, names, expected):
    array = np.full((4, 20, 30), 100, np.uint8)
    path = _write(tmp_path / "four.tif", array, RasterDescription(names))
    with rasterio.open(path) as dataset:
        assert list(dataset.colorinterp) == expected
        assert [d or "" for d in dataset.descriptions] == names
        assert ColorInterp.alpha not in dataset.colorinterp
        np.testing.assert_array_equal(dataset.read(), array)
        assert dataset.transform == TRANSFORM


def test_missing_folder_is_refused_before_any_file(tmp_path):
    profile = geotiff_profile(10, 10, 1, "uint8", None, TRANSFORM, None)
    with pytest.raises(InputError, match="does not exist"):
        RasterWriter(tmp_path / "nowhere" / "out.tif", profile)
    assert list(tmp_path.iterdir()) == []


def test_output_larger_than_the_free_space_is_refused_before_writing(tmp_path):
    profile = geotiff_profile(2_000_000, 2_000_000, 8, "uint16", None, TRANSFORM, None)
    with pytest.raises(WriteError, match="Not enough free disk space"):
        RasterWriter(tmp_path / "huge.tif", profile)
    assert list(tmp_path.iterdir()) == []


def test_failure_before_commit_removes_the_temporary_file(tmp_path):
    (tmp_path / "out.tif").write_bytes(b"an older result")
    profile = geotiff_profile(64, 64, 1, "uint8", None, TRANSFORM, None)
    with pytest.raises(RuntimeError):
        with RasterWriter(tmp_path / "out.tif", profile) as writer:
            writer.write(np.zeros((1, 64, 64), np.uint8), 0)
            raise RuntimeError("stopped")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    assert (tmp_path / "out.tif").read_bytes() == b"an older result"


DISK_FULL_SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    import numpy as np
    from affine import Affine
    from rasterio.enums import Resampling
    sys.path.insert(0, sys.argv[2])
    from geodistill.models.inference.raster_writer import (RasterWriter, WriteError,
                                                           geotiff_profile)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails (EFBIG)
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    array = np.random.default_rng(0).integers(0, 65535, (3, 1024, 1024), dtype=np.uint16)
    profile = geotiff_profile(1024, 1024, 3, "uint16", "EPSG:32633",
                              Affine(1, 0, 0, 0, -1, 0), None)
    try:
        with RasterWriter(sys.argv[1], profile) as writer:
            writer.write(array, 0)
            writer.build_overviews(Resampling.average)
            writer.commit()
    except WriteError as error:
        print("WriteError:", error)
        sys.exit(3)
""")


def run_with_file_size_limit(script: str, limit: int, *args: str) -> subprocess.CompletedProcess:
    """Run a Python script in a child process whose files may not grow past `limit` bytes."""
    import geodistill

    package_parent = str(Path(geodistill.__file__).parent.parent)
    return subprocess.run([sys.executable, "-c", script, *args[:1], package_parent, str(limit),
                           *args[1:]], capture_output=True, text=True, timeout=300)


def test_disk_full_raises_and_leaves_the_older_output_byte_identical(tmp_path):
    output = tmp_path / "result.tif"
    _write(output, np.arange(64 * 64, dtype=np.uint16).reshape(1, 64, 64))
    before = output.read_bytes()
    done = run_with_file_size_limit(DISK_FULL_SCRIPT, 500_000, str(output))
    assert done.returncode == 3, done.stderr[-2000:]
    assert "WriteError: Writing result.tif failed" in done.stdout
    assert "left unchanged" in done.stdout
    assert output.read_bytes() == before
    assert not temporary_path(output).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.tif"]


def test_enough_room_under_the_same_limit_writes_the_whole_file(tmp_path):
    output = tmp_path / "result.tif"
    done = run_with_file_size_limit(DISK_FULL_SCRIPT, 50_000_000, str(output))
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    with rasterio.open(output) as dataset:
        expected = np.random.default_rng(0).integers(0, 65535, (3, 1024, 1024), dtype=np.uint16)
        np.testing.assert_array_equal(dataset.read(), expected)
        assert dataset.overviews(1) == [2, 4]
