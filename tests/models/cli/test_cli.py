"""The geodistill command line in one process: outputs equal the task functions' outputs,
pairs are matched, the manifest records sha256s, failures are reported per scene, and reruns
skip, redo and resume as the manifest says."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geodistill.models.cli.main import RunSummary, run
from geodistill.models.errors import GeoDistillError
from geodistill.models.cli.manifest import sha256_of
from geodistill.models.cli.scenes import pair_scenes
from geodistill.models.cli.windows import plan_windows
from geodistill.models.tasks.classify import ClassifyRequest, classify_scenes
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen
from rasters import pansharpening_scene, write_raster
from support import ROOT



def pixels(path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read()


def pair_folder(folder: Path, names: list[str], size: int = 128) -> Path:
    """MS/PAN pairs named <name>_ms.tif / <name>_pan.tif, each a different synthetic scene."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        work = folder / f"tmp-{name}"
        work.mkdir()
        scene = pansharpening_scene(work, size=size, seed=seed)
        scene.ms_path.rename(folder / f"{name}_ms.tif")
        scene.pan_path.rename(folder / f"{name}_pan.tif")
        work.rmdir()
    return folder


def test_pairs_are_matched_by_name_and_by_csv(tmp_path):
    for name in ("a_ms.tif", "a_pan.tif", "MUL_b.tif", "PAN_b.tif", "c_ms.tif", "d.tif",
                 "e1.tif", "e2.tif"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "pairs.csv").write_text("name,ms,pan\ne,e1.tif,e2.tif\n")
    found = pair_scenes([str(tmp_path / "pairs.csv"), str(tmp_path)])
    pairs = {scene.name: tuple(Path(p).name for p in scene.inputs) for scene in found.scenes}
    assert pairs == {"e": ("e1.tif", "e2.tif"), "a": ("a_ms.tif", "a_pan.tif"),
                     "b": ("MUL_b.tif", "PAN_b.tif")}
    reasons = {Path(path).name: reason for path, reason in found.problems}
    assert set(reasons) == {"c_ms.tif", "d.tif", "e1.tif", "e2.tif"}
    assert "without a PAN" in reasons["c_ms.tif"] and "neither MS nor PAN" in reasons["d.tif"]


def test_windows_cover_the_raster_once_with_context_around_each_core():
    plans = plan_windows(1000, 700, 256, 32, multiple=4)
    covered = np.zeros((1000, 700), int)
    for plan in plans:
        core, region = plan.core, plan.region
        covered[core.row_off:core.row_off + core.height, core.col_off:core.col_off + core.width] += 1
        assert core.row_off % 16 == 0 and core.col_off % 16 == 0
        assert (region.height, region.width) == (256 + 2 * 32, 256 + 2 * 32)
        for first, size, length, region_first, region_size in (
                (core.row_off, core.height, 1000, region.row_off, region.height),
                (core.col_off, core.width, 700, region.col_off, region.width)):
            # 32 pixels of context on each side of the core, except at the raster's edge
            assert first == 0 or first - region_first >= 32
            assert first + size == length or region_first + region_size - (first + size) >= 32
    assert np.all(covered == 1)
    assert len(plans) == 4 * 3  # the 1000 - 768 = 232 rows left make a window of their own
    assert len(plan_windows(200, 200, 256, 32)) == 1


def test_one_process_run_matches_the_task_and_never_imports_dask(tmp_path):
    inputs = pair_folder(tmp_path / "in", ["north", "south"])
    out = tmp_path / "out"
    command = [sys.executable, "-X", "importtime", "-m", "models.cli", "pansharpen", str(inputs),
               "--output-dir", str(out), "--method", "mtf_glp", "--tile-size", "64"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=""))
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "2 done, 0 skipped, 0 failed" in finished.stdout
    imported = [line.split("|")[-1].strip() for line in finished.stderr.splitlines()
                if line.startswith("import time:")]
    assert "models.tasks.pansharpen" in imported
    assert not [name for name in imported if name.split(".")[0] in ("dask", "distributed")]
    manifest = json.loads((out / "manifest.json").read_text())["entries"]
    for name in ("north", "south"):
        expected = tmp_path / f"{name}-task.tif"
        pansharpen(PansharpenRequest(str(inputs / f"{name}_ms.tif"), str(inputs / f"{name}_pan.tif"),
                                     str(expected), method="mtf_glp", tile_size=64))
        np.testing.assert_array_equal(pixels(out / f"{name}.tif"), pixels(expected))
        with rasterio.open(out / f"{name}.tif") as result, rasterio.open(inputs / f"{name}_pan.tif") as pan:
            assert (result.transform, result.crs, result.count) == (pan.transform, pan.crs, 4)
        entry = manifest[f"{name}.tif"]
        assert entry["sha256"] == sha256_of(out / f"{name}.tif")
        assert entry["parameters"]["method"] == "mtf_glp" and entry["parameters"]["tile_size"] == 64
        assert [Path(i["path"]).name for i in entry["inputs"]] == [f"{name}_ms.tif", f"{name}_pan.tif"]


def test_dehaze_and_classify_outputs_match_their_tasks(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "in").mkdir()
    raster = write_raster(tmp_path / "in" / "hazy.tif", (rng.random((3, 96, 96)) * 180 + 60).astype(np.uint8))
    out = tmp_path / "out"
    summary = run(["dehaze", str(raster), "--output-dir", str(out), "--model", "dark_channel_prior"])
    assert (summary.done, summary.failed) == (["hazy"], [])
    expected = tmp_path / "task.tif"
    dehaze(DehazeRequest(str(raster), str(expected), model="dark_channel_prior"))
    np.testing.assert_array_equal(pixels(out / "hazy.tif"), pixels(expected))

    summary = run(["classify", str(raster), "--output-dir", str(out), "--chip-size", "32"])
    assert summary.done == ["hazy"]
    result = classify_scenes(ClassifyRequest(str(raster), chip_size=32))
    from osgeo import ogr
    layer_source = ogr.Open(str(out / "hazy.gpkg"))
    layer = layer_source.GetLayer(0)
    features = {(f.GetField("cell_row"), f.GetField("cell_col")): (f.GetField("class_id"), f.GetField("confidence"))
                for f in layer}
    cells = {(c["row"], c["col"]): (c["class_id"], c["confidence"]) for c in result.cells()}
    assert features.keys() == cells.keys() and len(cells) == 9
    for key, (class_id, confidence) in cells.items():
        assert features[key][0] == class_id and features[key][1] == pytest.approx(confidence, abs=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["hazy.gpkg", "hazy.tif", "manifest.json"]


def test_failures_are_per_scene_and_reruns_redo_only_what_changed(tmp_path):
    inputs = pair_folder(tmp_path / "in", ["good", "other"])
    (inputs / "broken_ms.tif").write_text("not a raster")
    (inputs / "broken_pan.tif").write_text("not a raster")
    (inputs / "lonely_ms.tif").write_bytes((inputs / "good_ms.tif").read_bytes())
    out = tmp_path / "out"
    arguments = ["pansharpen", str(inputs), "--output-dir", str(out), "--method", "mtf_glp"]
    first = run(arguments)
    assert sorted(first.done) == ["good", "other"]
    failed = dict(first.failed)
    assert set(failed) == {"broken", str(inputs / "lonely_ms.tif")}
    assert "Traceback" not in failed["broken"] and "broken" in failed["broken"]
    assert sorted(p.name for p in out.iterdir()) == ["good.tif", "manifest.json", "other.tif"]
    good = pixels(out / "good.tif")

    (out / "good.tif").unlink()
    (out / "other.tif").write_bytes(b"changed")
    again = run(arguments)
    assert sorted(again.done) == ["good", "other"] and again.skipped == []
    np.testing.assert_array_equal(pixels(out / "good.tif"), good)

    assert run(arguments).skipped == ["good", "other"]
    os.utime(out / "good.tif")  # touched, same bytes: still current
    data = bytearray((out / "other.tif").read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: redone
    (out / "other.tif").write_bytes(bytes(data))
    touched = run(arguments)
    assert (touched.done, touched.skipped) == (["other"], ["good"])
    changed = run(arguments + ["--overlap", "16"])
    assert sorted(changed.done) == ["good", "other"]
    manifest = json.loads((out / "manifest.json").read_text())["entries"]
    assert manifest["good.tif"]["parameters"]["overlap"] == 16


def test_summary_reports_throughput_and_failures():
    summary = RunSummary(done=["a", "b"], skipped=["c"], failed=[("d", "no PAN")],
                         workers={"local": 2}, seconds=4.0, megapixels=8.0)
    lines = summary.lines()
    assert lines[0] == "2 done, 1 skipped, 1 failed in 4.0 s (0.50 scenes/s, 2.00 Mpx/s)"
    assert "failed: d: no PAN" in lines


def test_unusable_arguments_give_a_message_and_status_2(tmp_path, capsys):
    from geodistill.models.cli.main import main

    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["dehaze", str(tmp_path / "missing.tif"), "--output-dir", str(tmp_path / "o")]) == 2
    assert main(["dehaze", str(blocker), "--output-dir", str(blocker / "out")]) == 2
    assert main(["dehaze", str(blocker), "--output-dir", str(tmp_path / "o"), "--workers", "0"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0] == f"geodistill: Input {tmp_path / 'missing.tif'} does not exist; give raster files or folders of rasters."
    assert errors[1].startswith(f"geodistill: Cannot create the output folder {blocker / 'out'}")
    assert errors[2] == "geodistill: --workers must be 1 or more."
    assert not (tmp_path / "o").exists()


def test_segmenting_a_split_raster_keeps_the_class_table(tmp_path):
    from geodistill.models.tasks.segment import read_class_table

    rng = np.random.default_rng(5)
    (tmp_path / "in").mkdir()
    image = np.kron(rng.random((3, 6, 10)), np.ones((16, 16))) * 200 + 30
    raster = write_raster(tmp_path / "in" / "tiles.tif", image.astype(np.uint8))
    tiling = ["--tile-size", "128", "--overlap", "16"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert run(["segment", str(raster), "--output-dir", str(whole), *tiling]).done == ["tiles"]
    # 2 windows of 96 columns, each run on a region of 128
    assert run(["segment", str(raster), "--output-dir", str(split), "--window-size", "96",
                *tiling]).done == ["tiles"]
    assert read_class_table(split / "tiles.tif") == read_class_table(whole / "tiles.tif") is not None
    with rasterio.open(split / "tiles.tif") as a, rasterio.open(whole / "tiles.tif") as b:
        assert (a.transform, a.nodata, a.descriptions) == (b.transform, b.nodata, b.descriptions)
    agreement = np.mean(pixels(split / "tiles.tif") == pixels(whole / "tiles.tif"))
    assert agreement > 0.95, agreement


def test_every_task_runs_with_the_thread_count_asked(tmp_path):
    import torch

    inputs = pair_folder(tmp_path / "in", ["one"], size=64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run(["pansharpen", str(inputs), "--output-dir", str(tmp_path / "out"), "--method",
             "mtf_glp", "--threads", "1"])
        assert torch.get_num_threads() == 1  # as on a Dask worker given --threads 1
    finally:
        torch.set_num_threads(before)


def test_a_split_scene_computes_its_whole_scene_results_once(tmp_path, monkeypatch):
    from geodistill.models.inference import raster_io
    from geodistill.models.tasks import pansharpen_choice

    calls = {"read": 0, "choice": 0}
    real_read, real_choice = raster_io._read_decimated, pansharpen_choice.choose_method

    def counted(name, function):
        def wrapper(*args):
            calls[name] += 1
            return function(*args)
        return wrapper

    monkeypatch.setattr(raster_io, "_read_decimated", counted("read", real_read))
    monkeypatch.setattr(pansharpen_choice, "choose_method", counted("choice", real_choice))
    inputs = pair_folder(tmp_path / "in", ["big"], size=256)
    auto = ["--method", "auto"]
    assert run(["pansharpen", str(inputs), "--output-dir", str(tmp_path / "whole"), *auto]).done == ["big"]
    whole = dict(calls)
    calls.update(read=0, choice=0)
    # METHOD auto: scaling, the scene sample and the model-or-MTF-GLP choice
    assert run(["pansharpen", str(inputs), "--output-dir", str(tmp_path / "split"),
                "--window-size", "128", *auto]).done == ["big"]
    assert whole["choice"] == 1 and whole["read"] >= 1
    assert calls == whole  # 4 windows, each whole-scene read and the choice made once
    split, unsplit = (pixels(tmp_path / name / "big.tif").astype(int) for name in ("split", "whole"))
    assert np.abs(split - unsplit).max() <= 1  # only the rounding of differently blended tiles
    assert not list((tmp_path / "split").glob(".*"))  # the shared results went with the parts


def test_rasters_inside_a_zip_run_by_their_gdal_virtual_paths(tmp_path):
    import zipfile

    rng = np.random.default_rng(9)
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("a", "b"):
        write_raster(plain / f"{name}.tif", (rng.random((3, 64, 64)) * 200 + 20).astype(np.uint8))
    archive = tmp_path / "scenes.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        for name in ("a", "b"):
            packed.write(plain / f"{name}.tif", f"scenes/{name}.tif")
    folder = f"/vsizip/{archive}/scenes"
    reference = run(["dehaze", str(plain), "--output-dir", str(tmp_path / "from-files")])
    summary = run(["dehaze", folder, "--output-dir", str(tmp_path / "from-zip")])
    assert sorted(summary.done) == sorted(reference.done) == ["a", "b"]
    for name in ("a", "b"):
        np.testing.assert_array_equal(pixels(tmp_path / "from-zip" / f"{name}.tif"),
                                      pixels(tmp_path / "from-files" / f"{name}.tif"))
    entries = json.loads((tmp_path / "from-zip" / "manifest.json").read_text())["entries"]
    assert {entry["inputs"][0]["path"] for entry in entries.values()} == {
        f"{folder}/a.tif", f"{folder}/b.tif"}
    again = run(["dehaze", f"{folder}/a.tif", "--output-dir", str(tmp_path / "from-zip")])
    assert again.skipped == ["a"] and not again.done  # the manifest recognises the virtual input
    with pytest.raises(GeoDistillError, match="GDAL cannot open that virtual path"):
        run(["dehaze", f"{folder}/missing.tif", "--output-dir", str(tmp_path / "x")])
    with pytest.raises(GeoDistillError, match="virtual paths .* are for inputs only"):
        run(["dehaze", folder, "--output-dir", "/vsimem/out"])
