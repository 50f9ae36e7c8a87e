"""Segmentation accuracy (design section 7): confusion matrix, per-class IoU, mIoU, overall
accuracy and Cohen's kappa, with pixels of the ignore value left out.

Everything is plain numpy so a test can check it against a confusion matrix written by hand.
Rows of the confusion matrix are the true classes, columns the predicted ones.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int,
                     ignore_index: int | None = None) -> np.ndarray:
    """[classes, classes] int64 counts: entry (t, p) = pixels of true class t predicted as p.

    Pixels whose truth equals `ignore_index` are skipped; any other value outside
    [0, classes) in either array is an error.
    """
    truth = np.asarray(truth).reshape(-1).astype(np.int64)
    predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
    if truth.shape != predicted.shape:
        raise InputError(f"the truth has {truth.size} pixels but the prediction {predicted.size}; "
                         "compare rasters of the same size")
    if ignore_index is not None:
        keep = truth != ignore_index
        truth, predicted = truth[keep], predicted[keep]
    for name, values in (("truth", truth), ("prediction", predicted)):
        if values.size and (values.min() < 0 or values.max() >= classes):
            raise InputError(f"the {name} holds class values outside 0-{classes - 1} "
                             f"(found {values.min()}-{values.max()}); set the ignore value or the "
                             "number of classes")
    return np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def iou_per_class(matrix: np.ndarray) -> np.ndarray:
    """Intersection over union of each class; NaN for a class neither true nor predicted."""
    matrix = np.asarray(matrix, dtype=np.float64)
    intersection = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def overall_accuracy(matrix: np.ndarray) -> float:
    """Share of counted pixels whose class is right (NaN when none was counted)."""
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else float("nan")


def kappa(matrix: np.ndarray) -> float:
    """Cohen's kappa: agreement beyond what the class frequencies give by chance."""
    matrix = np.asarray(matrix, dtype=np.float64)
    total = matrix.sum()
    if not total:
        return float("nan")
    observed = np.trace(matrix) / total
    expected = float((matrix.sum(axis=0) * matrix.sum(axis=1)).sum()) / total ** 2
    return float((observed - expected) / (1 - expected)) if expected < 1 else 1.0


def segmentation_scores(truth: np.ndarray, predicted: np.ndarray, classes: int,
                        ignore_index: int | None = None) -> dict:
    """{"miou", "overall_accuracy", "kappa", "iou_per_class" (list, NaN = class absent),
    "confusion_matrix" (list of rows)}; mIoU averages the classes that occur."""
    matrix = confusion_matrix(truth, predicted, classes, ignore_index)
    return scores_from_confusion(matrix)


def scores_from_confusion(matrix: np.ndarray) -> dict:
    """The scores of `segmentation_scores` from an (accumulated) confusion matrix."""
    ious = iou_per_class(matrix)
    return {"miou": float(np.nanmean(ious)) if np.isfinite(ious).any() else float("nan"),
            "overall_accuracy": overall_accuracy(matrix), "kappa": kappa(matrix),
            "iou_per_class": ious.tolist(), "confusion_matrix": np.asarray(matrix).tolist()}
