"""Scene classification benchmark: the recipe's accuracy table, end-to-end speed through
classify_scenes, and fine-tuning from the bundled classifier against training from scratch.

    .venv/bin/python benchmarks/classify.py [--out benchmarks/out/classify.json] [--skip-few-shot]

Reads what recipes/classification.py left in its work folder (results.json, the cached chips
and the packages) and writes one JSON:
- "accuracy": teacher, shipped student, and plain / class-centric KD / CASD students over the
  seeds (mean, spread, every run), all on the recipe's validation split (15 % of every class,
  held out of all training);
- "speed": chips/s end to end through `classify_scenes` (read, scale, resize, run, top-2,
  write the cell raster) on a GeoTIFF mosaic of validation chips, one chip per cell, for the
  shipped student and for the other input sizes the recipe tried; the mosaic's cell accuracy
  and the share of cells below the default MIN_CONFIDENCE come with it;
- "few_shot": 30 chips per class (validation chips: no bundled training saw them) trained
  with `train_scene_classifier` from the bundled classifier (the default) and from scratch,
  the same epochs, scored on the other validation chips.
Speeds are best of --repeats runs on this machine; its load average is recorded beside them.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from common import OUT, ROOT, machine, require_shared, write_json

from models.training.train_classifier import _stratified_split
from models.package import read_card
from models.tasks.classify import DEFAULT_MIN_CONFIDENCE, ClassifyRequest, classify_scenes
from models.tasks.classify_training import ClassifierTrainingRequest, train_scene_classifier
from recipes.classification import METHODS, SPLIT_SEED, RecipeSettings

WORK = OUT / "recipes" / "classification"
SHIPPED = "classification_aid_efficientnet_lite0"
SPEED_GOAL = 300.0
ACCURACY_GOAL = 0.92
TEACHER_GAP_GOAL = 0.02
FEW_SHOT_PER_CLASS = 30


def load_validation(work: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The recipe's validation chips (uint8 [N, 3, 150, 150]), labels and class names."""
    import json

    stored = np.load(work / "chips.npz", allow_pickle=False)
    labels = stored["labels"]
    _, validation = _stratified_split(labels, RecipeSettings().validation_fraction, SPLIT_SEED)
    index = np.sort(validation.numpy())
    return stored["images"][index], labels[index], [c["name"] for c in json.loads(str(stored["classes"]))]


def method_rows(rows: dict) -> dict:
    """Per method: seeds, accuracies, mean and spread of the runs in `rows`."""
    methods = {}
    for method in METHODS:
        runs = sorted((r for r in rows.values() if r["method"] == method), key=lambda r: r["seed"])
        values = [r["overall_accuracy"] for r in runs]
        methods[method] = {"seeds": [r["seed"] for r in runs], "overall_accuracy": values,
                           "mean": statistics.fmean(values) if values else None,
                           "stdev": statistics.stdev(values) if len(values) > 1 else None}
    return methods


def accuracy_table(results: dict) -> dict:
    """Teacher, students and the per-method comparisons (fine-tuned short runs and heads on
    frozen embeddings) from the recipe's results.json."""
    frozen = results.get("frozen", {})
    return {"teacher": results.get("teacher"), "student": results.get("student"),
            "full_students": {k: v for k, v in results.items() if k.startswith("student_")},
            "methods": method_rows(results.get("compare", {})),
            "compare_settings": results.get("compare_settings"),
            "frozen_teacher": frozen.get("teacher"), "frozen_input_size": frozen.get("input_size"),
            "frozen_methods": method_rows(frozen.get("compare", {})),
            "sizes": results.get("sizes", {})}


def write_mosaic(path: Path, chips: np.ndarray, columns: int, pixel_size: float = 4.0) -> Path:
    """A georeferenced RGB GeoTIFF of the chips in rows of `columns` (chip i at row i // columns)."""
    count, bands, side, _ = chips.shape
    rows = count // columns
    grid = chips[:rows * columns].reshape(rows, columns, bands, side, side)
    mosaic = grid.transpose(2, 0, 3, 1, 4).reshape(bands, rows * side, columns * side)
    profile = {"driver": "GTiff", "width": mosaic.shape[2], "height": mosaic.shape[1], "count": bands,
               "dtype": "uint8", "crs": "EPSG:32633", "tiled": True,
               "transform": Affine(pixel_size, 0, 500000, 0, -pixel_size, 4500000)}
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(mosaic)
    return path


def end_to_end_speed(model: Path, mosaic: Path, labels: np.ndarray, columns: int, repeats: int,
                     folder: Path) -> dict:
    """Best chips/s of classify_scenes over `repeats` runs, with the cells' accuracy."""
    best = None
    for repeat in range(repeats):
        started = time.perf_counter()
        result = classify_scenes(ClassifyRequest(str(mosaic), model=str(model), device="cpu",
                                                 chip_size=150, stride=150, batch_size=64,
                                                 output_raster_path=str(folder / f"cells{repeat}.tif")))
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    rows, cols = result.grid_shape
    names = [c["name"] for c in result.classes]
    first = result.top_classes[..., 0].reshape(-1)
    truth = labels[:rows * cols]
    uncertain = first == names.index("uncertain")
    guess = np.where(uncertain, result.top_classes[..., 1].reshape(-1), first)
    return {"cells": int(rows * cols), "seconds": round(best, 3),
            "chips_per_second": round(rows * cols / best, 1),
            "overall_accuracy": float((guess == truth).mean()),
            "uncertain_share": float(uncertain.mean()),
            "accuracy_of_confident_cells": float((first[~uncertain] == truth[~uncertain]).mean()),
            "min_confidence": DEFAULT_MIN_CONFIDENCE, "load_average": list(__import__("os").getloadavg())}


def write_chip_folder(folder: Path, chips: np.ndarray, labels: np.ndarray, names: list[str]) -> Path:
    """An ImageFolder-style folder of PNG chips (one sub-folder per class)."""
    for index, (chip, label) in enumerate(zip(chips, labels)):
        target = folder / names[label]
        target.mkdir(parents=True, exist_ok=True)
        with rasterio.open(target / f"{index}.png", "w", driver="PNG", width=chip.shape[2],
                           height=chip.shape[1], count=3, dtype="uint8") as out:
            out.write(chip)
    return folder


def few_shot(chips: np.ndarray, labels: np.ndarray, names: list[str], folder: Path,
             epochs: int, classes: int, input_size: int) -> dict:
    """Fine-tuning from the bundled classifier against from scratch on 30 chips per class of
    the first `classes` classes, both at the bundled classifier's input size."""
    keep = labels < classes
    chips, labels, names = chips[keep], labels[keep], names[:classes]
    train = np.concatenate([np.flatnonzero(labels == c)[:FEW_SHOT_PER_CLASS] for c in range(classes)])
    test = np.setdiff1d(np.arange(len(labels)), train)
    train_folder = write_chip_folder(folder / "few_shot_train", chips[train], labels[train], names)
    test_folder = write_chip_folder(folder / "few_shot_test", chips[test], labels[test], names)
    from models.tasks.classify_evaluation import ClassifierEvaluationRequest, evaluate_classifier

    rows = {}
    for name, start in (("from_bundled", "default"), ("from_scratch", None)):
        path = folder / f"few_shot_{name}.safetensors"
        started = time.perf_counter()
        card = train_scene_classifier(ClassifierTrainingRequest(
            output_model=str(path), chips_folder=str(train_folder), method="plain", epochs=epochs,
            input_size=input_size, start_from=start, device="cpu", patience=epochs))
        seconds = time.perf_counter() - started
        scores = evaluate_classifier(ClassifierEvaluationRequest(
            models=[str(path)], chips_folder=str(test_folder), device="cpu",
            report_path=str(folder / f"few_shot_{name}.html")))["models"][card.name]
        rows[name] = {"validation_overall_accuracy": card.metrics["validation_overall_accuracy"],
                      "test_overall_accuracy": scores["overall_accuracy"], "test_kappa": scores["kappa"],
                      "seconds": round(seconds, 1)}
    return {"chips_per_class": FEW_SHOT_PER_CLASS, "classes": classes, "train_chips": int(len(train)),
            "test_chips": int(len(test)), "epochs": epochs, **rows}


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(WORK))
    parser.add_argument("--out", default=str(OUT / "classify.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mosaic-rows", type=int, default=30,
                        help="rows of 30 validation chips in the speed mosaic")
    parser.add_argument("--few-shot-epochs", type=int, default=6)
    parser.add_argument("--few-shot-classes", type=int, default=30)
    parser.add_argument("--parts", nargs="*", choices=("speed", "few_shot"), default=["speed", "few_shot"],
                        help="what to measure; the other parts keep their values from --out")
    args = parser.parse_args()
    require_shared("classification", "aid_train")
    work = Path(args.work)
    if not (work / "chips.npz").exists():
        print(f"skipped: run recipes/classification.py first ({work}/chips.npz is missing)")
        return
    results = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {}
    chips, labels, names = load_validation(work)
    columns = 30
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    data = {**previous, "machine": machine(), "validation_chips": int(len(labels)),
            "accuracy": accuracy_table(results), "notes": results.get("notes", [])}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        mosaic = write_mosaic(folder / "mosaic.tif", chips[:columns * args.mosaic_rows], columns)
        speed = {}
        packages = {size: work / f"compare_plain_seed0_{size}px.safetensors"
                    for size in results.get("sizes", {})}
        shipped = ROOT / "resources" / "models" / f"{SHIPPED}.safetensors"
        if shipped.exists():
            data["shipped_input_size"] = str(read_card(shipped).config["input_size"])
            packages[data["shipped_input_size"]] = shipped
        for size, path in packages.items():
            if path.exists() and "speed" in args.parts:
                speed[size] = {"model": path.stem, **end_to_end_speed(
                    path, mosaic, labels, columns, args.repeats, folder)}
        if "speed" in args.parts:
            data["speed"] = speed
        if "few_shot" in args.parts:
            data["few_shot"] = few_shot(chips, labels, names, folder, args.few_shot_epochs,
                                        args.few_shot_classes, int(data.get("shipped_input_size", 128)))
    data["goals"] = goals(data)
    write_json(data, args.out)


def goals(data: dict) -> dict:
    """The issue's goals, each with the measured value."""
    accuracy, speed = data["accuracy"], data.get("speed", {})
    student = (accuracy.get("student") or {}).get("overall_accuracy")
    frozen = (accuracy.get("student") or {}).get("encoder") == "frozen"
    teacher = (accuracy.get("frozen_teacher" if frozen else "teacher") or {}).get("overall_accuracy")
    shipped = speed.get(data.get("shipped_input_size"), {}).get("chips_per_second")
    few = data.get("few_shot", {})
    return {"student_overall_accuracy": student,
            "student_reaches_0.92": student is not None and student >= ACCURACY_GOAL,
            "teacher_minus_student": None if None in (student, teacher) else teacher - student,
            "student_within_2_points_of_teacher": None not in (student, teacher)
            and teacher - student <= TEACHER_GAP_GOAL,
            "end_to_end_chips_per_second": shipped,
            "reaches_300_chips_per_second": shipped is not None and shipped >= SPEED_GOAL,
            "few_shot_bundled_beats_scratch": bool(few) and few["from_bundled"]["test_overall_accuracy"]
            > few["from_scratch"]["test_overall_accuracy"]}


if __name__ == "__main__":
    main()
