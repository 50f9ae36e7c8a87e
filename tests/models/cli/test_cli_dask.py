"""The geodistill command line on Dask: a LocalCluster of 2 worker processes and an existing
scheduler with 2 workers (started here from the venv, on the loopback interface) give the
same pixels as one process (the bundled lite student, a split and a whole scene), spread the
tasks over both workers, and resume; a raster larger than the window size is split into
windows whose output matches the unsplit run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geodistill.models.cli.main import run
from test_cli import pair_folder, pixels

SCENES = ["big", "small"]
WINDOW = ["--window-size", "128"]  # "big" (256 px) runs as 4 windows


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """Inputs, and the outputs of a one-process run over them (the big scene split)."""
    folder = tmp_path_factory.mktemp("cli-dask")
    inputs = pair_folder(folder / "in", ["big"], size=256)
    pair_folder(inputs, ["small"], size=128)
    out = folder / "one-process"
    summary = run(arguments(inputs, out))
    assert sorted(summary.done) == SCENES
    return inputs, out


def arguments(inputs: Path, out: Path, *where: str) -> list[str]:
    return ["pansharpen", str(inputs), "--output-dir", str(out), *WINDOW, *where]


def assert_same_outputs(out: Path, reference: Path) -> set[str]:
    """Same pixels as the reference run; returns the workers the manifest names."""
    for name in SCENES:
        np.testing.assert_array_equal(pixels(out / f"{name}.tif"), pixels(reference / f"{name}.tif"))
    entries = json.loads((out / "manifest.json").read_text())["entries"]
    return {worker for entry in entries.values() for worker in entry["workers"]}


def test_split_raster_matches_the_unsplit_run(one_process, tmp_path):
    inputs, _ = one_process
    pair = [str(inputs / "big_ms.tif"), str(inputs / "big_pan.tif")]
    outputs = {}
    for name, window in (("whole", []), ("split", WINDOW)):
        outputs[name] = tmp_path / name
        run(["pansharpen", *pair, "--output-dir", str(outputs[name]), "--method", "mtf_glp", *window])
    split, unsplit = (pixels(outputs[name] / "big.tif").astype(int) for name in ("split", "whole"))
    difference = np.abs(split - unsplit)
    # only the rounding of differently blended tiles differs
    assert difference.max() <= 1 and np.mean(difference > 0) < 0.01
    with rasterio.open(outputs["split"] / "big.tif") as a, rasterio.open(outputs["whole"] / "big.tif") as b:
        assert (a.transform, a.crs, a.dtypes, a.overviews(1)) == (b.transform, b.crs, b.dtypes, b.overviews(1))
    assert not list(outputs["split"].glob(".*"))  # no window parts or temporary files left


def test_local_cluster_with_two_workers_gives_the_same_pixels(one_process, tmp_path):
    inputs, reference = one_process
    summary = run(arguments(inputs, tmp_path / "out", "--workers", "2"))
    assert sorted(summary.done) == SCENES and not summary.failed
    workers = assert_same_outputs(tmp_path / "out", reference)
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)


def _start(command: list[str], folder: Path, name: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    log = open(folder / f"{name}.log", "w")
    return subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_existing_scheduler_with_two_workers_runs_and_resumes(one_process, tmp_path):
    inputs, reference = one_process
    dask = str(Path(sys.executable).parent / "dask")
    address_file = tmp_path / "scheduler.json"
    processes = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                         "--scheduler-file", str(address_file)], tmp_path, "scheduler")]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for index in range(2):
            processes.append(_start([dask, "worker", address, "--host", "127.0.0.1", "--nthreads",
                                     "1", "--no-dashboard"], tmp_path, f"worker{index}"))
        from dask.distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)  # both take part from the first task on
        out = tmp_path / "out"
        summary = run(arguments(inputs, out, "--scheduler", address))
        assert sorted(summary.done) == SCENES and not summary.failed
        workers = assert_same_outputs(out, reference)
        assert len(workers) == 2
        for index in range(2):  # each worker's own log names the scenes it ran
            assert "geodistill pansharpen: " in (tmp_path / f"worker{index}.log").read_text()

        (out / "small.tif").unlink()
        again = run(arguments(inputs, out, "--scheduler", address))
        assert (again.done, again.skipped) == (["small"], ["big"])
        assert_same_outputs(out, reference)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
