"""Segmentation benchmark: mIoU on the held-out Dubai Tile 6 of the recipe's models (global +
local and local only) and of the bundled model, and the bundled model's speed and peak memory
on a 5000 x 5000 scene on this machine.

    .venv/bin/python benchmarks/segment.py [--update-card] [--quick] [--models A.safetensors ...]

Every chip of the held-out tile is segmented through the real pipeline (`models.tasks.segment`:
global view + tiled engine) and scored against its mask (black pixels unlabelled); so is the
whole tile, its chips put back in their 3 x 3 grid. `--models` scores further packages beside
them (e.g. a model bundled before). The scene timing runs in a child process (its peak
resident memory is the child's own) on a 5000 x 5000 RGB GeoTIFF mosaicked from training chips.
Goals: mIoU >= 0.65 on the whole held-out tile; >= 2 Mpx/s and peak RSS <= 1.5 GB on the scene.
The global branch is measured as global + local minus local only (same recipe and time box).
--update-card writes the held-out scores into the bundled card.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from common import OUT, ROOT, machine, require_shared, same_weights, set_heldout_metrics, write_json

sys.path.insert(0, str(ROOT / "recipes"))
from dubai import dubai_classes, tile_scenes, whole_tile  # noqa: E402
from segmentation import BUNDLED, HELD_OUT_TILE, MODELS, RUNS  # noqa: E402

from models.data.labels import IGNORE_INDEX  # noqa: E402
from models.metrics.segmentation import confusion_matrix, scores_from_confusion  # noqa: E402
from models.tasks.segment import SegmentRequest, segment  # noqa: E402

SCENE_SIDE = 5000
GOAL_MIOU, GOAL_MPX_PER_S, GOAL_RSS_MB = 0.65, 2.0, 1536.0


def held_out_miou(model: Path, scenes: list[tuple[Path, np.ndarray]], classes, folder: Path) -> dict:
    """Scores of `model` over (raster, labels) scenes (confusion accumulated over all)."""
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    started = time.perf_counter()
    for raster, labels in scenes:
        output = folder / f"{model.stem}_{raster.stem}.tif"
        segment(SegmentRequest(str(raster), str(output), model=str(model), device="cpu"))
        with rasterio.open(output) as dataset:
            predicted = dataset.read(1)
        matrix += confusion_matrix(labels, predicted, len(classes), IGNORE_INDEX)
    scores = scores_from_confusion(matrix)
    return {"miou": scores["miou"], "overall_accuracy": scores["overall_accuracy"],
            "iou_per_class": dict(zip([c["name"] for c in classes], scores["iou_per_class"])),
            "scenes": len(scenes), "seconds": round(time.perf_counter() - started, 1)}


def write_mosaic(path: Path, side: int, chips: list[Path]) -> None:
    """An RGB uint8 GeoTIFF of `side` pixels a side, tiled with the chips, written by rows."""
    images = []
    for chip in chips:
        with rasterio.open(chip) as dataset:
            images.append(dataset.read())
    height = min(image.shape[1] for image in images)
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", tiled=True,
                   compress="DEFLATE", crs="EPSG:32640", transform=from_origin(500000, 2800000, 0.5, 0.5))
    with rasterio.open(path, "w", **profile) as out:
        for index, top in enumerate(range(0, side, height)):
            rows = min(height, side - top)
            strip = np.concatenate([images[(index + j) % len(images)][:, :rows]
                                    for j in range(side // 400 + 2)], axis=2)
            while strip.shape[2] < side:
                strip = np.concatenate([strip, strip], axis=2)
            out.write(strip[:, :, :side], window=Window(0, top, side, rows))


def _timed_scene(model: str, scene: str, output: str, results) -> None:
    started = time.perf_counter()
    report = segment(SegmentRequest(scene, output, model=model, device="cpu"))
    results.put({"seconds": time.perf_counter() - started, "device": report.device,
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def scene_timing(model: Path, side: int, chips: list[Path], folder: Path) -> dict:
    """Seconds and peak memory of `model` on a side x side scene (child process)."""
    scene = folder / f"scene_{side}.tif"
    write_mosaic(scene, side, chips)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_timed_scene, args=(str(model), str(scene),
                                                       str(folder / "scene_classes.tif"), results))
    child.start()
    measured = results.get()
    child.join()
    return {"side": side, "megapixels": side * side / 1e6, **measured,
            "megapixels_per_second": side * side / 1e6 / measured["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 chips and a 1000^2 scene")
    parser.add_argument("--models", nargs="*", default=[], help="further packages to score")
    parser.add_argument("--no-timing", action="store_true", help="scores only")
    parser.add_argument("--no-chips", action="store_true", help="score the whole tile only")
    parser.add_argument("--side", type=int, default=SCENE_SIDE, help="side of the timed scene")
    parser.add_argument("--reference-model", help="also time this package on the same scene "
                        "(the speed ratio holds on a loaded machine where absolute times do not)")
    parser.add_argument("--out", default=str(OUT / "segment.json"))
    parser.add_argument("--update-card", action="store_true",
                        help="write the held-out scores into the bundled model's card")
    args = parser.parse_args()
    folder = require_shared("segmentation", "dubai")
    models = {run: MODELS / f"segmentation_lite0_{run}_seed0.safetensors" for run in RUNS}
    models = {name: path for name, path in models.items() if path.exists()}
    models.update({Path(path).stem: Path(path) for path in args.models})
    if not any(same_weights(path, BUNDLED) for path in models.values()):
        models["bundled"] = BUNDLED
    bundled = next(name for name, path in models.items() if same_weights(path, BUNDLED))
    classes = dubai_classes(folder)
    scenes = tile_scenes(folder, [HELD_OUT_TILE], classes)
    limit = 3 if args.quick else None
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        chips = [(scene.raster_path, scene.labels) for scene in scenes[:limit]]
        whole = whole_tile(folder, HELD_OUT_TILE, classes, work)
        scores = {} if args.no_chips else {name: held_out_miou(path, chips, classes, work)
                                           for name, path in models.items()}
        whole_scores = {name: held_out_miou(path, [(whole.raster_path, whole.labels)], classes, work)
                        for name, path in models.items()}
        side = 1000 if args.quick else args.side
        timed = {"bundled": BUNDLED, **({"reference": Path(args.reference_model)} if args.reference_model else {})}
        chip_paths = [s.raster_path for s in tile_scenes(folder, ["Tile 1"], classes)]
        timings = {} if args.no_timing else {name: scene_timing(path, side, chip_paths, work)
                                             for name, path in timed.items()}
        timing = timings.get("bundled")
    if args.update_card and not args.quick:
        chosen = whole_scores[bundled]
        chips_miou = {"tile6_chips_miou": scores[bundled]["miou"]} if scores else {}
        set_heldout_metrics(BUNDLED, {"tile6_miou": chosen["miou"],
                                      "tile6_overall_accuracy": chosen["overall_accuracy"], **chips_miou,
                                      **{f"tile6_iou_{k}": v for k, v in chosen["iou_per_class"].items()}},
                            f"{HELD_OUT_TILE} held out")
    goals = {"miou_goal": GOAL_MIOU, "miou_met": whole_scores[bundled]["miou"] >= GOAL_MIOU}
    if all(run in whole_scores for run in RUNS):
        goals["global_minus_local_only_miou"] = (whole_scores["global_local"]["miou"]
                                                 - whole_scores["local_only"]["miou"])
    if timing:
        goals.update({"megapixels_per_second": timing["megapixels_per_second"],
                      "speed_met": timing["megapixels_per_second"] >= GOAL_MPX_PER_S,
                      "peak_rss_mb": timing["peak_rss_mb"], "rss_met": timing["peak_rss_mb"] <= GOAL_RSS_MB,
                      "timed_side": timing["side"]})
    if "reference" in timings:
        goals["speed_ratio_to_reference"] = (timing["megapixels_per_second"]
                                             / timings["reference"]["megapixels_per_second"])
    write_json({"quick": args.quick, "held_out": HELD_OUT_TILE, "machine": machine(),
                "models": {name: str(path) for name, path in models.items()}, "bundled_is": bundled,
                "held_out_chips_scores": scores, "held_out_whole_tile_scores": whole_scores,
                "scene": timing, "scene_timings": timings, "reference_model": args.reference_model,
                "load_average": list(os.getloadavg()), "goals": goals}, args.out)


if __name__ == "__main__":
    main()
