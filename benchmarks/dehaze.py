"""Dehazing benchmark: quality on held-out synthetic pairs, speed through the engine, and a
before/after picture on a real hazy image.

    .venv/bin/python benchmarks/dehaze.py [--quick]

Needs the models of recipes/dehazing.py in benchmarks/out/models/ (a model that is
missing is reported as such). Quality: PSNR/SSIM on the held-out images of recipes/dehazing.py
(AID: one image per class; Dubai Tile 6) with seeded synthetic haze, for the lite student, the
student without KD, the reduced-width KTDN and the dark channel prior. Speed: Mpx/s of the
whole `geodistill:dehaze` pipeline (`models.tasks.dehaze.dehaze`: scaling, tiling, blending,
GeoTIFF writing) on a generated RGB raster. Goals (reported, not enforced): the bundled lite
student (whichever of the two recipes/dehazing.py bundled) >= dark channel prior + 4 dB and >= 1
Mpx/s on a CPU; lite with KD >= lite without KD + 0.3 dB. Also: each student's PSNR when run
on separate tiles of TILE_SIZES pixels, its training patch size among them (its output depends
on the tile it sees).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from common import OUT, machine, require_shared, same_weights, write_json

from models.data.haze import synthesize_haze, smooth_random_field
from models.package import load_model
from models.tasks.dehaze import DARK_CHANNEL, DehazeRequest, dehaze, model_scaling_from_array
from models.tasks.dehaze_evaluation import (DARK_CHANNEL_NAME, HAZY_INPUT, dark_channel_dehazer,
                                            model_dehazer, run_net, score_methods, synthetic_cases)
from train_dehaze import BUNDLED, HELD_OUT_SEED, MODELS, PATCH, image_split

CROP = 256
"""Side of the held-out crops."""
TILE_SIZES = (PATCH // 2, PATCH, PATCH * 2, CROP)

MODEL_FILES = {"lite": "dehazing_lite_rgb", "lite_nokd": "dehazing_lite_nokd_rgb",
               "ktdn": "dehazing_ktdn_rgb"}
BEFORE_AFTER_IMAGE = "AID_denseresidential_65.jpg"


def available_models() -> dict[str, Path]:
    """name -> package path of the trained models that exist."""
    paths = {name: MODELS / f"{stem}.safetensors" for name, stem in MODEL_FILES.items()}
    return {name: path for name, path in paths.items() if path.exists()}


def quality(models: dict[str, Path], cases) -> dict:
    """PSNR/SSIM (means and per image) of every method on the held-out synthetic pairs."""
    methods = {HAZY_INPUT: lambda hazy: hazy, DARK_CHANNEL_NAME: dark_channel_dehazer}
    methods.update({name: model_dehazer(load_model(path)[1]) for name, path in models.items()})
    return score_methods(cases, methods)


def on_tiles(net, size: int):
    """hazy -> dehazed by `net` run on separate size x size tiles (no overlap, no blending)."""
    def dehaze_tiles(hazy: np.ndarray) -> np.ndarray:
        scaling = model_scaling_from_array(hazy)
        image = scaling.normalize(hazy)
        out = np.empty_like(image)
        for top in range(0, image.shape[1], size):
            for left in range(0, image.shape[2], size):
                cell = np.s_[:, top:top + size, left:left + size]
                out[cell] = run_net(net, np.ascontiguousarray(image[cell]))
        return scaling.denormalize(out)
    return dehaze_tiles


def tile_dependence(models: dict[str, Path], cases) -> dict:
    """{student: {tile size: PSNR}} of each student run on separate tiles of TILE_SIZES pixels
    (the largest is the whole crop): how its output depends on seeing less or more than the
    PATCH pixels it saw in training."""
    students = {name: load_model(path)[1] for name, path in models.items() if name != "ktdn"}
    by_size = {size: score_methods(cases, {name: on_tiles(net, size)
                                           for name, net in students.items()})
               for size in TILE_SIZES}
    return {name: {str(size): by_size[size][name]["psnr"] for size in TILE_SIZES}
            for name in students}


def source_of(path: str) -> str:
    """Which held-out set an image belongs to: "AID" chips or the "Dubai tile 6" images."""
    return "Dubai tile 6" if "dubai" in Path(path).parts else "AID"


def by_source(scores: dict, held_out: list[str]) -> dict:
    """{method: {source: mean PSNR over that source's held-out images}}."""
    sources = {Path(path).name: source_of(path) for path in held_out}
    return {method: {source: float(np.mean([s["psnr"] for name, s in result["per_image"].items()
                                            if sources[name] == source]))
                     for source in sorted(set(sources.values()))}
            for method, result in scores.items()}


def write_hazy_raster(path: Path, size: int) -> Path:
    """A generated hazy RGB uint8 raster of size x size pixels (textured scene + haze)."""
    rng = np.random.default_rng(0)
    scene = np.stack([0.2 + 0.6 * smooth_random_field(size, size, rng, (8, 32, 128)) for _ in range(3)])
    hazy, _, _ = synthesize_haze(scene, rng)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8",
                   crs="EPSG:32633", transform=from_origin(500000, 4500000, 1, 1))
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(np.round(hazy * 255).astype(np.uint8))
    return path


def engine_speed(models: dict[str, Path], size: int, folder: Path) -> dict:
    """Mpx/s of the dehazing pipeline on the CPU for each model and the dark channel prior."""
    raster = write_hazy_raster(folder / "hazy.tif", size)
    speeds = {}
    for name, model in {**{n: str(p) for n, p in models.items()}, DARK_CHANNEL_NAME: DARK_CHANNEL}.items():
        result = dehaze(DehazeRequest(str(raster), str(folder / f"{name}.tif"), model=model,
                                      device="cpu"))
        speeds[name] = result.megapixels_per_second
    return speeds


def before_after(model: Path, folder: Path, out: Path) -> Path:
    """A PNG of a real hazy image (left) and `model`'s result (right)."""
    source = require_shared("dehazing", "real_hazy", BEFORE_AFTER_IMAGE)
    dehazed = dehaze(DehazeRequest(str(source), str(folder / "real_dehazed.tif"), model=str(model),
                                   device="cpu")).output_path
    with rasterio.open(source) as before, rasterio.open(dehazed) as after:
        left, right = before.read(), after.read()
    gap = np.full((3, left.shape[1], 8), 255, np.uint8)
    picture = np.concatenate([left, gap, right], axis=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(out, "w", driver="PNG", width=picture.shape[2], height=picture.shape[1],
                       count=3, dtype="uint8") as png:
        png.write(picture)
    return out


def bundled_name(models: dict[str, Path]) -> str | None:
    """Which trained student is the bundled model (same weights), if any."""
    if not BUNDLED.exists():
        return None
    return next((name for name, path in models.items() if same_weights(path, BUNDLED)), None)


def goals(scores: dict, speeds: dict, bundled: str | None) -> dict:
    """Each goal of the issue: measured value and whether it is met (None: model missing).
    The lite-student goals are measured on the bundled student."""
    def margin(a, b):
        return scores[a]["psnr"] - scores[b]["psnr"] if a in scores and b in scores else None

    over_dcp, over_nokd = margin(bundled, DARK_CHANNEL_NAME), margin("lite", "lite_nokd")
    speed = speeds.get(bundled)
    return {"bundled_over_dark_channel_db": {"value": over_dcp, "goal": 4.0,
                                             "met": None if over_dcp is None else over_dcp >= 4.0},
            "kd_over_no_kd_db": {"value": over_nokd, "goal": 0.3,
                                 "met": None if over_nokd is None else over_nokd >= 0.3},
            "bundled_cpu_mpx_per_s": {"value": speed, "goal": 1.0,
                                      "met": None if speed is None else speed >= 1.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 held-out images, a 256 px raster")
    parser.add_argument("--out", default=str(OUT / "dehaze.json"))
    args = parser.parse_args()
    _, held_out = image_split(per_class=0, dubai_tiles=5)
    held_out = held_out[:3] if args.quick else held_out
    models = available_models()
    bundled = bundled_name(models)
    cases = synthetic_cases(held_out, CROP, HELD_OUT_SEED)
    scores = quality(models, cases)
    on_tiles_of_size = tile_dependence(models, cases)
    with tempfile.TemporaryDirectory() as folder:
        speeds = engine_speed(models, 256 if args.quick else 1024, Path(folder))
        picture = before_after(BUNDLED, Path(folder), OUT / "dehaze_before_after.png") \
            if BUNDLED.exists() else None
    write_json({"machine": machine(), "quick": args.quick, "held_out_images": len(held_out),
                "models": {name: str(path) for name, path in models.items()},
                "missing_models": sorted(set(MODEL_FILES) - set(models)),
                "quality": {name: {k: v for k, v in s.items() if k != "per_image"}
                            for name, s in scores.items()},
                "psnr_by_source": by_source(scores, held_out),
                "training_patch_size": PATCH,
                "psnr_by_tile_size": on_tiles_of_size,
                "bundled": bundled, "engine_megapixels_per_second": speeds,
                "goals": goals(scores, speeds, bundled),
                "before_after_png": str(picture) if picture else None}, args.out)


if __name__ == "__main__":
    main()
