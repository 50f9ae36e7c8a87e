"""Evaluating scene classifiers on labelled chips: overall accuracy, kappa, per-class accuracy
and the confusion matrix, written as a JSON + HTML report.

The chips come from a folder with one sub-folder per class, or are cut from a raster around
labelled points / inside labelled polygons. Chip classes are matched to the model's classes by
name (folder names, text field values) or id (whole-number field values).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import torch

from ..data.chip_files import chips_from_vector, class_folders, load_chip_folder
from ..data.chips import ChipSet, chip_scaling
from ..data.labels import IMAGE_SUFFIXES
from ..training.train_classifier import ChipBatches, predict_chips
from ..errors import InputError
from ..inference.device import resolve_device
from ..inference.raster_io import band_list, open_raster
from ..metrics.classification import classification_scores
from ..package import ModelCard, load_model
from .callbacks import Callbacks
from .classify import model_needs, model_scaling
from .model_fit import load_fitting_model
from .report import Table, check_report_path, write_report


@dataclass
class ClassifierEvaluationRequest:
    """Labelled chips, the models to score, and where the report goes."""

    report_path: str
    models: list[str] = field(default_factory=lambda: ["default"])
    chips_folder: str | None = None
    raster_path: str | None = None
    labels_path: str | None = None
    class_field: str | None = None
    chip_size: int = 0
    """Chip side cut around vector labels; 0 = the model card's chip side."""
    user_model_folder: str | None = None
    device: str = "auto"
    batch_size: int = 64


def _load_chips(request: ClassifierEvaluationRequest, card: ModelCard, callbacks: Callbacks) -> ChipSet:
    size = card.config["input_size"]
    if request.chips_folder:
        return load_chip_folder(request.chips_folder, size, log=callbacks.log)
    if request.raster_path and request.labels_path and request.class_field:
        return chips_from_vector(request.raster_path, request.labels_path, request.class_field,
                                 request.chip_size or card.tile_size, size)
    raise InputError("Give the labelled chips: a CHIPS_FOLDER with one sub-folder per class, or an "
                     "INPUT raster with LABELS (points or polygons) and their CLASS_FIELD.")


def _source_bands(request: ClassifierEvaluationRequest) -> int:
    """Band count of the labelled data (the first chip of a folder, or the raster)."""
    if request.chips_folder:
        for folder in class_folders(request.chips_folder):
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                        try:
                            with rasterio.open(path) as dataset:
                                return len(band_list(dataset, None))
                        except rasterio.errors.RasterioIOError:
                            continue
        raise InputError(f"{request.chips_folder} holds no readable image chip.")
    if request.raster_path:
        with open_raster(request.raster_path) as dataset:
            return len(band_list(dataset, None))
    return 0


def model_class_index(chips: ChipSet, card: ModelCard) -> np.ndarray:
    """For each chip class, the index of the model class with its name (or id)."""
    by_name = {str(c["name"]).strip().lower(): i for i, c in enumerate(card.classes)}
    by_id = {c["id"]: i for i, c in enumerate(card.classes)}
    lookup, unknown = [], []
    for item in chips.classes:
        name = str(item["name"]).strip().lower()
        index = by_name.get(name, by_id.get(item["id"]) if name.startswith("class ") else None)
        lookup.append(-1 if index is None else index)
        if index is None:
            unknown.append(str(item["name"]))
    if unknown:
        raise InputError(f"Class(es) {', '.join(unknown)} of the labelled chips are not among the "
                         f"classes of model '{card.name}' "
                         f"({', '.join(c['name'] for c in card.classes)}): rename them or remove them.")
    return np.asarray(lookup, dtype=np.int64)


def score_model(card: ModelCard, model: torch.nn.Module, chips: ChipSet, device: str,
                batch_size: int = 64) -> dict:
    """Scores and speed of one model on labelled chips (chips already at its input size)."""
    truth = model_class_index(chips, card)[chips.labels]
    scaling = model_scaling(card, chip_scaling(chips.images))
    torch_device = resolve_device(device)
    batches = ChipBatches(chips, scaling, torch_device, seed=0)
    model = model.to(torch_device)
    started = time.perf_counter()
    predicted = predict_chips(model, batches, torch.arange(len(chips)), card.config["input_size"],
                              batch_size).argmax(dim=1).numpy()
    seconds = time.perf_counter() - started
    scores = classification_scores(truth, predicted, len(card.classes))
    return {**scores, "chips": len(chips), "chips_per_second": len(chips) / max(seconds, 1e-9),
            "classes": [c["name"] for c in card.classes]}


def evaluate_classifier(request: ClassifierEvaluationRequest,
                        callbacks: Callbacks | None = None) -> dict:
    """Score every model on the labelled chips, write the JSON and HTML report, return the data."""
    callbacks = callbacks or Callbacks()
    check_report_path(request.report_path)
    results = {}
    bands = _source_bands(request)
    for index, name in enumerate(request.models):
        callbacks.raise_if_cancelled()
        path, _ = load_fitting_model(model_needs(bands), name, request.user_model_folder)
        card, model = load_model(path)
        chips = _load_chips(request, card, callbacks)
        results[card.name] = score_model(card, model, chips, request.device, request.batch_size)
        callbacks.log(f"{card.name}: overall accuracy {results[card.name]['overall_accuracy']:.4f}, "
                      f"kappa {results[card.name]['kappa']:.4f} on {len(chips)} chips")
        callbacks.progress((index + 1) / len(request.models))
    source = request.chips_folder or f"{request.raster_path} + {request.labels_path}"
    data = {"source": str(source), "models": results}
    write_report(request.report_path, f"Scene classification evaluation: {Path(str(source)).name}",
                 [f"Labelled chips: {source}."], _tables(results), data)
    return data


def _tables(results: dict) -> list[Table]:
    tables = [Table("Accuracy", ["model", "overall accuracy", "kappa", "chips", "chips/s"],
                    [[name, r["overall_accuracy"], r["kappa"], r["chips"], r["chips_per_second"]]
                     for name, r in results.items()],
                    "Overall accuracy: share of chips classified right; kappa: agreement beyond "
                    "chance (1 = perfect).", [None, True, True, None, True])]
    for name, r in results.items():
        tables.append(Table(f"{name}: per-class accuracy", ["class", "accuracy"],
                            [[c, a] for c, a in zip(r["classes"], r["per_class_accuracy"])],
                            "Share of each class's chips classified right (nan: no chip).",
                            [None, None]))
        tables.append(Table(f"{name}: confusion matrix", ["true \\ predicted", *r["classes"]],
                            [[c, *row] for c, row in zip(r["classes"], r["confusion_matrix"])],
                            "Rows: true class; columns: predicted class."))
    return tables
