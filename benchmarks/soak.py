"""Soak benchmark: do failed, cancelled and successful runs give back what they held?

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/soak.py [--runs 50]
        [--out benchmarks/out/soak.json] [--table docs/soak.md]

One headless QGIS process runs every inference tool (dehaze, pansharpen, segment, classify
scenes) through `processing.run`, `--runs` times for each kind of run: failing (a tampered
copy of the tool's bundled model, refused when its weights do not match their sha256),
cancelled (the feedback cancels at the first progress report) and successful. Inputs are
small synthetic rasters (96 x 96 RGB; a 16 x 16 MS with a 64 x 64 PAN) so the whole soak takes
a few minutes. Resident memory (RSS) is read after a few warm-up runs of the kind and again
after its `--runs` runs, both after a garbage collection; growth is reported in percent of the
first reading, with the goal of at most 10 % for every tool and kind, and how each run ended
(so a "cancelled" run that finished anyway is seen). `--table` writes the results as a
Markdown table generated from the JSON.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import OUT, ROOT, machine, write_json

GOAL_PERCENT = 10.0
WARM_UP_RUNS = 3
KINDS = ("failing", "cancelled", "successful")
BUNDLED = ROOT / "resources" / "models"
TOOL_MODELS = {"dehaze": "dehazing_lite_rgb", "pansharpen": "pansharpening_lite_4band_x4",
               "segment": "segmentation_landcover_lite",
               "classify_scenes": "classification_aid_efficientnet_lite0"}


def start_qgis():
    """A headless QGIS with Processing and the GeoDistill provider (the checkout imported as
    the `geodistill` package through a link, whatever the checkout folder is called)."""
    link_parent = Path(tempfile.mkdtemp(prefix="geodistill-soak-"))
    (link_parent / "geodistill").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(link_parent))
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    from qgis.core import QgsApplication

    application = QgsApplication([], False)
    application.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    import geodistill

    plugin = geodistill.classFactory(None)
    plugin.initProcessing()
    return application, plugin


def resident_bytes() -> int:
    """This process's resident memory now (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


def write_inputs(folder: Path) -> dict[str, Path]:
    """The small rasters every tool reads, and a tampered copy of each tool's bundled model."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)

    def write(name: str, array: np.ndarray, pixel: float) -> Path:
        path = folder / name
        profile = dict(driver="GTiff", height=array.shape[1], width=array.shape[2],
                       count=array.shape[0], dtype=array.dtype.name, crs="EPSG:32633",
                       transform=from_origin(500000, 4500000, pixel, pixel), photometric="MINISBLACK")
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(array)
        return path

    truth = 300 + 900 * rng.random((4, 64, 64))
    paths = {"rgb": write("rgb.tif", (40 + 180 * rng.random((3, 96, 96))).astype(np.uint8), 1.0),
             "pan": write("pan.tif", truth.mean(axis=0, keepdims=True).astype(np.uint16), 1.0),
             "ms": write("ms.tif", truth.reshape(4, 16, 4, 16, 4).mean(axis=(2, 4)).astype(np.uint16), 4.0)}
    for tool, model in TOOL_MODELS.items():
        tampered = folder / f"tampered_{model}.safetensors"
        data = bytearray((BUNDLED / f"{model}.safetensors").read_bytes())
        data[-7] ^= 0xFF  # inside the last tensor: the card reads, the sha256 does not match
        tampered.write_bytes(bytes(data))
        paths[f"tampered_{tool}"] = tampered
    return paths


def tool_parameters(tool: str, inputs: dict[str, Path], out: Path, kind: str) -> dict:
    """processing.run parameters of one run of `tool` (the tampered model when failing)."""
    model = str(inputs[f"tampered_{tool}"]) if kind == "failing" else "default"
    common = {"MODEL": model, "DEVICE": "cpu"}
    if tool == "dehaze":
        return {**common, "INPUT": str(inputs["rgb"]), "TILE_SIZE": 64, "OVERLAP": 8,
                "OUTPUT": str(out / "dehazed.tif")}
    if tool == "pansharpen":
        return {**common, "MS": str(inputs["ms"]), "PAN": str(inputs["pan"]), "PAN_BAND": 1,
                "METHOD": 0, "TILE_SIZE": 32, "OVERLAP": 4, "OUTPUT": str(out / "sharp.tif")}
    if tool == "segment":
        return {**common, "INPUT": str(inputs["rgb"]), "TILE_SIZE": 64, "OVERLAP": 8,
                "OUTPUT": str(out / "classes.tif")}
    return {**common, "INPUT": str(inputs["rgb"]), "CHIP_SIZE": 32,
            "OUTPUT": str(out / "scenes.gpkg")}


def run_once(tool: str, params: dict, kind: str) -> str:
    """One run; how it ended: "succeeded", "cancelled" or "failed"."""
    from qgis import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    if kind == "cancelled":
        feedback.progressChanged.connect(lambda value: value > 0 and feedback.cancel())
    try:
        processing.run(f"geodistill:{tool}", params, feedback=feedback)
    except QgsProcessingException as error:
        return "cancelled" if str(error).startswith("Cancelled") else "failed"
    return "succeeded"


def soak(tool: str, kind: str, runs: int, inputs: dict[str, Path], work: Path) -> dict:
    """RSS before and after `runs` runs of one kind (after warm-up runs), and their outcomes."""
    out = work / f"{tool}_{kind}"
    outcomes: dict[str, int] = {}

    def one() -> None:
        out.mkdir(exist_ok=True)
        ended = run_once(tool, tool_parameters(tool, inputs, out, kind), kind)
        outcomes[ended] = outcomes.get(ended, 0) + 1
        shutil.rmtree(out)

    for _ in range(WARM_UP_RUNS):
        one()
    outcomes.clear()
    gc.collect()
    before = resident_bytes()
    started = time.perf_counter()
    for _ in range(runs):
        one()
    seconds = time.perf_counter() - started
    gc.collect()
    after = resident_bytes()
    growth = 100.0 * (after - before) / before
    return {"tool": tool, "kind": kind, "runs": runs, "outcomes": outcomes,
            "rss_before_mib": round(before / 2**20, 1), "rss_after_mib": round(after / 2**20, 1),
            "growth_percent": round(growth, 2), "meets_goal": growth <= GOAL_PERCENT,
            "seconds_per_run": round(seconds / runs, 3)}


def markdown_table(report: dict) -> str:
    """The soak results as a Markdown table (generated from the benchmark's JSON)."""
    lines = ["# Soak: memory after repeated runs", "",
             f"{report['runs']} runs of each kind per tool in one QGIS process "
             f"(`benchmarks/soak.py`); goal: RSS growth at most {GOAL_PERCENT:g} %.", "",
             "| tool | kind | outcomes | RSS before (MiB) | RSS after (MiB) | growth (%) | s/run |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in report["results"]:
        outcomes = ", ".join(f"{count} {name}" for name, count in sorted(row["outcomes"].items()))
        lines.append(f"| {row['tool']} | {row['kind']} | {outcomes} | {row['rss_before_mib']} | "
                     f"{row['rss_after_mib']} | {row['growth_percent']} | {row['seconds_per_run']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tools", nargs="+", default=list(TOOL_MODELS), choices=list(TOOL_MODELS))
    parser.add_argument("--out", default=str(OUT / "soak.json"))
    parser.add_argument("--table", default=None, help="also write the Markdown table here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    _application, plugin = start_qgis()
    with tempfile.TemporaryDirectory(prefix="geodistill-soak-") as folder:
        work = Path(folder)
        inputs = write_inputs(work)
        results = [soak(tool, kind, args.runs, inputs, work) for tool in args.tools for kind in KINDS]
    plugin.unload()
    report = {"benchmark": "soak", "runs": args.runs, "goal_percent": GOAL_PERCENT,
              "all_meet_goal": all(r["meets_goal"] for r in results), "results": results,
              "machine": machine()}
    write_json(report, args.out)
    if args.table:
        Path(args.table).write_text(markdown_table(report), encoding="utf-8")


if __name__ == "__main__":
    main()
