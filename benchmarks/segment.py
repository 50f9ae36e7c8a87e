"""Segmentation benchmark: held-out mIoU of GINet, the lite students and the local-only ablation,
and the bundled student's time and peak memory on a 5000 x 5000 scene on this machine.

    .venv/bin/python benchmarks/segment.py [--update-card] [--quick]

Needs the models of benchmarks/train_segmentation.py (benchmarks/out/models/). Every chip of
the held-out Dubai tile is segmented through the real pipeline (`models.tasks.segment`: global
view + tiled engine) and scored against its mask (black pixels unlabelled); so is the whole
tile, its chips put back in their 3 x 3 grid (one 2046 x 1974 scene, so a global view three
times coarser). The scene timing runs in a child process (its peak resident memory is the
child's own) on a 5000 x 5000 RGB GeoTIFF mosaicked from the training chips. Goals reported:
global+local >= local-only + 2 mIoU points on the whole held-out tile (lite vs local_only, both
trained alone; means over their training seeds when train_segmentation.py --seed made more;
the gain on the chips is reported beside it); 5000^2 in under 3 minutes on the CPU with the
lite student. --update-card writes the held-out scores of the shipped student
(found by its weights) into the bundled card.
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from common import OUT, machine, require_shared, same_weights, set_heldout_metrics, write_json
from train_segmentation import (BUNDLED, HELD_OUT_TILE, MODELS, dubai_classes, model_path,
                                tile_scenes, whole_tile)

from models.data.labels import IGNORE_INDEX
from models.metrics.segmentation import confusion_matrix, scores_from_confusion
from models.tasks.segment import SegmentRequest, segment

NAMES = ("lite", "lite_kd", "ginet", "local_only")
#: runs that may also have been trained with other seeds (train_segmentation.py --seed)
SEEDED = ("lite", "local_only")
SCENE_SIDE = 5000
GOAL_SECONDS = 180.0
GOAL_GAIN = 0.02


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


def seeded_models() -> dict[str, Path]:
    """name_seedN -> package of the extra training seeds of the SEEDED runs."""
    return {path.stem.removeprefix("segmentation_"): path for name in SEEDED
            for path in sorted(MODELS.glob(f"segmentation_{name}_seed*.safetensors"))}


def runs_of(name: str, scores: dict) -> list[float]:
    """mIoU of every training seed of run `name`."""
    return [s["miou"] for key, s in scores.items() if key == name or key.startswith(f"{name}_seed")]


def global_gain(scores: dict) -> dict:
    """Global + local (lite) minus local only, mean over the training seeds of each."""
    lite, local_only = runs_of("lite", scores), runs_of("local_only", scores)
    return {"gain": float(np.mean(lite) - np.mean(local_only)), "lite": lite,
            "local_only": local_only}


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
    """Seconds and peak memory of the lite student on a side x side scene (child process)."""
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
    parser.add_argument("--out", default=str(OUT / "segment.json"))
    parser.add_argument("--update-card", action="store_true",
                        help="write the held-out scores into the bundled student's card")
    args = parser.parse_args()
    folder = require_shared("segmentation", "dubai")
    models = {name: model_path(name, quick=False) for name in NAMES}
    missing = [str(p) for p in models.values() if not p.exists()]
    if missing:
        print(f"skipped: run benchmarks/train_segmentation.py first ({', '.join(missing)} missing)")
        return
    models.update(seeded_models())
    classes = dubai_classes(folder)
    scenes = tile_scenes(folder, [HELD_OUT_TILE], classes)
    limit = 3 if args.quick else None
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        chips = [(scene.raster_path, scene.labels) for scene in scenes[:limit]]
        whole = whole_tile(folder, HELD_OUT_TILE, classes, work)
        whole_scene = [(whole.raster_path, whole.labels)]
        scores = {name: held_out_miou(path, chips, classes, work) for name, path in models.items()}
        whole_scores = {name: held_out_miou(path, whole_scene, classes, work)
                        for name, path in models.items()}
        timed = BUNDLED if BUNDLED.exists() else models["lite"]
        timing = scene_timing(timed, 1000 if args.quick else SCENE_SIDE,
                              [s.raster_path for s in tile_scenes(folder, ["Tile 1"], classes)], work)
    # the goal is on the held-back tile: the whole scene (its chips: reported beside it)
    whole_gain, chips_gain = global_gain(whole_scores), global_gain(scores)
    gain = whole_gain["gain"]
    projected = timing["seconds"] * SCENE_SIDE ** 2 / timing["side"] ** 2
    shipped = next((n for n in NAMES if BUNDLED.exists() and same_weights(models[n], BUNDLED)), None)
    if args.update_card and shipped and not args.quick:
        chosen = scores[shipped]
        set_heldout_metrics(BUNDLED, {"miou": chosen["miou"], "overall_accuracy": chosen["overall_accuracy"],
                                      "chips": chosen["scenes"],
                                      "whole_tile_miou": whole_scores[shipped]["miou"],
                                      **{f"iou_{k}": v for k, v in chosen["iou_per_class"].items()}},
                            f"held out: every chip of {HELD_OUT_TILE}")
    write_json({"quick": args.quick, "held_out": HELD_OUT_TILE, "machine": machine(),
                "held_out_scores": scores, "held_out_whole_tile_scores": whole_scores,
                "scene": timing, "timed_model": timed.name,
                "bundled_is": shipped,
                "goals": {"global_minus_local_only_miou": gain, "gain_goal": GOAL_GAIN,
                          "global_minus_local_only_miou_chips": chips_gain["gain"],
                          "miou_of_each_seed": {"whole_tile": whole_gain, "chips": chips_gain},
                          "gain_met": gain >= GOAL_GAIN,
                          "seconds_for_5000x5000": projected, "seconds_goal": GOAL_SECONDS,
                          "time_met": projected < GOAL_SECONDS,
                          "time_is_projected": timing["side"] != SCENE_SIDE}}, args.out)


if __name__ == "__main__":
    main()
