"""Train the bundled land-cover segmentation student (and its GINet teacher) on ../shared/data.

Reproducible command for the model shipped in resources/models/:

    .venv/bin/python benchmarks/train_segmentation.py [--quick]

Data: the Dubai aerial imagery chips (6 tiles of 9 RGB chips with colour-coded masks), 6
classes (Building, Land, Road, Vegetation, Water, Unlabeled) with the dataset's colours; black
mask pixels are unlabelled. Tile 3 (all 6 classes) is held out for validation: every model is
validated on patches of it only. Runs: GINet (teacher), the lite student distilled from it,
the lite student without the global view ("local-only", also distilled: the ablation of the
global branch) and the lite student trained alone (the ablation of distillation). Models land
in benchmarks/out/models/; the distilled lite student is copied to
resources/models/segmentation_landcover_lite.safetensors (not in --quick runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

from common import OUT, ROOT, machine, require_shared, write_json

from models.about import created_by
from models.data.labels import load_image_mask_folders, sample_patches
from models.distill.train_segmentation import TrainConfig, train_segmentation
from models.nets.ginet import GINetConfig, GINetLiteConfig
from models.package import ModelCard, save_package
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


def runs() -> list[tuple[str, type, dict, bool]]:
    """(name, config class, config changes, distilled) of every model to train."""
    return [("ginet", GINetConfig, {}, False),
            ("lite", GINetLiteConfig, {}, True),
            ("local_only", GINetLiteConfig, {"use_global_view": False}, True),
            ("lite_nokd", GINetLiteConfig, {}, False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke run)")
    parser.add_argument("--out", default=str(OUT / "train_segmentation.json"))
    args = parser.parse_args()
    folder = require_shared("segmentation", "dubai")
    classes = dubai_classes(folder)
    tiles = sorted(p.name for p in folder.iterdir() if p.is_dir())
    train_tiles = [t for t in tiles if t != HELD_OUT_TILE]
    settings = (dict(patch=64, global_size=64, patches=48, epochs={"ginet": 1, "lite": 1})
                if args.quick else
                dict(patch=256, global_size=256, patches=1500, epochs={"ginet": 30, "lite": 40}))
    if args.quick:
        train_tiles = train_tiles[:1]
    started = time.perf_counter()
    samples = sample_patches(tile_scenes(folder, train_tiles, classes), settings["patch"],
                             settings["patches"], settings["global_size"], seed=0)
    validation = sample_patches(tile_scenes(folder, [HELD_OUT_TILE], classes), settings["patch"],
                                max(16, settings["patches"] // 6), settings["global_size"], seed=1,
                                labelled_share=1.0)
    MODELS.mkdir(parents=True, exist_ok=True)
    log_file = open(OUT / "train_segmentation.log", "a", encoding="utf-8")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    log(f"{len(samples)} training patches from {', '.join(train_tiles)}; {len(validation)} "
        f"held-out patches from {HELD_OUT_TILE} ({time.perf_counter() - started:.0f} s)")
    teacher = None
    results = {}
    for name, config_class, changes, distilled in runs():
        net_config = config_class(bands=3, classes=len(classes), global_size=settings["global_size"],
                                  **changes)
        epochs = settings["epochs"]["ginet" if name == "ginet" else "lite"]
        local_only = {"global_weight": 0.0, "lad_weight": 0.0} if not net_config.use_global_view else {}
        config = TrainConfig(epochs=epochs, batch_size=8, device="auto", seed=0, **local_only)
        began = time.perf_counter()
        result = train_segmentation(samples, config, teacher if distilled else None,
                                    log=lambda line, n=name: log(f"[{n}] {line}"),
                                    net_config=net_config, validation=validation)
        path = MODELS / f"segmentation_{name}.safetensors"
        card = save_package(path, result.model.state_dict(), ModelCard(
            name="segmentation_landcover_lite" if name == "lite" else f"segmentation_{name}",
            task="segmentation", architecture=result.architecture, config=result.config,
            input_bands={"image": ["red", "green", "blue"]}, classes=classes, tile_size=512,
            overlap=64, teacher="segmentation_ginet" if distilled else "",
            training_data=f"Dubai aerial imagery, {', '.join(train_tiles)}", licence=LICENCE,
            metrics=card_metrics(result.metrics, classes, prefix=f"held_out_{HELD_OUT_TILE.replace(' ', '').lower()}_"),
            created_by=created_by(),
            description=f"GINet {'lite student' if name != 'ginet' else 'teacher'} ({name}) for "
                        "6 land-cover classes in RGB aerial imagery; metrics on patches of the "
                        f"held-out {HELD_OUT_TILE}."))
        if name == "ginet":
            teacher = result.model
        results[name] = {"seconds": round(time.perf_counter() - began, 1), "path": str(path),
                         "config": dataclasses.asdict(net_config), **card.metrics}
    if not args.quick:
        BUNDLED.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(MODELS / "segmentation_lite.safetensors", BUNDLED)
    write_json({"quick": args.quick, "held_out": HELD_OUT_TILE, "settings": settings,
                "machine": machine(), "results": results}, args.out)


if __name__ == "__main__":
    main()
