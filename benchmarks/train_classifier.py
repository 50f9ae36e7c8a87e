"""Train the bundled scene classifier on AID chips (../shared/data/classification/aid_train).

Reproducible command for the model shipped in resources/models/:

    .venv/bin/python benchmarks/train_classifier.py [--student mobilenetv2] [--minutes 120]
        [--teacher-minutes 240] [--teacher-size 64] [--teacher-epochs 50] [--patience 60]
        [--reuse-teacher] [--methods class_centric ...] [--quick]

AID here is 30 classes x 100 RGB jpg chips of 150 x 150 pixels; 20 chips per class are held
out (`aid_split`, the same split benchmarks/classify.py scores on) and never seen in training.
Steps, each time-boxed by --minutes (per student; --teacher-minutes for the teacher):
1. the teacher (ResNet-50 class, plain CE) on chips resized to --teacher-size;
2. the student distilled from it with class-centric KD (chips resized to --student-size);
3. the student with class-aware self-distillation, and the plain-CE student (the ablation).
All models land in benchmarks/out/models/; the student with the best validation accuracy is
copied to resources/models/classification_aid_<student>.safetensors (its card records the
training wall time and method). --quick trains tiny nets for one epoch on 4 classes and
ships nothing.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

from common import OUT, ROOT, machine, require_shared, ship_package, write_json

from models.tasks.callbacks import Callbacks
from models.tasks.classify_training import ClassifierTrainingRequest, train_scene_classifier

MODELS = OUT / "models"
BUNDLED = ROOT / "resources" / "models"
HELD_OUT_PER_CLASS = 20
LICENCE = "trained on AID (Xia et al. 2017, 'AID: a benchmark data set for performance " \
          "evaluation of aerial scene classification'): research use, cite the paper"
STUDENT_METHODS = ("class_centric", "class_aware", "plain")
TINY = {"teacher": {"width": 8, "depths": [1, 1, 1, 1]}, "resnet18": {"width": 8, "depths": [1, 1, 1, 1]},
        "mobilenetv2": {"width_multiplier": 0.25, "last_channels": 64}}


def aid_split(source: Path, target: Path, held_out: int = HELD_OUT_PER_CLASS, classes: int = 0,
              per_class: int = 0, seed: int = 0) -> tuple[Path, Path]:
    """Folders of links `target/train` and `target/held_out` (same layout as `source`):
    `held_out` chips of each class picked at random (fixed seed), the rest for training.
    `classes` / `per_class` (0 = all) shrink the set for quick runs."""
    rng = random.Random(seed)
    train, test = target / "train", target / "held_out"
    shutil.rmtree(target, ignore_errors=True)
    folders = sorted(p for p in source.iterdir() if p.is_dir())
    for folder in folders[:classes or None]:
        chips = sorted(folder.iterdir())
        rng.shuffle(chips)
        chips = chips[:per_class or None]
        count = min(held_out, len(chips) // 2)
        for part, chosen in ((test, chips[:count]), (train, chips[count:])):
            (part / folder.name).mkdir(parents=True, exist_ok=True)
            for chip in chosen:
                (part / folder.name / chip.name).symlink_to(chip.resolve())
    return train, test


def model_paths(student: str, quick: bool) -> dict[str, Path]:
    """Where each trained model goes (quick runs use their own names)."""
    prefix = "quick_" if quick else ""
    return {"teacher": MODELS / f"{prefix}classification_aid_teacher.safetensors",
            **{method: MODELS / f"{prefix}classification_aid_{student}_{method}.safetensors"
               for method in STUDENT_METHODS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", choices=("mobilenetv2", "resnet18"), default="mobilenetv2")
    parser.add_argument("--teacher-size", type=int, default=96, help="teacher input side (pixels)")
    parser.add_argument("--student-size", type=int, default=64, help="student input side (pixels)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of each student")
    parser.add_argument("--teacher-epochs", type=int, help="epochs of the teacher (default --epochs)")
    parser.add_argument("--patience", type=int, default=10,
                        help="stop a run after this many epochs without a better validation loss "
                             "(the learning rate decays to 0 over the epochs, so stopping early "
                             "leaves a net trained at a high rate; --patience N >= epochs turns "
                             "early stopping off)")
    parser.add_argument("--minutes", type=float, default=90.0, help="time box of each student")
    parser.add_argument("--teacher-minutes", type=float, help="time box of the teacher (default --minutes)")
    parser.add_argument("--reuse-teacher", action="store_true", help="keep a trained teacher")
    parser.add_argument("--methods", nargs="+", choices=STUDENT_METHODS, default=list(STUDENT_METHODS),
                        help="students to train (the others keep their models and results)")
    parser.add_argument("--quick", action="store_true", help="tiny nets, 1 epoch, 4 classes")
    parser.add_argument("--out", default=str(OUT / "train_classifier.json"))
    args = parser.parse_args()
    source = require_shared("classification", "aid_train")
    train, _ = aid_split(source, OUT / ("aid_split_quick" if args.quick else "aid_split"),
                         classes=4 if args.quick else 0, per_class=30 if args.quick else 0)
    MODELS.mkdir(parents=True, exist_ok=True)
    paths = model_paths(args.student, args.quick)
    student_epochs = 1 if args.quick else args.epochs
    teacher_epochs = 1 if args.quick else args.teacher_epochs or args.epochs
    log_file = open(OUT / "train_classifier.log", "a", encoding="utf-8")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    runs = [("teacher", "teacher", "plain", args.teacher_size, None)]
    runs += [(method, args.student, method, args.student_size,
              str(paths["teacher"]) if method == "class_centric" else None)
             for method in args.methods]
    out = Path(args.out)
    earlier = json.loads(out.read_text()) if out.exists() and not args.quick else {}
    summary = {k: v for k, v in earlier.get("results", {}).items() if paths[k].exists()}
    for name, architecture, method, size, teacher in runs:
        if name == "teacher" and args.reuse_teacher and paths[name].exists():
            log(f"reusing the teacher {paths[name]}")
            continue
        started = time.perf_counter()
        epochs = teacher_epochs if name == "teacher" else student_epochs
        minutes = args.teacher_minutes or args.minutes if name == "teacher" else args.minutes
        card = train_scene_classifier(ClassifierTrainingRequest(
            output_model=str(paths[name]), chips_folder=str(train), architecture=architecture,
            method=method, teacher=teacher, input_size=size, patience=args.patience,
            epochs=epochs, net_options=TINY[architecture] if args.quick else {},
            minutes=minutes, device="auto", licence=LICENCE,
            description=f"AID scene classifier ({architecture}, {method}) on chips resized to {size} px."),
            Callbacks(log=lambda line, n=name: log(f"[{n}] {line}")))
        summary[name] = {"seconds": round(time.perf_counter() - started, 1), "epochs": epochs,
                         "minutes": minutes, "input_size": size, "patience": args.patience,
                         **card.metrics}
    # the student with the best validation accuracy ships, distilled or not (the card says how
    # it was trained)
    best = max((m for m in STUDENT_METHODS if m in summary),
               key=lambda m: summary[m]["validation_overall_accuracy"])
    shipped = None
    if not args.quick:
        shipped = BUNDLED / f"classification_aid_{args.student}.safetensors"
        ship_package(paths[best], shipped)
    write_json({"machine": machine(), "student": args.student, "shipped": str(shipped) if shipped else None,
                "shipped_method": best, "results": summary}, out)


if __name__ == "__main__":
    main()
