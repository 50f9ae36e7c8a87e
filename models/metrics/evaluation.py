"""Pansharpening evaluation protocols (design section 7).

Reduced resolution (Wald's protocol): the MS and PAN are degraded by the ratio with the
sensor's MTF-matched Gaussians (`models.data.wald.degrade`), the method sharpens the degraded
pair, and the result is compared with the original MS (SAM, ERGAS, Q2n, SCC).
Full resolution: the method's output on the original pair is scored without a reference
(D_lambda, D_s, QNR). Both take an optional `valid` mask on the MS grid: only pixels (and
blocks and windows) with data are scored; at reduced resolution also not the ratio / 2 pixels
along the edge of no-data, where the degradation blurs the fill into the method's input.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.wald import degrade, sensor_gains
from ..errors import InputError
from ..masks import eroded
from .pansharpening import d_lambda, d_s, ergas, q2n, sam, scc

Sharpen = Callable[[np.ndarray, np.ndarray], np.ndarray]


def reduced_resolution_scores(sharpen: Sharpen, ms: np.ndarray, pan: np.ndarray, ratio: int,
                              sensor: str = "generic", valid: np.ndarray | None = None
                              ) -> dict[str, float]:
    """Scores of `sharpen(ms_lr, pan_lr) -> fused` under Wald's protocol.

    `ms` (bands, h, w) and `pan` (1, h*r, w*r) are the original pair, in whatever units
    `sharpen` expects (normalize first if it is a network); rows and columns beyond a multiple
    of the ratio are dropped. `sharpen` gets the degraded MS (bands, h/r, w/r) and PAN
    (1, h, w) and must return (bands, h, w). Returns {"sam" (degrees), "ergas", "q2n", "scc"},
    scored where `valid` (h, w; None: everywhere) is True and `ratio // 2` pixels away from
    where it is not.
    """
    ratio = int(ratio)
    ms = np.asarray(ms, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    height, width = ms.shape[1] // ratio * ratio, ms.shape[2] // ratio * ratio
    if pan.ndim != 3 or pan.shape[1] < height * ratio or pan.shape[2] < width * ratio:
        raise InputError(f"the PAN {pan.shape} must be {ratio} times the MS {ms.shape}: check the ratio")
    reference = ms[:, :height, :width]
    ms_gains, pan_gain = sensor_gains(sensor, ms.shape[0])
    ms_lr = degrade(reference, ratio, ms_gains)
    pan_lr = degrade(pan[:, :height * ratio, :width * ratio], ratio, pan_gain)
    fused = np.asarray(sharpen(ms_lr, pan_lr), dtype=np.float64)
    if fused.shape != reference.shape:
        raise InputError(f"the method returned {fused.shape}, expected {reference.shape}")
    if valid is not None:
        valid = eroded(np.asarray(valid, dtype=bool)[:height, :width], ratio // 2)
    return {"sam": sam(reference, fused, valid), "ergas": ergas(reference, fused, ratio, valid),
            "q2n": q2n(reference, fused, valid=valid), "scc": scc(reference, fused, valid)}


def full_resolution_scores(fused: np.ndarray, ms: np.ndarray, pan: np.ndarray, ratio: int,
                           valid: np.ndarray | None = None) -> dict[str, float]:
    """No-reference scores of `fused` (bands, H, W) made from `ms` (bands, H/r, W/r) and `pan` (1, H, W).

    Returns {"d_lambda", "d_s", "qnr"} with QNR = (1 - D_lambda)(1 - D_s), scored where
    `valid` (on the MS grid; None: everywhere) is True.
    """
    spectral = d_lambda(fused, ms, valid=valid)
    spatial = d_s(fused, ms, pan, int(ratio), valid=valid)
    return {"d_lambda": spectral, "d_s": spatial, "qnr": (1.0 - spectral) * (1.0 - spatial)}
