"""Training on a user's own few labels: fine-tuning the bundled land-cover model against training
from scratch, with 5 labelled polygons per class on one scene.

    .venv/bin/python benchmarks/segment_finetune.py [--epochs 8] [--runs bundled efficientnet lite]

The scene is one chip of the held-out Dubai Tile 6 (the bundled model never trained on it),
labelled with the user's own classes: built-up (buildings and roads), bare land, vegetation and
water. Five squares per class, placed at random well inside that class, are the polygons; every
run trains on them with the same settings (`train_segmentation_model`), then segments the chip,
scored on all its labelled pixels outside the squares. Runs: "bundled" (the default:
fine-tune the bundled model), "efficientnet" (the same net from ImageNet weights) and "lite"
(the small ResNet net from random weights). Writes benchmarks/out/segment_finetune.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from common import OUT, ROOT, machine, require_shared, write_json

sys.path.insert(0, str(ROOT / "recipes"))
from dubai import dubai_classes, tile_scenes  # noqa: E402
from segmentation import HELD_OUT_TILE  # noqa: E402

from models.data.labels import IGNORE_INDEX  # noqa: E402
from models.metrics.segmentation import confusion_matrix, scores_from_confusion  # noqa: E402
from models.tasks.segment import SegmentRequest, segment  # noqa: E402
from models.tasks.segment_training import SegmentationTrainingRequest, train_segmentation_model  # noqa: E402

#: the user's classes: name -> Dubai class names merged into it
USER_CLASSES = {"built-up": ["Building", "Road"], "bare": ["Land"], "vegetation": ["Vegetation"],
                "water": ["Water"]}
POLYGONS_PER_CLASS, SQUARE = 5, 24
CRS, ORIGIN, GSD = "EPSG:32640", (500000.0, 2800000.0), 1.0


def user_labels(labels: np.ndarray, classes: list[dict]) -> np.ndarray:
    """Dubai class indices -> user class indices 0-3 (IGNORE_INDEX for the rest)."""
    lookup = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    names = [c["name"] for c in classes]
    for index, merged in enumerate(USER_CLASSES.values()):
        for name in merged:
            lookup[names.index(name)] = index
    return lookup[labels]


def squares(truth: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, int]] | None:
    """(class, row, col) of POLYGONS_PER_CLASS squares per class lying wholly inside it; None
    when a class has no room for them."""
    found = []
    for index in range(len(USER_CLASSES)):
        inside = ndimage.binary_erosion(truth == index, np.ones((SQUARE, SQUARE)), border_value=0)
        rows, cols = np.nonzero(inside)
        if len(rows) < POLYGONS_PER_CLASS * 20:
            return None
        for pick in rng.choice(len(rows), POLYGONS_PER_CLASS, replace=False):
            found.append((index, rows[pick] - SQUARE // 2, cols[pick] - SQUARE // 2))
    return found


def write_scene(chip: Path, folder: Path) -> Path:
    """The chip as a georeferenced RGB GeoTIFF."""
    with rasterio.open(chip) as dataset:
        image = dataset.read([1, 2, 3])
    path = folder / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2], height=image.shape[1], count=3,
                       dtype="uint8", crs=CRS, transform=from_origin(*ORIGIN, GSD, GSD)) as out:
        out.write(image)
    return path


def write_squares(found: list[tuple[int, int, int]], path: Path) -> Path:
    """The squares as GeoJSON polygons with a "landcover" class name."""
    names = list(USER_CLASSES)
    features = []
    for index, row, col in found:
        left, top = ORIGIN[0] + col * GSD, ORIGIN[1] - row * GSD
        right, bottom = left + SQUARE * GSD, top - SQUARE * GSD
        ring = [[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]
        features.append({"type": "Feature", "properties": {"landcover": names[index]},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features, "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32640"}}}))
    return path


def run(architecture: str, scene: Path, polygons: Path, truth: np.ndarray, epochs: int,
        folder: Path) -> dict:
    """Train `architecture` on the polygons, segment the scene, score it outside the squares."""
    model = folder / f"{architecture}.safetensors"
    started = time.perf_counter()
    card = train_segmentation_model(SegmentationTrainingRequest(
        [str(scene)], str(polygons), str(model), class_field="landcover", architecture=architecture,
        epochs=epochs, tile_size=128, samples_per_raster=160, global_size=128, batch_size=8,
        device="cpu"))
    seconds = time.perf_counter() - started
    output = folder / f"{architecture}_classes.tif"
    segment(SegmentRequest(str(scene), str(output), model=str(model), device="cpu"))
    with rasterio.open(output) as dataset:
        predicted = dataset.read(1)
    # the card's class ids are the user's names sorted; map them back to USER_CLASSES order
    order = {c["id"]: list(USER_CLASSES).index(c["name"]) for c in card.classes}
    lookup = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for class_id, index in order.items():
        lookup[class_id] = index
    matrix = confusion_matrix(truth, lookup[predicted], len(USER_CLASSES), IGNORE_INDEX)
    scores = scores_from_confusion(matrix)
    return {"miou": scores["miou"], "overall_accuracy": scores["overall_accuracy"],
            "iou_per_class": dict(zip(USER_CLASSES, scores["iou_per_class"])),
            "training_seconds": round(seconds, 1), "architecture": card.architecture,
            "validation_miou": card.metrics.get("validation_miou")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--runs", nargs="*", default=["bundled", "efficientnet", "lite"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT / "segment_finetune.json"))
    args = parser.parse_args()
    folder = require_shared("segmentation", "dubai")
    classes = dubai_classes(folder)
    rng = np.random.default_rng(args.seed)
    for chip in tile_scenes(folder, [HELD_OUT_TILE], classes):
        truth = user_labels(chip.labels, classes)
        found = squares(truth, rng)
        if found:
            break
    else:
        print(f"skipped: no chip of {HELD_OUT_TILE} has room for {POLYGONS_PER_CLASS} squares per class")
        return
    for _, row, col in found:
        truth[row:row + SQUARE, col:col + SQUARE] = IGNORE_INDEX  # scored outside the squares
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        scene = write_scene(chip.raster_path, work)
        polygons = write_squares(found, work / "polygons.geojson")
        results = {name: run(name, scene, polygons, truth, args.epochs, work) for name in args.runs}
    out = Path(args.out)
    if out.exists():  # runs may be split over several calls with the same settings
        results = {**json.loads(out.read_text())["results"], **results}
    best_scratch = max((r["miou"] for n, r in results.items() if n != "bundled"), default=None)
    write_json({"scene": chip.raster_path.name, "tile": HELD_OUT_TILE, "classes": USER_CLASSES,
                "polygons_per_class": POLYGONS_PER_CLASS, "square_px": SQUARE, "epochs": args.epochs,
                "seed": args.seed, "machine": machine(), "results": results,
                "fine_tune_beats_scratch": (None if "bundled" not in results or best_scratch is None
                                            else results["bundled"]["miou"] > best_scratch)}, args.out)


if __name__ == "__main__":
    main()
