"""Train the bundled dehazing student (and its teacher, big net and no-KD ablation) on ../shared/data.

Reproducible command for the model shipped in resources/models/:

    .venv/bin/python recipes/dehazing.py [--quick]

(the teacher and the reduced KTDN come from an earlier run with `--epochs 8 5 30
--aid-per-class 4 --samples 2048`; the students from `--reuse-teachers --no-output-kd` with
the defaults, 61 minutes on 2 threads. The reduced KTDN that fits this budget is weaker than
the students, so its outputs are not distilled; see docs/measurements.md)

Clear RGB images with synthetic non-homogeneous haze (models.data.haze):
- AID scene chips (classification/aid_train, 150 x 150 px): image 5 (index 4) of every class is
  held out, the first `--aid-per-class` of the others train;
- Dubai aerial tiles (segmentation/dubai/Tile 1-5/images) train, Tile 6 is held out;
- Landsat 7 RGB (generic/rasterio/RGB.byte.tif) trains (its nodata collar is cropped away).
Models, written to benchmarks/out/models/:
- dehazing_teacher_rgb: the KTDN clear-image autoencoder at half width (the plugin's lite pipeline
  uses the same compact teacher);
- dehazing_ktdn_rgb: a reduced-width "ktdn" (Res2Net encoder 32/64/128 channels, depths 2/2/3,
  6.6 M parameters instead of the paper's 50 M, which is not trainable on a 2-core CPU) with
  knowledge transfer from the teacher;
- dehazing_lite_rgb: the lite student distilled from the teacher (features) and, unless
  --no-output-kd, the big net (outputs);
- dehazing_lite_nokd_rgb: the lite student trained alone (the ablation benchmarks/dehaze.py compares).
Of the two students, the one with the better validation PSNR is bundled as
resources/models/dehazing_lite_rgb.safetensors (full run only; `--ship-only` redoes just that).
Each card holds the validation metrics of its run and PSNR/SSIM on the held-out images.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from common import OUT, ROOT, require_shared, ship_package, write_json  # noqa: E402

from models.training.train_dehaze import train_dehazer, train_student, train_teacher
from models.nets.ktdn import KTDNConfig
from models.tasks.callbacks import Callbacks
from models.tasks.dehaze_evaluation import (DARK_CHANNEL_NAME, HAZY_INPUT, dark_channel_dehazer,
                                            model_dehazer, score_methods, synthetic_cases)
from models.tasks.dehaze_training import (DehazeTrainingRequest, card_for, compact_teacher_config,
                                          load_training_data, train_config)
from models.package import load_model, read_card, save_package
from models.tasks.trained_models import validation_metrics

MODELS = OUT / "models"
BUNDLED = ROOT / "resources" / "models" / "dehazing_lite_rgb.safetensors"
HELD_OUT_SEED = 1234
HELD_OUT_AID_INDEX = 4
PATCH = 64
"""Side of the training patches (full runs)."""
STUDENTS = ("lite", "lite_nokd")
LITE_DESCRIPTION = ("Lite dehazing student for RGB imagery (per-pixel gain and offset on the hazy "
                    "input), {}; input scaled by the hazy scene's 99.5th percentile of all bands "
                    "(low 0).")
LICENCE = ("trained on AID (Xia et al., IEEE TGRS 2017; research use with citation), the Dubai "
           "aerial imagery of Humans in the Loop (CC0 as released on Kaggle, unconfirmed) and a "
           "Landsat 7 scene (public domain)")


def reduced_ktdn_config() -> KTDNConfig:
    """The "ktdn" trained here: the paper's layout at reduced width and depth (CPU budget)."""
    return KTDNConfig(bands=3, encoder_depths=(2, 2, 3), encoder_planes=(32, 64, 128),
                      stem_width=32, sr_width=32, sr_blocks=2)


def image_split(per_class: int, dubai_tiles: int) -> tuple[list[str], list[str]]:
    """(training, held-out) clear image paths; see the module docstring. The held-out images
    do not depend on `per_class`."""
    aid = require_shared("classification", "aid_train")
    dubai = require_shared("segmentation", "dubai")
    landsat = require_shared("generic", "rasterio", "RGB.byte.tif")
    train, held_out = [str(landsat)], []
    for folder in sorted(p for p in aid.iterdir() if p.is_dir()):
        images = sorted(folder.glob("*.jpg"))
        held_out.append(str(images[HELD_OUT_AID_INDEX]))
        train += [str(p) for i, p in enumerate(images) if i != HELD_OUT_AID_INDEX][:per_class]
    for tile in range(1, 7):
        images = sorted((dubai / f"Tile {tile}" / "images").glob("*.jpg"))
        if tile == 6:
            held_out += [str(p) for p in images]
        elif tile <= dubai_tiles:
            train += [str(p) for p in images]
    return train, held_out


def ship_best_student(log) -> str:
    """Bundle the lite student (with or without KD) with the higher validation PSNR."""
    paths = {name: MODELS / f"dehazing_{name}_rgb.safetensors" for name in STUDENTS}
    best = max(STUDENTS, key=lambda name: read_card(paths[name]).metrics["validation_psnr"])
    ship_package(paths[best], BUNDLED)
    log(f"bundled {paths[best].name} as {BUNDLED}")
    return best


def held_out_scores(models: dict, held_out: list[str]) -> dict:
    """PSNR/SSIM on the held-out images with seeded synthetic haze, with the baselines."""
    cases = synthetic_cases(held_out, 256, HELD_OUT_SEED)
    methods = {HAZY_INPUT: lambda hazy: hazy, DARK_CHANNEL_NAME: dark_channel_dehazer}
    methods.update({name: model_dehazer(model) for name, model in models.items()})
    return score_methods(cases, methods)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few images, patches and epochs (smoke run; bundles nothing)")
    parser.add_argument("--samples", type=int, default=8192, help="training patches (full run)")
    parser.add_argument("--aid-per-class", type=int, default=99,
                        help="AID training images per class (full run; 99 = all but the held-out one)")
    parser.add_argument("--epochs", type=int, nargs=3, default=(10, 15, 30),
                        metavar=("TEACHER", "KTDN", "LITE"), help="epochs of each phase (full run)")
    parser.add_argument("--reuse-teachers", action="store_true",
                        help="load dehazing_teacher_rgb and dehazing_ktdn_rgb from an earlier run")
    parser.add_argument("--no-output-kd", action="store_true",
                        help="distil the lite student from the teacher's features only, not from "
                             "the big net's outputs (for a big net weaker than the student)")
    parser.add_argument("--ship-only", action="store_true",
                        help="train nothing: bundle the better of the two trained students again")
    parser.add_argument("--out", default=str(OUT / "train_dehaze.json"))
    args = parser.parse_args()
    if args.ship_only:
        ship_best_student(print)
        return
    if args.quick:
        per_class, dubai_tiles, samples, patch = 1, 1, 64, 32
        epochs = {"teacher": 1, "ktdn": 1, "lite": 2}
    else:
        per_class, dubai_tiles, samples, patch = args.aid_per_class, 5, args.samples, PATCH
        epochs = dict(zip(("teacher", "ktdn", "lite"), args.epochs))
    train_paths, held_out = image_split(per_class, dubai_tiles)
    if args.quick:
        held_out = held_out[:3]
    MODELS.mkdir(parents=True, exist_ok=True)
    log_file = open(OUT / "train_dehaze.log", "a", encoding="utf-8")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    request = DehazeTrainingRequest(output_model="", clear_paths=train_paths, patch_size=patch,
                                    samples=samples, device="auto", licence=LICENCE)
    data = load_training_data(request, Callbacks(log=log))
    timings, results = {}, {}

    def timed(name, train):
        started = time.perf_counter()
        results[name] = train()
        timings[name] = round(time.perf_counter() - started, 1)
        log(f"{name}: {timings[name]} s, validation {results[name].metrics}")

    config = train_config(request)
    nets = {}
    if args.reuse_teachers:
        for name in ("teacher", "ktdn"):
            nets[name] = load_model(MODELS / f"dehazing_{name}_rgb.safetensors")[1]
            log(f"reusing dehazing_{name}_rgb")
    else:
        timed("teacher", lambda: train_teacher(
            data.samples.clear, dataclasses.replace(config, epochs=epochs["teacher"]), log=log,
            net_config=compact_teacher_config(3)))
        nets["teacher"] = results["teacher"].model
        timed("ktdn", lambda: train_dehazer(
            data.samples, dataclasses.replace(config, epochs=epochs["ktdn"]), nets["teacher"],
            log=log, net_config=reduced_ktdn_config()))
        nets["ktdn"] = results["ktdn"].model
    lite_config = dataclasses.replace(config, epochs=epochs["lite"])
    big_net = None if args.no_output_kd else nets["ktdn"]
    timed("lite", lambda: train_student(data.samples, lite_config, nets["teacher"], big_net, log=log))
    timed("lite_nokd", lambda: train_student(data.samples, lite_config, log=log))
    nets.update({name: results[name].model for name in ("lite", "lite_nokd")})

    scores = held_out_scores({name: nets[name] for name in ("ktdn", "lite", "lite_nokd")}, held_out)
    sources = {"teacher": "", "ktdn": "dehazing_teacher_rgb (knowledge transfer)",
               "lite": "dehazing_teacher_rgb (knowledge transfer)"
                       + ("" if big_net is None else " + dehazing_ktdn_rgb (outputs)"),
               "lite_nokd": ""}
    descriptions = {
        "teacher": "KTDN clear-image autoencoder at half width (teacher of the dehazers).",
        "ktdn": "KTDN at reduced width and depth (6.6 M parameters; the paper's 50 M net is not "
                "trainable on the CPU this was made on), with knowledge transfer.",
        "lite": LITE_DESCRIPTION.format(
            "distilled from a KTDN teacher's features"
            + ("" if big_net is None else " and a reduced-width KTDN's outputs")),
        "lite_nokd": LITE_DESCRIPTION.format("trained without distillation")}
    for name, result in results.items():
        metrics = validation_metrics(result.metrics)
        if name in scores:
            metrics.update({"heldout_psnr": scores[name]["psnr"], "heldout_ssim": scores[name]["ssim"],
                            "heldout_dark_channel_psnr": scores[DARK_CHANNEL_NAME]["psnr"],
                            "heldout_hazy_psnr": scores[HAZY_INPUT]["psnr"],
                            "heldout_images": float(len(held_out))})
        path = MODELS / f"dehazing_{name}_rgb.safetensors"
        card = card_for(result, data, dataclasses.replace(
            request, output_model=str(path), description=descriptions[name]), sources[name], metrics)
        save_package(path, result.model.state_dict(), card)
    shipped = None if args.quick else ship_best_student(log)
    write_json({"quick": args.quick, "epochs": epochs, "reused_teachers": args.reuse_teachers,
                "shipped": shipped,
                "output_kd": big_net is not None, "samples": samples, "patch_size": patch,
                "aid_per_class": per_class,
                "training_images": len(train_paths), "held_out_images": len(held_out),
                "seconds": timings, "torch_threads": torch.get_num_threads(),
                "held_out": {name: {k: v for k, v in s.items() if k != "per_image"}
                             for name, s in scores.items()}}, args.out)


if __name__ == "__main__":
    main()
