"""Train the bundled pansharpening students (and their PSDNet teachers) on ../shared/data.

Reproducible command for the models shipped in resources/models/:

    .venv/bin/python benchmarks/train_pansharpen.py [--quick]

Two sensors, one bundled lite student each (one model fits one band count and ratio):
- 4 bands, ratio 4: SpaceNet 6 Rotterdam (WorldView-2) pairs 1 and 2, with the MS restored to
  its native 2 m grid (see common.native_spacenet_pair; pair 3 is held out for evaluation);
- 8 bands, ratio 4: the WorldView-2 sample (the WorldView-3 sample is held out).
For each: PSDNet trained with its ground-truth teacher, the lite student distilled from it,
and the lite student trained alone (the ablation the benchmark compares). The students and
teachers land in benchmarks/out/models/; of the two students, the one with the lower
validation loss (patches of the training scenes, never the held-out scene) is copied to
resources/models/ with its card (held-out metrics are added by
`benchmarks/pansharpen.py --update-cards`). `--seed N --reuse-teachers` trains the two students
again with another seed (patches and initial weights) from the same PSDNet, named `..._seedN`
and never shipped: the spread between seeds is what a distillation gain must exceed.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from common import OUT, ROOT, native_spacenet_pair, pansharpening_model, require_shared, \
    ship_package, write_json

from models.package import read_card
from models.tasks.callbacks import Callbacks
from models.tasks.pansharpen_training import PansharpenTrainingRequest, train_pansharpening_model

BUNDLED = ROOT / "resources" / "models"


@dataclass
class SensorSet:
    """Training pairs of one sensor and what the bundled student is called."""

    key: str
    sensor: str
    pairs: list[tuple[str, str]]
    licence: str
    description: str
    """What the bundled student is for; how it was trained is added when it ships."""
    training_data: str


def sensor_sets() -> list[SensorSet]:
    worldview2 = require_shared("pansharpening", "worldview2")
    return [
        SensorSet("4band_x4", "worldview2",
                  [tuple(str(p) for p in native_spacenet_pair(i)) for i in (1, 2)],
                  "trained on SpaceNet 6 imagery (CC BY-SA 4.0)",
                  "Lite pansharpening student for 4-band (blue, green, red, NIR) MS at PAN/MS "
                  "ratio 4 (WorldView-2-like sensors).",
                  "SpaceNet 6 Rotterdam MS+PAN pairs 1 and 2 (WorldView-2; MS on its native 2 m "
                  "grid), Wald protocol"),
        SensorSet("8band_x4", "worldview2",
                  [(str(worldview2 / "ms.tif"), str(worldview2 / "pan.tif"))],
                  "trained on the GRIP-UNINA WorldView-2 sample: non-profit use only; cite Masi "
                  "et al. 2016 (PNN)",
                  "Lite pansharpening student for 8-band WorldView-2-like MS at ratio 4.",
                  "GRIP-UNINA WorldView-2 sample scene (8-band MS 2 m, PAN 0.5 m), Wald protocol"),
    ]


def train_set(item: SensorSet, epochs: dict[str, int], samples: int, log,
              reuse_teachers: bool = False, quick: bool = False, seed: int = 0) -> dict:
    """Teacher, distilled student and plain student for one sensor; returns their cards' metrics.

    Only seed 0's better student is shipped."""
    common = dict(pairs=item.pairs, sensor=item.sensor, samples_per_pair=samples, patch_size=64,
                  device="auto", licence=item.licence, training_data=item.training_data, seed=seed)
    paths = {name: pansharpening_model(name, item.key, seed)
             for name in ("psdnet", "lite", "lite_nokd")}
    if quick:  # a smoke run never replaces real models
        paths = {name: path.parent / "quick" / path.name for name, path in paths.items()}
    paths["psdnet"].parent.mkdir(parents=True, exist_ok=True)
    runs = [("psdnet", dict(architecture="psdnet", epochs=epochs["psdnet"])),
            ("lite", dict(architecture="lite", epochs=epochs["lite"], teacher=str(paths["psdnet"]))),
            ("lite_nokd", dict(architecture="lite", epochs=epochs["lite"]))]
    summary = {}
    for name, options in runs:
        if name == "psdnet" and reuse_teachers and paths[name].exists():
            log(f"[{item.key}] reusing the teacher {paths[name]}")
            continue
        started = time.perf_counter()
        card = train_pansharpening_model(
            PansharpenTrainingRequest(output_model=str(paths[name]), **common, **options),
            Callbacks(log=lambda line, n=name: log(f"[{item.key} {n}] {line}")))
        summary[name] = {"seconds": round(time.perf_counter() - started, 1), **card.metrics}
    if quick or seed:
        return summary
    shipped = min(("lite", "lite_nokd"), key=lambda n: read_card(paths[n]).metrics["validation_l1"])
    how = ("Distilled from PSDNet" if shipped == "lite" else
           "Trained alone: its validation loss beat the student distilled from PSDNet")
    ship_package(paths[shipped], BUNDLED / f"pansharpening_lite_{item.key}.safetensors",
                 f"{item.description} {how} (validation L1 "
                 + ", ".join(f"{n} {read_card(paths[n]).metrics['validation_l1']:.5f}"
                             for n in ("lite", "lite_nokd")) + ").")
    summary["shipped"] = shipped
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few epochs only (smoke run)")
    parser.add_argument("--reuse-teachers", action="store_true",
                        help="keep PSDNet teachers already in benchmarks/out/models")
    parser.add_argument("--only", help="train only this model set (e.g. 4band_x4)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the patches and training; students of seeds other than 0 "
                             "are named ..._seedN and not shipped (use with --reuse-teachers)")
    parser.add_argument("--psdnet-epochs", type=int, default=40, help="epochs of each PSDNet phase")
    parser.add_argument("--lite-epochs", type=int, default=30, help="epochs of each lite student")
    parser.add_argument("--out", default=str(OUT / "train_pansharpen.json"))
    args = parser.parse_args()
    if args.seed and not args.reuse_teachers:
        parser.error("--seed N trains students of the PSDNet already there: add --reuse-teachers")
    epochs = {"psdnet": 2, "lite": 3} if args.quick else {"psdnet": args.psdnet_epochs,
                                                           "lite": args.lite_epochs}
    samples = 32 if args.quick else 192
    log_file = open(OUT / "train_pansharpen.log", "a", encoding="utf-8")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    results = {item.key: train_set(item, epochs, samples, log, args.reuse_teachers, args.quick,
                                   args.seed)
               for item in sensor_sets() if args.only in (None, item.key)}
    write_json({"epochs": epochs, "samples_per_pair": samples, "seed": args.seed,
                "results": results}, args.out)


if __name__ == "__main__":
    main()
