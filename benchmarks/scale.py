"""Throughput of the geodistill command line past one process, and what it projects to.

Measures, on synthetic MS/PAN pairs sharpened with the bundled lite student (the command
line's own `run`): scenes/s and Mpx/s in one process and on LocalClusters of 1, 2 and 4
single-threaded workers (the cluster's start-up is timed apart); the per-task overhead of
Dask (empty tasks through a 1-worker cluster); the fixed cost per scene (tiny scenes) and per
window of a split raster; and the local disk's read and write speed for the outputs. From these
it projects a run of 10,000 scenes of 7200 x 6800 PAN pixels on 100 nodes like this machine
and names the bottleneck. `--render` writes docs/scale.md from the JSON.

    .venv/bin/python benchmarks/scale.py --out benchmarks/out/scale.json
    .venv/bin/python benchmarks/scale.py --render benchmarks/out/scale.json --doc docs/scale.md
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from common import OUT, machine, write_json

from models.cli.main import run
from models.cli.windows import plan_windows

SCENES, PAN_SIZE, RATIO, BANDS = 8, 1024, 4, 4
WORKER_COUNTS = (1, 2, 4)
EMPTY_TASKS = 400
#: the projected job: scenes, PAN size (the GID-15 scenes), nodes, default window size
PROJECTION = {"scenes": 10_000, "height": 6800, "width": 7200, "nodes": 100, "window_size": 4096}
#: aggregate bandwidth assumed for the cluster's shared filesystem (not measured here)
SHARED_FS_BYTES_PER_S = 1.25e9


def smooth(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    coarse = rng.random((shape[0] // scale + 1, shape[1] // scale + 1))
    return np.kron(coarse, np.ones((scale, scale)))[:shape[0], :shape[1]]


def write_pair(folder: Path, name: str, size: int, seed: int) -> None:
    """A PAN of `size` pixels and its 4-band MS at a quarter of the resolution (uint16)."""
    rng = np.random.default_rng(seed)
    truth = np.stack([300 + 600 * (0.6 * smooth(rng, (size, size), 32) + 0.4 * smooth(rng, (size, size), 4))
                      * (0.7 + 0.15 * band) for band in range(BANDS)])
    ms = truth.reshape(BANDS, size // RATIO, RATIO, size // RATIO, RATIO).mean(axis=(2, 4))
    for suffix, array, pixel in (("pan", truth.mean(0, keepdims=True), 1.0), ("ms", ms, float(RATIO))):
        profile = dict(driver="GTiff", height=array.shape[1], width=array.shape[2], count=len(array),
                       dtype="uint16", crs="EPSG:32633", transform=from_origin(500000, 4500000, pixel, pixel),
                       tiled=True, compress="deflate")
        with rasterio.open(folder / f"{name}_{suffix}.tif", "w", **profile) as dataset:
            dataset.write(np.round(array).astype("uint16"))


def timed_run(arguments: list[str]) -> dict:
    started = time.perf_counter()
    summary = run(arguments)
    seconds = time.perf_counter() - started
    assert not summary.failed, summary.failed
    return {"seconds": seconds, "scenes": len(summary.done), "megapixels": summary.megapixels,
            "scenes_per_s": len(summary.done) / seconds,
            "megapixels_per_s": summary.megapixels / seconds}


def cluster_costs(workers: int, empty_tasks: int) -> dict:
    """Start-up of a LocalCluster of `workers` processes, and seconds per empty task on it."""
    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        startup = time.perf_counter() - started
        client.gather(client.map(abs, range(-20, 0)))  # warm the connections
        started = time.perf_counter()
        client.gather(client.map(abs, range(empty_tasks)))
        per_task = (time.perf_counter() - started) / max(empty_tasks, 1)
    return {"startup_s": startup, "per_task_s": per_task}


def disk_speed(path: Path) -> dict:
    """Read and write speed (bytes/s) of the local disk for a finished output."""
    data = path.read_bytes()
    copy = path.with_name("copy.bin")
    started = time.perf_counter()
    with open(copy, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    write = len(data) / (time.perf_counter() - started)
    os.posix_fadvise(os.open(copy, os.O_RDONLY), 0, 0, os.POSIX_FADV_DONTNEED)
    started = time.perf_counter()
    read = len(copy.read_bytes()) / (time.perf_counter() - started)
    copy.unlink()
    return {"write_bytes_per_s": write, "read_bytes_per_s": read}


def measure(folder: Path) -> dict:
    inputs, tiny, big = folder / "in", folder / "tiny", folder / "big"
    for path in (inputs, tiny, big):
        path.mkdir()
    for index in range(SCENES):
        write_pair(inputs, f"scene{index:02d}", PAN_SIZE, index)
        write_pair(tiny, f"tiny{index:02d}", 64, index)
    write_pair(big, "big", 2 * PAN_SIZE, 99)
    base = ["pansharpen", "--tile-size", "512"]
    results = {"one_process": timed_run([base[0], str(inputs), "--output-dir", str(folder / "one"), *base[1:]])}
    for workers in WORKER_COUNTS:
        costs = cluster_costs(workers, EMPTY_TASKS if workers == 1 else 0)
        threads = max(1, (os.cpu_count() or 1) // workers)  # workers x threads = cores
        result = timed_run([base[0], str(inputs), "--output-dir", str(folder / f"w{workers}"),
                            "--workers", str(workers), "--threads", str(threads), *base[1:]])
        busy = result["seconds"] - costs["startup_s"]
        result.update(startup_s=costs["startup_s"], scenes_per_s_after_startup=SCENES / busy,
                      megapixels_per_s_after_startup=result["megapixels"] / busy)
        if workers == 1:
            results["dask_per_task_s"] = costs["per_task_s"]
        results[f"workers_{workers}"] = result
    tiny_run = timed_run([base[0], str(tiny), "--output-dir", str(folder / "tiny-out"), *base[1:]])
    results["per_scene_fixed_s"] = tiny_run["seconds"] / SCENES
    whole = timed_run([base[0], str(big), "--output-dir", str(folder / "big-whole"), *base[1:]])
    split = timed_run([base[0], str(big), "--output-dir", str(folder / "big-split"),
                       "--window-size", str(PAN_SIZE), *base[1:]])
    windows = len(plan_windows(2 * PAN_SIZE, 2 * PAN_SIZE, PAN_SIZE, 32, RATIO))
    results["split"] = {"windows": windows, "whole_s": whole["seconds"], "split_s": split["seconds"],
                        "per_window_extra_s": (split["seconds"] - whole["seconds"]) / windows}
    output = folder / "one" / "scene00.tif"
    results["output_bytes_per_pixel"] = output.stat().st_size / PAN_SIZE**2
    results["input_bytes_per_pixel"] = sum(p.stat().st_size for p in inputs.glob("scene00_*")) / PAN_SIZE**2
    results["disk"] = disk_speed(output)
    return results


def project(results: dict) -> dict:
    """Hours for the projected job, limited by compute, the scheduler or shared-storage I/O."""
    job = PROJECTION
    pixels = job["height"] * job["width"] / 1e6
    windows = len(plan_windows(job["height"], job["width"], job["window_size"], 32, RATIO))
    tasks = job["scenes"] * (windows + 1)  # the windows and one assembly per scene
    node_rate = max(results[f"workers_{w}"]["megapixels_per_s_after_startup"] for w in WORKER_COUNTS)
    compute_s = (job["scenes"] * pixels / node_rate
                 + tasks * results["split"]["per_window_extra_s"]) / job["nodes"]
    scheduler_s = tasks * results["dask_per_task_s"]
    # inputs read, parts written and read back, the output written
    bytes_total = job["scenes"] * pixels * 1e6 * (results["input_bytes_per_pixel"]
                                                  + 3 * results["output_bytes_per_pixel"])
    io_s = bytes_total / SHARED_FS_BYTES_PER_S
    limits = {"compute": compute_s, "scheduler": scheduler_s, "shared filesystem I/O": io_s}
    return {**job, "windows_per_scene": windows, "tasks": tasks, "node_megapixels_per_s": node_rate,
            "hours": {name: seconds / 3600 for name, seconds in limits.items()},
            "bottleneck": max(limits, key=limits.get),
            "shared_fs_bytes_per_s_assumed": SHARED_FS_BYTES_PER_S}


def render(data: dict) -> str:
    """docs/scale.md from the benchmark JSON."""
    r, p, m = data["results"], data["projection"], data["machine"]
    lines = ["# Scale: the command line past one process", "",
             f"Generated by `benchmarks/scale.py --render` from its JSON. Measured on "
             f"{m['cpu_count']} CPU cores ({m['processor']}), torch {m['torch']}, "
             f"{'a CUDA GPU' if m['cuda'] else 'no GPU'}, load average "
             f"{m['load_average'][0]:.1f} at the start (other jobs share this machine).", "",
             f"Workload: {SCENES} synthetic MS/PAN pairs ({PAN_SIZE} x {PAN_SIZE} PAN, "
             f"{BANDS}-band MS at 1/{RATIO}), `geodistill pansharpen` with the bundled lite "
             f"student, tiles of 512 px.", "",
             "| run | workers x threads | wall s | scenes/s | Mpx/s | cluster start s | Mpx/s after start |",
             "|---|---|---|---|---|---|---|"]
    one = r["one_process"]
    lines.append(f"| one process (no Dask) | 1 x {m['cpu_count']} | {one['seconds']:.1f} | "
                 f"{one['scenes_per_s']:.2f} | {one['megapixels_per_s']:.2f} | - | - |")
    for workers in WORKER_COUNTS:
        w = r[f"workers_{workers}"]
        lines.append(f"| LocalCluster | {workers} x {max(1, m['cpu_count'] // workers)} | "
                     f"{w['seconds']:.1f} | {w['scenes_per_s']:.2f} | {w['megapixels_per_s']:.2f} | "
                     f"{w['startup_s']:.1f} | {w['megapixels_per_s_after_startup']:.2f} |")
    rate = {w: r[f"workers_{w}"]["megapixels_per_s_after_startup"] for w in WORKER_COUNTS}
    lines += ["", "Speed-up after start-up against 1 worker: "
              + ", ".join(f"{w} workers x{rate[w] / rate[1]:.2f}" for w in WORKER_COUNTS[1:])
              + f"; one process (no Dask) against 1 worker: x"
              f"{one['megapixels_per_s'] / r['workers_1']['megapixels_per_s']:.2f}. With "
              f"{m['cpu_count']} cores, workers beyond {m['cpu_count']} only share them, and "
              f"a load average above the core count means other jobs took most of the CPU: "
              f"the workers cannot scale past what is left of it."]
    s = r["split"]
    lines += ["", "## Overheads", "",
              f"- Dask, per task (empty tasks on a 1-worker LocalCluster): "
              f"**{r['dask_per_task_s'] * 1e3:.1f} ms**.",
              f"- Per scene, fixed (64 x 64 PAN scenes, one process: model load, statistics, "
              f"files): **{r['per_scene_fixed_s']:.2f} s**.",
              f"- Per window of a split raster ({2 * PAN_SIZE} px PAN in {s['windows']} windows: "
              f"{s['split_s']:.1f} s against {s['whole_s']:.1f} s whole; every window loads the "
              f"model and reads its overlap again, the first one also the whole-scene results): "
              f"**{s['per_window_extra_s']:.2f} s**.",
              f"- Local disk: write {r['disk']['write_bytes_per_s'] / 1e6:.0f} MB/s, read "
              f"{r['disk']['read_bytes_per_s'] / 1e6:.0f} MB/s; outputs take "
              f"{r['output_bytes_per_pixel']:.2f} bytes per PAN pixel, inputs "
              f"{r['input_bytes_per_pixel']:.2f}.", "",
              "## Projection: 10,000 scenes on 100 nodes", "",
              f"{p['scenes']:,} scenes of {p['width']} x {p['height']} PAN pixels, {p['nodes']} "
              f"nodes like this machine ({p['node_megapixels_per_s']:.2f} Mpx/s each, the best "
              f"measured above), window size {p['window_size']}: {p['windows_per_scene']} windows "
              f"+ 1 assembly = {p['tasks']:,} tasks.", "",
              "| limit | hours | how |", "|---|---|---|",
              f"| compute | {p['hours']['compute']:.1f} | pixels / (nodes x node Mpx/s) + per-window "
              f"overhead |",
              f"| scheduler | {p['hours']['scheduler']:.2f} | tasks x per-task overhead (one "
              f"scheduler, serial) |",
              f"| shared filesystem I/O | {p['hours']['shared filesystem I/O']:.1f} | bytes (inputs, "
              f"parts written and read, output) / {p['shared_fs_bytes_per_s_assumed'] / 1e9:.2f} "
              f"GB/s (assumed aggregate bandwidth, not measured) |", "",
              f"Bottleneck: **{p['bottleneck']}**. The limits overlap (tasks compute while others "
              f"read), so the run takes about the largest of them. Compute scales with the nodes' "
              f"cores (or a GPU per node); the scheduler's share grows with the task count, so "
              f"larger windows help once nodes are fast; I/O is set by the shared storage."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT / "scale.json"))
    parser.add_argument("--render", help="a JSON written by this script: write the doc from it")
    parser.add_argument("--doc", default="docs/scale.md")
    args = parser.parse_args()
    if args.render:
        Path(args.doc).write_text(render(json.loads(Path(args.render).read_text())))
        return
    info = machine()
    folder = Path(tempfile.mkdtemp(prefix="geodistill-scale-"))
    try:
        results = measure(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    write_json({"machine": info, "results": results, "projection": project(results)}, args.out)


if __name__ == "__main__":
    main()
