"""MTF-GLP with numpy alone, for installs without torch (the 'Run models' pack).

The same arithmetic as the torch path of `classical.pansharpen`: bicubic interpolation as
torch computes it (cubic convolution, a = -0.75, align_corners False, borders clamped), the
MTF-matched Gaussian degradation of `data.wald` (separable taps, half-sample symmetric borders,
block-centred decimation), and detail injection with fixed per-band gains.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.wald import _band_kernels, degrade_with_taps, sensor_gains
from ..errors import InputError
from ..inference.backoff import TileModel
from ..masks import eroded, nonzero_pixels

CUBIC_A = -0.75
FILL_MARGIN = 2
"""MS pixels next to no-data fill that the global gains leave out (bicubic reaches 2 pixels)."""


def _cubic_weights(t: np.ndarray) -> np.ndarray:
    """(n, 4) weights of the samples at offsets -1, 0, 1, 2 for fractional positions `t`."""
    a = CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)


def _upsample_axis(x: np.ndarray, ratio: int, axis: int) -> np.ndarray:
    n = x.shape[axis]
    source = (np.arange(n * ratio) + 0.5) / ratio - 0.5
    first = np.floor(source).astype(np.int64)
    weights = _cubic_weights(source - first)
    out = 0.0
    for tap in range(4):
        index = np.clip(first + tap - 1, 0, n - 1)
        shape = [1] * x.ndim
        shape[axis] = -1
        out = out + np.take(x, index, axis=axis) * weights[:, tap].reshape(shape)
    return out


def upsample_bicubic_numpy(x: np.ndarray, ratio: int) -> np.ndarray:
    """(..., h, w) -> (..., h*r, w*r) bicubic interpolation, float64."""
    x = np.asarray(x, dtype=np.float64)
    return _upsample_axis(_upsample_axis(x, int(ratio), x.ndim - 2), int(ratio), x.ndim - 1)


def mtf_glp_numpy(ms: np.ndarray, pan: np.ndarray, gains: Sequence[float], ratio: int,
                  pan_taps: np.ndarray) -> np.ndarray:
    """MTF-GLP of (B, C, h, w) MS with (B, 1, h*r, w*r) PAN: the interpolated MS plus each band's
    gain times the PAN's detail (the PAN minus its degraded and re-interpolated self)."""
    low = upsample_bicubic_numpy(degrade_with_taps(pan, ratio, pan_taps), ratio)
    detail = np.asarray(pan, dtype=np.float64) - low
    return upsample_bicubic_numpy(ms, ratio) + np.asarray(gains, np.float64).reshape(1, -1, 1, 1) * detail


def mtf_glp(ms: np.ndarray, pan: np.ndarray, ratio: int, sensor: str = "generic") -> np.ndarray:
    """MTF-GLP pansharpening of MS (bands, h, w) with PAN (1, h*r, w*r), injection gains from the
    pair itself -> (bands, h*r, w*r) float64."""
    gains = mtf_glp_gains(ms, pan, ratio, sensor)
    return mtf_glp_numpy(ms[None], pan[None], gains, ratio, pan_taps(ratio, sensor, ms.shape[0]))[0]


class NumpyMtfGlp(TileModel):
    """MTF-GLP with fixed gains as an engine model (inputs in the engine's order: PAN, MS)."""

    def __init__(self, gains: Sequence[float], ratio: int, pan_taps: np.ndarray):
        self.gains, self.ratio, self.pan_taps = list(gains), int(ratio), pan_taps

    def predict(self, arrays, windows) -> np.ndarray:
        pan, ms = arrays
        return mtf_glp_numpy(ms, pan, self.gains, self.ratio, self.pan_taps).astype(np.float32)

    def describe(self) -> str:
        return "numpy (CPU)"


def lowpass_gain(sensor: str, band_count: int) -> float:
    """Nyquist gain of the PAN low-pass in MTF-GLP: the mean MS gain of the sensor.

    P_L must look like the PAN seen through the MS optics, so the filter is matched to the
    MS bands' MTF (not to the PAN's own).
    """
    ms_gains, _ = sensor_gains(sensor, band_count)
    return float(np.mean(ms_gains))


def pan_taps(ratio: int, sensor: str, band_count: int) -> np.ndarray:
    """The 1-D taps of MTF-GLP's PAN low-pass for an MS of `band_count` bands."""
    return _band_kernels(int(ratio), lowpass_gain(sensor, band_count), 1)[0]


def _check_pair(ms: np.ndarray, pan: np.ndarray, ratio: int) -> None:
    if ms.ndim != 3 or pan.ndim != 3 or pan.shape[0] != 1:
        raise InputError(f"expected MS (bands, h, w) and PAN (1, H, W), got {ms.shape} and {pan.shape}")
    if pan.shape[1:] != (ms.shape[1] * ratio, ms.shape[2] * ratio):
        raise InputError(f"the PAN {pan.shape[1:]} must be exactly {ratio} times the MS {ms.shape[1:]}: "
                         "check the ratio, or crop both to the same area")


def mtf_glp_gains(ms: np.ndarray, pan: np.ndarray, ratio: int, sensor: str = "generic",
                  valid: np.ndarray | None = None) -> list[float]:
    """Per-band injection gains g_k = cov(M~_k, P_L) / var(P_L).

    `ms` (bands, h, w) and `pan` (1, h*r, w*r) in any float units shared by both. No-data MS
    pixels (`valid` (h, w) False; by default those 0 in every band, a scene's black fill), and
    those within FILL_MARGIN MS pixels of them (where the interpolation and the low-pass mix
    the fill in), are left out of the regression: the fill's points and the steps down to it
    would set the slopes instead of the data. A flat PAN (no variance) gives zero gains, i.e.
    plain interpolation.
    """
    ratio = int(ratio)
    _check_pair(ms, pan, ratio)
    data = nonzero_pixels(ms) if valid is None else np.asarray(valid, dtype=bool)
    data = eroded(data, FILL_MARGIN).repeat(ratio, axis=0).repeat(ratio, axis=1).reshape(-1)
    ms_up = upsample_bicubic_numpy(ms, ratio).reshape(ms.shape[0], -1)[:, data]
    low = upsample_bicubic_numpy(degrade_with_taps(pan, ratio, pan_taps(ratio, sensor, ms.shape[0])), ratio)
    pan_low = low.reshape(-1)[data]
    if pan_low.size == 0:
        return [0.0] * ms.shape[0]
    pan_low = pan_low - pan_low.mean()
    variance = float(np.mean(pan_low ** 2))
    if variance == 0.0:
        return [0.0] * ms.shape[0]
    covariance = np.mean((ms_up - ms_up.mean(axis=1, keepdims=True)) * pan_low, axis=1)
    return (covariance / variance).tolist()
