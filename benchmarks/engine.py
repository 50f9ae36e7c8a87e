"""Throughput and memory of the tiled engine (numbers, not a timed test).

Writes JSON with the model's own speed and the end-to-end speed of `run_tiled` for the same
small conv model over a 4096^2 4-band uint16 raster (their ratio is `pipeline_efficiency`), and
the peak resident memory of whole runs over 2048^2 and 16384^2 rasters, each measured in a
fresh subprocess (`rss_ratio_16k_2k`). Rasters go to a temporary folder that is removed.

`efficiency_ceiling` bounds what any pipeline can reach on this machine: the CPU time (all
threads, in core-seconds) of the model's work (its one-thread time) plus the work besides the
model must fit on `cores` cores, so the end-to-end run takes at least their sum / cores. Two
measures of the work besides the model: the engine's own (a run with an identity model:
reading, scaling, blending, writing, overviews) and the bare minimum of the I/O the engine must
do (read every tile window, write every block compressed, build overviews: no scaling, no
blending).

    .venv/bin/python benchmarks/engine.py --out benchmarks/out/engine.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from common import write_json

BANDS = 4
TILING = dict(tile_size=512, overlap=32, batch_size=4)


def engine_modules():
    """The engine's modules (imported on use: the RSS child measures the import too)."""
    from models.inference import engine, scaling, tiling

    return engine, tiling, scaling


def small_conv() -> torch.nn.Module:
    """The benchmark model: three 3x3 convolutions, 4 -> 16 -> 16 -> 4 channels."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(BANDS, 16, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(16, BANDS, 3, padding=1)).eval()


def make_raster(path: Path, size: int) -> Path:
    """A size^2 4-band uint16 tiled DEFLATE GeoTIFF of smooth patterns plus noise, by strips."""
    rng = np.random.default_rng(0)
    profile = dict(driver="GTiff", height=size, width=size, count=BANDS, dtype="uint16",
                   crs=CRS.from_epsg(32633), transform=Affine(0.5, 0, 500000, 0, -0.5, 4100000),
                   tiled=True, blockxsize=256, blockysize=256, compress="DEFLATE", predictor=2,
                   bigtiff="IF_SAFER")
    with rasterio.open(path, "w", **profile) as dst:
        cols = np.arange(size)[None, :]
        for top in range(0, size, 512):
            rows = np.arange(top, min(top + 512, size))[:, None]
            base = 1500 + 600 * np.sin(cols / 97.0) * np.cos(rows / 131.0)
            strip = np.stack([base * (1 + 0.15 * b) + rng.normal(0, 40, base.shape) for b in range(BANDS)])
            dst.write(np.clip(strip, 0, 65535).astype(np.uint16), window=Window(0, top, size, rows.size))
    return path


def run_engine(path: Path, out: Path, model: torch.nn.Module | None = None):
    """One end-to-end run of the engine on the CPU (`model` None: the benchmark model);
    returns its RunReport."""
    engine, tiling, scaling = engine_modules()
    stats = scaling.BandScaling([0.0] * BANDS, [4000.0] * BANDS)
    return engine.run_tiled(model or small_conv(), [engine.RasterInput(path, scaling=stats)],
                            engine.OutputSpec(out, BANDS, "uint16", nodata=0, scaling=stats),
                            tiling.TilingOptions(**TILING), device="cpu")


def model_only_seconds(size: int, tiles: int, batch_size: int, tile_size: int) -> float:
    """Time of the model alone on the same number of tiles, in the same batches."""
    model = small_conv()
    # the same memory layout the engine feeds models (channels-last)
    batch = torch.rand(batch_size, BANDS, tile_size, tile_size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(batch)  # warm-up
        started = time.perf_counter()
        for start in range(0, tiles, batch_size):
            model(batch[: min(batch_size, tiles - start)])
        return time.perf_counter() - started


def measure_throughput(source: Path, out: Path, size: int, threads: int):
    """({model-only and end-to-end Mpx/s and their ratio}, the run's report, the model-only
    seconds) over `source` with `threads` torch threads (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        report = run_engine(source, out)
        model_seconds = model_only_seconds(size, report.tiles, report.batch_size, report.tile_size)
    finally:
        torch.set_num_threads(previous)
    megapixels = size * size / 1e6
    return {"model_only_mpx_s": round(megapixels / model_seconds, 3),
            "end_to_end_mpx_s": round(report.megapixels_per_second, 3),
            "pipeline_efficiency": round(report.megapixels_per_second * model_seconds / megapixels,
                                         3)}, report, model_seconds


def cpu_seconds(call) -> float:
    """CPU time of this process (every thread, GDAL's included) spent in `call()`."""
    started = time.process_time()
    call()
    return time.process_time() - started


def bare_io(source: Path, out: Path) -> None:
    """The I/O the engine cannot avoid, done plainly: read every tile window of the benchmark
    tiling, write the output block by block compressed as the engine does, build overviews."""
    from models.inference.engine_output import output_block_size
    from models.inference.raster_writer import RasterWriter, geotiff_profile
    from models.inference.tiling import TileGrid, TilingOptions

    with rasterio.open(source) as dataset:
        # the engine's grid for a scale-1 output (strides a multiple of 16)
        grid = TileGrid(dataset.height, dataset.width, TilingOptions(**TILING), stride_multiple=16)
        stride = grid.stride
        profile = geotiff_profile(dataset.height, dataset.width, BANDS, "uint16", dataset.crs,
                                  dataset.transform, 0, block=output_block_size(stride))
        file = RasterWriter(out, profile)
        for tile in grid.tiles():
            w = tile.window
            array = dataset.read(window=Window(w.col, w.row, w.width, w.height))
            top, left = tile.tile_row * stride, tile.tile_col * stride
            bottom = top + stride if tile.bottom else dataset.height
            right = left + stride if tile.right else dataset.width
            file.write(array[:, top - w.row:bottom - w.row, left - w.col:right - w.col], top, left)
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            file.build_overviews(Resampling.average)
        file.commit()


def efficiency_ceiling(model_seconds: float, model_core_seconds: float,
                       other_core_seconds: float, cores: int) -> float:
    """Best pipeline efficiency possible when `other_core_seconds` of work besides the model
    share `cores` cores with the model's `model_core_seconds`, overlapped perfectly."""
    floor = max(model_seconds, (model_core_seconds + other_core_seconds) / cores)
    return round(model_seconds / floor, 3)


def ceiling_measures(source: Path, folder: Path, model_seconds: float,
                     model_core_seconds: float) -> dict:
    """CPU core-seconds of the work besides the model (the engine's and the bare I/O's) and
    the efficiency ceilings they leave on this machine's cores."""
    cores = os.cpu_count() or 1
    engine_work = cpu_seconds(
        lambda: run_engine(source, folder / "identity.tif", torch.nn.Identity()))
    io_work = cpu_seconds(lambda: bare_io(source, folder / "bare.tif"))
    work = {"engine_work": engine_work, "bare_io": io_work}
    return {"cores": cores,
            "core_seconds": {"model": round(model_core_seconds, 3),
                             "engine_without_model": round(engine_work, 3),
                             "bare_io": round(io_work, 3)},
            **{name: efficiency_ceiling(model_seconds, model_core_seconds, seconds, cores)
               for name, seconds in work.items()}}


def own_peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    VmHWM belongs to the address space, which exec replaces; ru_maxrss would not do: Linux
    carries it across exec, so a child would report its (large) parent's peak at spawn time.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def rss_child(path: Path, out: Path) -> None:
    """Subprocess body: one run, then print the peak resident memory in MB."""
    run_engine(path, out)
    print(json.dumps({"peak_rss_mb": own_peak_rss_mb()}))


def peak_rss_mb(path: Path, out: Path) -> float:
    """Peak RSS of a whole run over `path`, in a fresh Python process."""
    result = subprocess.run([sys.executable, __file__, "--rss-child", str(path), str(out)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--size", type=int, default=4096, help="throughput raster size")
    parser.add_argument("--rss-sizes", type=int, nargs=2, default=(2048, 16384))
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the temporary rasters")
    parser.add_argument("--rss-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    folder = Path(tempfile.mkdtemp(prefix="geodistill-bench-", dir=args.tmp))
    try:
        source = make_raster(folder / "scene.tif", args.size)
        threads = torch.get_num_threads()
        main_run, report, model_seconds = measure_throughput(source, folder / "out.tif",
                                                             args.size, threads)
        # one core left to reading, writing and overviews (a two-core machine has no other)
        one_thread, _, model_core_seconds = measure_throughput(source, folder / "out.tif",
                                                               args.size, 1)
        ceiling = ceiling_measures(source, folder, model_seconds, model_core_seconds)
        small, large = args.rss_sizes
        rss = {}
        for size in (small, large):
            path = make_raster(folder / f"rss_{size}.tif", size)
            rss[size] = peak_rss_mb(path, folder / f"rss_{size}_out.tif")
            for leftover in folder.glob(f"rss_{size}*"):
                leftover.unlink()
        results = {
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
                       f"{report.device_description}",
            "raster": f"{args.size}x{args.size} {BANDS}-band uint16 (tiled DEFLATE input)",
            "tiling": TILING,
            **main_run,
            "one_torch_thread": one_thread,
            "efficiency_ceiling": ceiling,
            f"peak_rss_mb_{small // 1024}k": round(rss[small], 1),
            f"peak_rss_mb_{large // 1024}k": round(rss[large], 1),
            f"rss_ratio_{large // 1024}k_{small // 1024}k": round(rss[large] / rss[small], 3),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    write_json(results, args.out)


if __name__ == "__main__":
    main()
