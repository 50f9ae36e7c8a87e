"""`make demo` runs the four tools and writes only inside its output folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from demo_inputs import SHARED_FILES, demo_inputs  # noqa: E402

WRITTEN_SUFFIXES = {".tif", ".xml", ".gpkg", ".png", ".json", ".html", ".jpg", ".qml"}


@pytest.mark.slow
def test_demo_runs_every_tool_on_the_examples_and_writes_only_in_its_folder(tmp_path):
    out, home = tmp_path / "demo_out", tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home))
    result = subprocess.run([sys.executable, "scripts/demo.py", "--out", str(out), "--examples"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "demo.json").read_text())
    assert summary["source"] == "synthetic examples"
    assert set(summary["results"]) == {"pansharpen", "dehaze", "segment", "classify_scenes"}
    for tool, run in summary["results"].items():
        assert out in Path(run["input"]).parents and out in Path(run["output"]).parents, tool
    with rasterio.open(out / "inputs" / "pan.tif") as pan, rasterio.open(out / "pansharpened_model.tif") as sharp:
        assert (sharp.width, sharp.height, sharp.count) == (pan.width, pan.height, 4)
    with rasterio.open(out / "inputs" / "hazy.tif") as hazy, rasterio.open(out / "dehazed.tif") as clear:
        assert (clear.width, clear.height, clear.count) == (hazy.width, hazy.height, 3)
        assert not np.array_equal(hazy.read(), clear.read())
    with rasterio.open(out / "land_cover.tif") as classes:
        assert classes.count == 1 and len(np.unique(classes.read(1))) >= 2
    stray = [path for path in tmp_path.rglob("*")
             if path.is_file() and out not in path.parents and path.suffix in WRITTEN_SUFFIXES]
    assert stray == []


def test_shared_inputs_are_copied_into_the_demo_folder(tmp_path):
    if not all(path.is_file() for path in SHARED_FILES.values()):
        pytest.skip("the shared data is not here")
    inputs = demo_inputs(tmp_path / "inputs")
    assert inputs.source == "shared data"
    for path in (inputs.ms, inputs.pan, inputs.hazy, inputs.aerial):
        assert path.parent == tmp_path / "inputs" and path.is_file()
    assert inputs.ms.read_bytes() == SHARED_FILES["ms"].read_bytes()
