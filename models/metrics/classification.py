"""Scene classification accuracy (design section 7): overall accuracy, Cohen's kappa, per-class
accuracy and the confusion matrix (rows = true classes, columns = predicted), built on the
segmentation metrics (a chip is counted like a pixel)."""
from __future__ import annotations

import numpy as np

from .segmentation import confusion_matrix, kappa, overall_accuracy


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of each true class's chips classified right (recall); NaN for absent classes."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def classification_scores_from_confusion(matrix: np.ndarray) -> dict:
    """{"overall_accuracy", "kappa", "per_class_accuracy" (list, NaN = absent),
    "confusion_matrix" (list of rows)}."""
    matrix = np.asarray(matrix)
    return {"overall_accuracy": overall_accuracy(matrix), "kappa": kappa(matrix),
            "per_class_accuracy": per_class_accuracy(matrix).tolist(),
            "confusion_matrix": matrix.tolist()}


def classification_scores(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict:
    """Scores of predicted chip classes against the true ones (see
    `classification_scores_from_confusion`)."""
    return classification_scores_from_confusion(confusion_matrix(truth, predicted, classes))
