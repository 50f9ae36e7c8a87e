"""Scoring a class raster against a reference: mIoU, per-class IoU, overall accuracy, kappa and
the confusion matrix, written as a JSON + HTML report.

The reference is a class raster (warped with nearest neighbour onto the prediction's grid when
it lies on another grid; IGNORE_VALUE and its nodata are left out) or polygons with a class
field (reprojected and rasterized on the prediction's grid; text classes are matched with the
class names the prediction carries). Classes are compared by their values (ids). Pixels the
prediction leaves as nodata are counted apart, not as errors. Both rasters are read whole on
the prediction's grid (one byte per pixel each).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.labels import IGNORE_INDEX, align_label_raster, rasterize_polygons
from ..errors import InputError
from ..inference.raster_io import open_raster
from ..metrics.segmentation import confusion_matrix, scores_from_confusion
from .callbacks import Callbacks
from .report import Table, check_report_path, write_report
from .segment import read_class_table
from .segment_training import is_raster_file

UNLABELLED = -1


@dataclass
class SegmentationEvaluationRequest:
    """The prediction, its reference, and where the report goes (plain values)."""

    prediction_path: str
    reference_path: str
    report_path: str
    class_field: str | None = None
    ignore_value: float | None = None


def reference_ids(request: SegmentationEvaluationRequest, classes: list[dict] | None) -> np.ndarray:
    """The reference's class values on the prediction's grid (int64, UNLABELLED where none)."""
    if is_raster_file(request.reference_path):
        scene = align_label_raster(request.reference_path, request.prediction_path,
                                   request.ignore_value)
    else:
        if not request.class_field:
            raise InputError(f"The reference {Path(request.reference_path).name} is a vector layer: "
                             "choose its CLASS_FIELD (the attribute holding each polygon's class).")
        scene = rasterize_polygons(request.reference_path, request.prediction_path,
                                   request.class_field, classes=classes)
    lookup = np.full(256, UNLABELLED, dtype=np.int64)
    lookup[:len(scene.classes)] = [int(c["id"]) for c in scene.classes]
    lookup[IGNORE_INDEX] = UNLABELLED
    return lookup[scene.labels]


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def evaluate_segmentation(request: SegmentationEvaluationRequest,
                          callbacks: Callbacks | None = None) -> dict:
    """Score the prediction against the reference; write the JSON and HTML report; return the
    JSON data."""
    callbacks = callbacks or Callbacks()
    check_report_path(request.report_path)
    table = read_class_table(request.prediction_path)
    with open_raster(request.prediction_path) as dataset:
        predicted = dataset.read(1).astype(np.int64)
        if dataset.nodata is not None:
            predicted[predicted == int(dataset.nodata)] = UNLABELLED
    callbacks.progress(0.2)
    truth = reference_ids(request, table)
    callbacks.progress(0.7)
    named = {int(c["id"]): c["name"] for c in table or []}
    ids = sorted(set(named) | set(np.unique(truth[truth >= 0]).tolist())
                 | set(np.unique(predicted[predicted >= 0]).tolist()))
    index = np.full(max(ids, default=0) + 2, len(ids), dtype=np.int64)  # last slot: unlabelled
    index[ids] = np.arange(len(ids))
    labelled = truth >= 0
    unpredicted = int((labelled & (predicted < 0)).sum())
    counted = labelled & (predicted >= 0)
    if not counted.any():
        raise InputError("The prediction and the reference share no labelled pixel; check that "
                         "they cover the same area and the IGNORE_VALUE.")
    present = np.unique(truth[counted])
    if present.size < 2:
        name = named.get(int(present[0]), f"class {int(present[0])}")
        raise InputError(f"The reference holds one class ({name}) where the prediction has data: "
                         "scores over one class say nothing about telling classes apart. Give a "
                         "reference with at least two classes.")
    matrix = confusion_matrix(index[truth[counted]], index[predicted[counted]], len(ids))
    scores = scores_from_confusion(matrix)
    names = [named.get(i, f"class {i}") for i in ids]
    data = {"prediction": str(request.prediction_path), "reference": str(request.reference_path),
            "classes": [{"id": i, "name": n} for i, n in zip(ids, names)],
            "miou": _finite(scores["miou"]), "overall_accuracy": _finite(scores["overall_accuracy"]),
            "kappa": _finite(scores["kappa"]),
            "iou_per_class": {n: _finite(v) for n, v in zip(names, scores["iou_per_class"])},
            "confusion_matrix": scores["confusion_matrix"], "pixels": int(counted.sum()),
            "unpredicted_pixels": unpredicted}
    callbacks.log(f"mIoU {scores['miou']:.4f}, overall accuracy {scores['overall_accuracy']:.4f} "
                  f"over {data['pixels']} pixels.")
    write_report(request.report_path, f"Segmentation evaluation: {Path(request.prediction_path).name}",
                 _summary(data), _tables(data, names), data)
    callbacks.progress(1.0)
    return data


def _summary(data: dict) -> list[str]:
    lines = [f"Prediction {data['prediction']} against reference {data['reference']}: "
             f"{data['pixels']} labelled pixels compared.",
             f"mIoU {data['miou']:.4f}, overall accuracy {data['overall_accuracy']:.4f}, "
             f"kappa {data['kappa']:.4f}." if data["miou"] is not None else "No class to score."]
    if data["unpredicted_pixels"]:
        lines.append(f"{data['unpredicted_pixels']} labelled pixels are nodata in the prediction "
                     "and were left out.")
    return lines


def _tables(data: dict, names: list[str]) -> list[Table]:
    ious = Table("Intersection over union per class", ["class", "IoU"],
                 [[name, "-" if iou is None else iou] for name, iou in data["iou_per_class"].items()],
                 "Higher is better (1 = perfect); '-': the class is neither in the reference nor "
                 "predicted.")
    matrix = Table("Confusion matrix (rows: reference, columns: prediction; pixels)",
                   ["reference \\ prediction", *names],
                   [[name, *row] for name, row in zip(names, data["confusion_matrix"])])
    return [ious, matrix]
