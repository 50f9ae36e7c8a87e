"""Inference needs no torch: the four inference algorithms run where torch cannot be imported,
in a headless QGIS and in qgis_process, on ONNX Runtime, and write the same rasters as a run
where torch is installed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import rasterio

from support import ROOT, qgis_process_runner
from hazy_scenes import clear_scene
from inference_runs import run_all
from rasters import pansharpening_scene, write_raster

TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    scene = pansharpening_scene(folder, bands=4, ratio=4, size=128)
    hazy = 0.6 * clear_scene(3, 160, seed=2) + 0.35
    rgb = write_raster(folder / "rgb.tif", np.round(hazy * 255).astype(np.uint8), pixel_size=2.0)
    return {"ms": str(scene.ms_path), "pan": str(scene.pan_path), "rgb": str(rgb)}


def link_parent() -> str:
    """The folder holding the `geodistill` link conftest made: the plugin imports as in QGIS."""
    return next(p for p in sys.path if (Path(p) / "geodistill").is_symlink())


def run_without_torch(folder: Path, inputs: dict) -> dict:
    (folder / "inputs.json").write_text(json.dumps(inputs))
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    completed = subprocess.run(
        [sys.executable, str(TESTS / "inference_runs.py"), link_parent(), str(folder), "block-torch"],
        capture_output=True, text=True, timeout=600, env=environment)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert completed.returncode == 0 and lines, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(lines[0].partition(" ")[2])


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.transform, dataset.crs, dataset.dtypes[0]


def test_all_inference_algorithms_run_on_onnx_runtime_without_torch(geodistill_provider, inputs,
                                                                     tmp_path):
    (tmp_path / "no_torch").mkdir()
    without = run_without_torch(tmp_path / "no_torch", inputs)
    assert without["torch_imported"] is False
    assert f"Backend: ONNX Runtime {onnxruntime.__version__}, CPUExecutionProvider" in without["report"]
    assert "torch: not installed" in without["report"]

    (tmp_path / "with_torch").mkdir()
    with_torch = run_all(tmp_path / "with_torch", inputs)
    for name, path in without["outputs"].items():
        values, transform, crs, dtype = read(path)
        expected, expected_transform, expected_crs, expected_dtype = read(with_torch["outputs"][name])
        assert (transform, crs, dtype) == (expected_transform, expected_crs, expected_dtype), name
        np.testing.assert_array_equal(values, expected, err_msg=name)

    sharp, transform, _, dtype = read(without["outputs"]["pansharpen"])
    with rasterio.open(inputs["ms"]) as ms:
        ms_values = ms.read().astype(float)
    assert sharp.shape == (4, 128, 128) and dtype == "uint16" and transform.a == 1.0
    # the sharpened image averaged back over each MS pixel gives the MS again
    low = sharp.astype(float).reshape(4, 32, 4, 32, 4).mean(axis=(2, 4))
    assert np.abs(low - ms_values).mean() / ms_values.mean() < 0.05

    dehazed, _, _, dtype = read(without["outputs"]["dehaze"])
    hazy = read(inputs["rgb"])[0]
    assert dtype == "uint8" and dehazed.shape == hazy.shape
    assert dehazed.min(axis=0).mean() < hazy.min(axis=0).mean() - 10  # the haze veil is lifted

    classes = read(without["outputs"]["segment"])[0]
    assert classes.shape == (1, 160, 160) and set(np.unique(classes)) <= set(range(6)) | {255}

    cells = read(without["outputs"]["classify"])[0]
    assert cells.shape == (1, 4, 4) and (cells <= 30).all()  # 30 classes and 'uncertain' (id 30)


def test_qgis_process_segments_without_torch(geodistill_provider, inputs, tmp_path, monkeypatch):
    """qgis_process with torch blocked from its Python's start (PYQGIS_STARTUP) segments the
    raster with the bundled model exactly as a run in this process does."""
    startup = tmp_path / "block_torch.py"
    startup.write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                       "from inference_runs import TorchBlocker\nsys.meta_path.insert(0, TorchBlocker())\n")
    monkeypatch.setenv("PYQGIS_STARTUP", str(startup))
    run = qgis_process_runner(Path(link_parent()), tmp_path / "profile")
    diagnostics = run("run", "geodistill:diagnostics", "--DEVICE=auto")
    assert diagnostics.returncode == 0, diagnostics.stderr
    assert "torch: not installed" in diagnostics.stdout
    assert f"Backend: ONNX Runtime {onnxruntime.__version__}, CPUExecutionProvider" in diagnostics.stdout
    result = run("run", "geodistill:segment", f"--INPUT={inputs['rgb']}", "--TILE_SIZE=64",
                 "--OVERLAP=16", f"--OUTPUT={tmp_path / 'classes.tif'}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    from qgis import processing

    expected = processing.run("geodistill:segment", {"INPUT": inputs["rgb"], "TILE_SIZE": 64, "OVERLAP": 16,
                                                     "OUTPUT": str(tmp_path / "here.tif")})["OUTPUT"]
    np.testing.assert_array_equal(read(tmp_path / "classes.tif")[0], read(expected)[0])
