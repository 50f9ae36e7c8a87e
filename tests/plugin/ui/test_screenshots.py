"""scripts/screenshots.py takes a picture of each result in a real QGIS window (Xvfb)."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from support import ROOT
from rasters import write_raster


needs_qgis_window = pytest.mark.skipif(not (shutil.which("xvfb-run") and shutil.which("qgis")),
                                       reason="xvfb-run or qgis is not installed")


def take_screenshots(demo, out):
    return subprocess.run(["/usr/bin/python3", "scripts/screenshots.py", "--demo", str(demo), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)


@pytest.mark.slow
@needs_qgis_window
def test_screenshots_show_each_result_in_a_qgis_window(tmp_path):
    demo = tmp_path / "demo_out"
    demo.mkdir()
    rng = np.random.default_rng(0)
    source = write_raster(demo / "input.tif", rng.integers(0, 255, (3, 64, 64), dtype=np.uint8))
    stripes = np.repeat((np.arange(64) // 8 % 2 * 255).astype(np.uint8)[None, None, :], 64, axis=1)
    result = write_raster(demo / "result.tif", stripes)
    (demo / "demo.json").write_text(json.dumps({"source": "test", "results": {
        "dehaze": {"algorithm": "geodistill:dehaze", "input": str(source), "output": str(result)}}}))
    out = tmp_path / "shots"
    run = take_screenshots(demo, out)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    from qgis.PyQt.QtGui import QImage

    picture = QImage(str(out / "result_dehaze.png"))
    assert picture.width() == 960 and picture.height() == 600
    assert (out / "result_dehaze.png").stat().st_size < 400_000
    # the map shows the result's black and white stripes
    row = picture.height() // 2
    greys = {picture.pixelColor(x, row).lightness() for x in range(picture.width() // 3, picture.width())}
    assert min(greys) < 30 and max(greys) > 225


@pytest.mark.slow
@needs_qgis_window
def test_a_result_qgis_cannot_open_stops_the_screenshots_with_a_message(tmp_path):
    demo = tmp_path / "demo_out"
    demo.mkdir()
    (demo / "demo.json").write_text(json.dumps({"source": "test", "results": {"dehaze": {
        "algorithm": "geodistill:dehaze", "input": str(demo / "gone.tif"), "output": str(demo / "gone.tif")}}}))
    run = take_screenshots(demo, tmp_path / "shots")
    assert run.returncode == 1
    assert "gone.tif cannot be opened" in run.stdout + run.stderr
    assert not (tmp_path / "shots" / "result_dehaze.png").exists()
