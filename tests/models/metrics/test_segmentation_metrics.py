"""Segmentation metrics against confusion matrices worked out by hand."""
import numpy as np
import pytest

from geodistill.models.errors import InputError
from geodistill.models.metrics.segmentation import confusion_matrix, iou_per_class, kappa, \
    segmentation_scores

TRUTH = np.array([[0, 0, 1, 1],
                  [0, 2, 1, 255],
                  [2, 2, 255, 1]])
PREDICTED = np.array([[0, 1, 1, 1],
                      [0, 2, 0, 0],
                      [2, 1, 2, 1]])
# ignoring 255: truth 0 -> predicted 0,1,0; truth 1 -> 1,1,0,1; truth 2 -> 2,2,1
MATRIX = [[2, 1, 0],
          [1, 3, 0],
          [0, 1, 2]]


def test_confusion_matrix_by_hand():
    assert confusion_matrix(TRUTH, PREDICTED, 3, ignore_index=255).tolist() == MATRIX


def test_scores_by_hand():
    scores = segmentation_scores(TRUTH, PREDICTED, 3, ignore_index=255)
    # IoU = TP / (row + column - TP): class 0: 2/(3+3-2), class 1: 3/(4+5-3), class 2: 2/(3+2-2)
    assert np.allclose(scores["iou_per_class"], [0.5, 0.5, 2 / 3])
    assert scores["miou"] == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert scores["overall_accuracy"] == pytest.approx(7 / 10)
    # chance agreement: (3*3 + 4*5 + 3*2) / 100 = 0.35; kappa = (0.7 - 0.35) / 0.65
    assert scores["kappa"] == pytest.approx(0.35 / 0.65)
    assert scores["confusion_matrix"] == MATRIX


def test_absent_class_is_left_out_of_the_mean():
    matrix = np.array([[4, 0, 0], [0, 0, 0], [1, 0, 1]])
    ious = iou_per_class(matrix)
    assert np.isnan(ious[1])
    assert np.allclose(ious[[0, 2]], [4 / 5, 1 / 2])
    assert segmentation_scores(np.array([0, 0, 0, 0, 2, 2]), np.array([0, 0, 0, 0, 0, 2]), 3)["miou"] == \
        pytest.approx(0.65)


def test_perfect_prediction():
    truth = np.array([0, 1, 2, 2])
    assert kappa(confusion_matrix(truth, truth, 3)) == pytest.approx(1.0)
    assert segmentation_scores(truth, truth, 3)["miou"] == 1.0


def test_values_outside_the_classes_are_refused():
    with pytest.raises(InputError, match="outside 0-2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(InputError, match="same size"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)
