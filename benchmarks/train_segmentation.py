"""Train the bundled land-cover segmentation student (and its GINet teacher) on ../shared/data.

Reproducible commands for the model shipped in resources/models/ (two processes, one per core,
each run time-boxed; the seed 1 and 2 pairs measure the spread between runs; lite_kd loads the
teacher that `--runs ginet` has trained):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_segmentation.py --runs lite --minutes 58 &
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_segmentation.py --runs local_only --minutes 58
    # then both again with --seed 1 and with --seed 2
    # GINet and the distilled student: --runs ginet lite_kd --minutes 62
    .venv/bin/python benchmarks/segment.py --update-card   # held-out scores into the card

Data: the Dubai aerial imagery chips (6 tiles of 9 RGB chips with colour-coded masks), 6
classes (Building, Land, Road, Vegetation, Water, Unlabeled) with the dataset's colours; black
mask pixels are unlabelled. Tile 3 (all 6 classes) is held out: every model is validated on
patches of its chips only. A tile's chips are the cells of one 3 x 3 grid (`whole_tile`), so
training patches come from the chips and from each training tile as one whole scene, whose
global view is three times coarser than a chip's. Runs: GINet (the teacher), the lite student
trained alone, the lite student without the global view ("local_only": the ablation of the
global branch, also trained alone) and the lite student distilled from GINet ("lite_kd").
Models land in benchmarks/out/models/; of the three lite students (seed 0) the one with the
best held-out validation mIoU is saved as
resources/models/segmentation_landcover_lite.safetensors once all exist (not in --quick runs;
`--runs` with no name only makes that choice again). Results are merged into --out, so the runs
can be split over processes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from common import OUT, ROOT, machine, require_shared, ship_package, write_json

from models.about import created_by
from models.data.labels import IGNORE_INDEX, LabelledScene, load_image_mask_folders
from models.data.patches import sample_patches
from models.training.train_segmentation import TrainConfig, train_segmentation
from models.nets.ginet import GINetConfig, GINetLiteConfig
from models.package import ModelCard, load_model, read_card, save_package
from models.tasks.segment_training import card_metrics

MODELS = OUT / "models"
BUNDLED = ROOT / "resources" / "models" / "segmentation_landcover_lite.safetensors"
HELD_OUT_TILE = "Tile 3"
#: model class order; names as the issue gives them, matched to the dataset's titles
CLASS_NAMES = ["Building", "Land", "Road", "Vegetation", "Water", "Unlabeled"]
LICENCE = ("trained on 'Semantic segmentation of aerial imagery' (Humans in the Loop, Dubai "
           "MBRSC imagery), CC0 1.0")


def dubai_classes(folder: Path) -> list[dict]:
    """The 6 classes with ids 0-5 and the colours of classes.json."""
    titles = {item["title"].split(" (")[0]: item["color"]
              for item in json.loads((folder / "classes.json").read_text())["classes"]}
    return [{"id": i, "name": name, "color": titles[name].lower()} for i, name in enumerate(CLASS_NAMES)]


def tile_scenes(folder: Path, tiles: list[str], classes: list[dict]):
    """Labelled scenes of the chips of `tiles` (mask colours not among the classes: unlabelled)."""
    scenes = []
    for tile in tiles:
        scenes += load_image_mask_folders(folder / tile / "images", folder / tile / "masks",
                                          classes=classes)
    return scenes


GRID = 3
"""Each tile's nine chips are the cells of a 3 x 3 grid, row by row (image_part_001 top left,
009 bottom right): on every tile the edges of neighbouring cells join (mean RGB step across a
seam 3-26, about the step between neighbouring columns inside a chip, 7-20; each chip's right
edge matches the next chip in its row better than any other chip of its tile)."""


def whole_tile(folder: Path, tile: str, classes: list[dict], work: Path) -> LabelledScene:
    """`tile` as the one scene it is: its chips put back in their grid, written as an RGB
    GeoTIFF under `work`, with its labels (the held-out tile is 2046 x 1974 pixels)."""
    chips = tile_scenes(folder, [tile], classes)
    if len(chips) != GRID * GRID:
        raise ValueError(f"{tile} has {len(chips)} chips, not {GRID * GRID}")
    heights = [chips[row * GRID].labels.shape[0] for row in range(GRID)]
    widths = [chips[col].labels.shape[1] for col in range(GRID)]
    tops, lefts = np.cumsum([0, *heights]), np.cumsum([0, *widths])
    image = np.zeros((3, tops[-1], lefts[-1]), dtype=np.uint8)
    labels = np.full((tops[-1], lefts[-1]), IGNORE_INDEX, dtype=np.uint8)
    for index, chip in enumerate(chips):
        row, col = divmod(index, GRID)
        if chip.labels.shape != (heights[row], widths[col]):
            raise ValueError(f"{chip.raster_path.name} does not fit the grid of {tile}")
        cell = np.s_[tops[row]:tops[row + 1], lefts[col]:lefts[col + 1]]
        with rasterio.open(chip.raster_path) as dataset:
            image[(slice(None), *cell)] = dataset.read([1, 2, 3])
        labels[cell] = chip.labels
    path = work / f"{tile.replace(' ', '_').lower()}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2], height=image.shape[1],
                       count=3, dtype="uint8", tiled=True, compress="DEFLATE", crs="EPSG:32640",
                       transform=from_origin(500000, 2800000, 0.5, 0.5)) as out:
        out.write(image)
    return LabelledScene(path, labels, classes)


#: name: (net config class, config changes, teacher run or None)
RUNS = {"ginet": (GINetConfig, {}, None),
        "lite": (GINetLiteConfig, {}, None),
        "local_only": (GINetLiteConfig, {"use_global_view": False}, None),
        "lite_kd": (GINetLiteConfig, {}, "ginet")}
#: the runs the bundled model is chosen from (best held-out mIoU): the lite student with or
#: without the global view, distilled or not
CANDIDATES = ("lite", "lite_kd", "local_only")
METRIC_PREFIX = f"heldout_{HELD_OUT_TILE.replace(' ', '').lower()}_"
DESCRIPTIONS = {
    "ginet": "GINet (paper-sized teacher)",
    "lite": "Lite GINet student trained alone",
    "local_only": "Lite GINet student without the global view (ablation of the global branch)",
    "lite_kd": "Lite GINet student distilled from the GINet teacher (logits + local affinity)"}


def model_path(name: str, quick: bool, seed: int = 0) -> Path:
    """Where run `name` saves its model (quick runs and training seeds other than 0 use their
    own names)."""
    suffix = f"_seed{seed}" if seed else ""
    return MODELS / f"{'quick_' if quick else ''}segmentation_{name}{suffix}.safetensors"


def ship(quick: bool, log) -> str | None:
    """Save the candidate with the best held-out mIoU as BUNDLED; None while one is missing."""
    paths = {name: model_path(name, quick) for name in CANDIDATES}
    if quick or not all(p.exists() for p in paths.values()):
        return None
    best = max(CANDIDATES, key=lambda n: read_card(paths[n]).metrics[f"{METRIC_PREFIX}miou"])
    ship_package(paths[best], BUNDLED, f"{DESCRIPTIONS[best]}, for 6 land-cover classes in RGB "
                 "aerial imagery; bundled because it scored best on the held-out tile.")
    log(f"bundled {best} as {BUNDLED}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke run)")
    parser.add_argument("--runs", nargs="*", choices=list(RUNS), default=list(RUNS),
                        help="which models to train, in order (lite_kd needs ginet); none: "
                             "only choose the bundled model again")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of lite and local_only")
    parser.add_argument("--teacher-epochs", type=int, default=5, help="epochs of ginet")
    parser.add_argument("--distilled-epochs", type=int, default=8,
                        help="epochs of lite_kd (each step also runs the teacher)")
    parser.add_argument("--minutes", type=float, help="time box of each run")
    parser.add_argument("--max-class-weight", type=float, help="cap on the class weights")
    parser.add_argument("--patches", type=int, default=1200, help="training patches (256 px)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed (initial weights, batch order; the patches stay the "
                             "same); runs of seeds other than 0 are saved beside, never bundled")
    parser.add_argument("--out", help="JSON results (default benchmarks/out/train_segmentation[_quick].json)")
    args = parser.parse_args()
    folder = require_shared("segmentation", "dubai")
    classes = dubai_classes(folder)
    tiles = sorted(p.name for p in folder.iterdir() if p.is_dir())
    train_tiles = [t for t in tiles if t != HELD_OUT_TILE]
    patch, patches = (64, 48) if args.quick else (256, args.patches)
    epochs = {"ginet": args.teacher_epochs, "lite": args.epochs, "local_only": args.epochs,
              "lite_kd": args.distilled_epochs}
    if args.quick:
        train_tiles, epochs = train_tiles[:1], dict.fromkeys(RUNS, 1)
    MODELS.mkdir(parents=True, exist_ok=True)
    log_file = open(OUT / "train_segmentation.log", "a", encoding="utf-8")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    if args.runs:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            # each patch comes with the global view of a chip or of its whole tile, so the
            # global branch learns from views at the scale of the held-out tile's chips and of
            # the whole tile (three times coarser)
            wholes = [whole_tile(folder, tile, classes, Path(work)) for tile in train_tiles]
            samples = sample_patches(tile_scenes(folder, train_tiles, classes) + wholes, patch,
                                     patches, patch, seed=0)
        validation = sample_patches(tile_scenes(folder, [HELD_OUT_TILE], classes), patch,
                                    max(16, patches // 6), patch, seed=1, labelled_share=1.0)
        log(f"{len(samples)} training patches from {', '.join(train_tiles)}; {len(validation)} "
            f"held-out patches from {HELD_OUT_TILE} ({time.perf_counter() - started:.0f} s)")
    results = {}
    for name in args.runs:
        config_class, changes, teacher_run = RUNS[name]
        net_config = config_class(bands=3, classes=len(classes), global_size=patch, **changes)
        teacher = load_model(model_path(teacher_run, args.quick))[1] if teacher_run else None
        local_only = {"global_weight": 0.0, "lad_weight": 0.0} if not net_config.use_global_view else {}
        config = TrainConfig(epochs=epochs[name], batch_size=8, device="auto", seed=args.seed,
                             minutes=args.minutes, max_class_weight=args.max_class_weight,
                             **local_only)
        began = time.perf_counter()
        result = train_segmentation(samples, config, teacher,
                                    log=lambda line, n=name: log(f"[{n}] {line}"),
                                    net_config=net_config, validation=validation)
        seconds = round(time.perf_counter() - began, 1)
        path = model_path(name, args.quick, args.seed)
        card = save_package(path, result.model.state_dict(), ModelCard(
            name=path.stem, task="segmentation", architecture=result.architecture,
            config=result.config, input_bands={"image": ["red", "green", "blue"]}, classes=classes,
            tile_size=512, overlap=64,
            teacher=model_path(teacher_run, args.quick).stem if teacher_run else "",
            training_data=f"Dubai aerial imagery, {', '.join(train_tiles)} (their chips and each "
                          "tile as one scene)", licence=LICENCE,
            metrics={**card_metrics(result.metrics, classes, prefix=METRIC_PREFIX),
                     "heldout_patches": float(len(validation)), "training_seconds": seconds,
                     "epochs_run": float(len(result.history) - 1)},
            created_by=created_by(),
            description=f"{DESCRIPTIONS[name]} for 6 land-cover classes in RGB aerial imagery; "
                        f"metrics on {patch} px patches of the held-out {HELD_OUT_TILE}."))
        key = f"{name}_seed{args.seed}" if args.seed else name
        results[key] = {"seconds": seconds, "epochs": epochs[name], "path": str(path),
                        "config": dataclasses.asdict(net_config), **card.metrics}
    shipped = ship(args.quick, log) if not args.seed else None
    out = Path(args.out or OUT / f"train_segmentation{'_quick' if args.quick else ''}.json")
    summary = json.loads(out.read_text()) if out.exists() and not args.quick else {}
    summary.update({"quick": args.quick, "held_out": HELD_OUT_TILE, "patch": patch,
                    "patches": patches, "machine": machine(),
                    "results": {**summary.get("results", {}), **results}})
    if shipped:
        summary["shipped"] = shipped
    write_json(summary, out)


if __name__ == "__main__":
    main()
