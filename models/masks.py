"""Masks of the pixels that hold data, shared by the classical methods and the metrics."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def nonzero_pixels(image: np.ndarray) -> np.ndarray:
    """(height, width) bool: pixels of a (bands, height, width) image that are not 0 in every
    band (a scene's black no-data fill is 0 in every band)."""
    return np.any(np.asarray(image) != 0, axis=0)


def eroded(valid: np.ndarray, margin: int) -> np.ndarray:
    """`valid` without the pixels less than `margin` pixels (in x or y) from an invalid one.

    The image border is not taken for an edge of no-data.
    """
    if margin < 1:
        return valid
    padded = np.pad(valid, margin, mode="edge")
    return sliding_window_view(padded, (2 * margin + 1, 2 * margin + 1)).all(axis=(2, 3))
