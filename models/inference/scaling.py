"""Band scaling: maps raw pixel values (uint8, uint16, int16, float) to the model's range.

`normalize` maps `low -> 0` and `high -> 1` per band (values outside are not clipped, so the
mapping is exactly invertible); `denormalize` maps back. Statistics come from a model card or
from percentiles of the scene (`from_array`, fed a decimated read by the engine).

Mode "common" gives every band the same low/high. Pansharpening uses it with low = 0 so that
the MS bands and the PAN keep their radiometric relation (the PAN is roughly a weighted sum of
the MS bands); segmentation, dehazing and classification use "per_band".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BandScaling:
    """Per-band linear scaling `(x - low) / (high - low)`."""

    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)

    def __post_init__(self):
        if len(self.low) != len(self.high):
            raise ValueError("scaling needs as many low values as high values")
        self.low = [float(v) for v in self.low]
        self.high = [float(h) if h != l else float(l) + 1.0 for l, h in zip(self.low, self.high)]

    @property
    def band_count(self) -> int:
        return len(self.low)

    def _columns(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (-1,) + (1,) * (ndim - 1)
        low = np.asarray(self.low, dtype=np.float32).reshape(shape)
        span = (np.asarray(self.high, dtype=np.float32) - np.asarray(self.low, dtype=np.float32)).reshape(shape)
        return low, span

    def normalize(self, array: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Bands-first array (bands, ...) of raw values -> float32 in model range (written
        into `out`, any float32 array or view of the same shape, when given)."""
        low, span = self._columns(array.ndim)
        out = np.empty(array.shape, np.float32) if out is None else out
        np.subtract(array, low, out=out, casting="unsafe")
        np.divide(out, span, out=out)
        return out

    def denormalize(self, array: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Inverse of `normalize` (float32 result, written into `out` when given, which may be
        `array` itself; the caller rounds and casts)."""
        low, span = self._columns(array.ndim)
        out = np.empty(array.shape, np.float32) if out is None else out
        np.multiply(array, span, out=out, casting="unsafe")
        np.add(out, low, out=out)
        return out

    def to_dict(self) -> dict:
        return {"low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, values: dict) -> "BandScaling":
        return cls(low=list(values["low"]), high=list(values["high"]))

    @classmethod
    def from_array(cls, array: np.ndarray, mode: str = "per_band",
                   low_percentile: float | None = 1.0, high_percentile: float = 99.0,
                   valid: np.ndarray | None = None) -> "BandScaling":
        """Statistics from a bands-first array; `valid` (same spatial shape) masks nodata out.

        `low_percentile=None` pins low to 0. In "common" mode the percentiles are taken over
        all bands together and every band gets the same low/high.
        """
        bands = array.reshape(array.shape[0], -1).astype(np.float64)
        if valid is not None:
            bands = bands[:, valid.reshape(-1)]
        if bands.size == 0:
            raise ValueError("no valid pixels to compute scaling statistics from")
        if mode == "common":
            samples = bands.reshape(1, -1)
        elif mode == "per_band":
            samples = bands
        else:
            raise ValueError(f"unknown scaling mode '{mode}' (use 'common' or 'per_band')")
        high = np.percentile(samples, high_percentile, axis=1)
        low = np.zeros_like(high) if low_percentile is None else np.percentile(samples, low_percentile, axis=1)
        if mode == "common":
            low = np.repeat(low, array.shape[0])
            high = np.repeat(high, array.shape[0])
        return cls(low=low.tolist(), high=high.tolist())
