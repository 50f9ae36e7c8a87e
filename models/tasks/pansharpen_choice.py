"""METHOD=auto: the model or MTF-GLP, whichever sharpens this scene better.

Before the scene is written, both sharpen a sample of the scene itself at reduced resolution
(Wald's protocol: the sample's MS and PAN degraded by the ratio with the sensor's MTF, the
original MS as the reference) and the one with the lower ERGAS is used. The sample is the
central crop the scaling and MTF-GLP gains come from; after scene adaptation only its held-back
part counts (the adapted model trained on the rest).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..classical.mtf_glp_numpy import mtf_glp
from ..data.wald import degrade, sensor_gains
from ..inference.scene_memo import remembered
from ..masks import eroded
from ..metrics.pansharpening import ergas

Fuse = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""`fuse(ms, pan) -> fused`: a model on one normalized pair, (C, h, w) and (1, h*r, w*r) ->
(C, h*r, w*r)."""


@dataclass
class MethodChoice:
    """The method auto picked and the reduced-resolution ERGAS that decided it."""

    method: str
    """"model" or "mtf_glp"."""
    model_ergas: float
    mtf_glp_ergas: float

    def sentence(self, model_name: str) -> str:
        """One line for the log saying which is better and what is used."""
        better = model_name if self.method == "model" else "MTF-GLP"
        return (f"Reduced-resolution check on a sample of this scene: ERGAS {model_name} "
                f"{self.model_ergas:.3f}, MTF-GLP {self.mtf_glp_ergas:.3f} (lower is better); "
                f"{better} is better here and is used.")


def engine_fuse(tile_model) -> Fuse:
    """`Fuse` with an engine model (inputs PAN, MS, as the tiled engine gives them): the model
    the run writes with, on ONNX Runtime or torch."""
    def fuse(ms: np.ndarray, pan: np.ndarray) -> np.ndarray:
        batch = [np.ascontiguousarray(pan[None], dtype=np.float32),
                 np.ascontiguousarray(ms[None], dtype=np.float32)]
        return np.asarray(tile_model.predict(batch, [None]), dtype=np.float64)[0]
    return fuse


def choose_method(fuse: Fuse, ms: np.ndarray, pan: np.ndarray, valid: np.ndarray | None,
                  ratio: int, sensor: str, multiple_of: int) -> MethodChoice:
    """Compare the model (`fuse`) with MTF-GLP on the normalized sample `ms` (C, h, w) / `pan`
    (1, h*r, w*r) under Wald's protocol, scoring where `valid` (h, w) holds data. The sample is
    cut to whole multiples of the model's size multiple (`multiple_of` PAN pixels, at least the
    ratio) times the ratio; ties go to MTF-GLP (no model needed)."""
    multiple = max(int(multiple_of), ratio) * ratio
    rows, cols = ms.shape[1] // multiple * multiple, ms.shape[2] // multiple * multiple
    reference = np.asarray(ms[:, :rows, :cols], dtype=np.float64)
    ms_gains, pan_gain = sensor_gains(sensor, ms.shape[0])
    ms_lr = degrade(reference, ratio, ms_gains)
    pan_lr = degrade(np.asarray(pan[:, :rows * ratio, :cols * ratio], dtype=np.float64), ratio, pan_gain)
    mask = None if valid is None else eroded(np.asarray(valid[:rows, :cols], dtype=bool), ratio // 2)
    model_score = ergas(reference, fuse(ms_lr, pan_lr), ratio, mask)
    glp_score = ergas(reference, mtf_glp(ms_lr, pan_lr, ratio, sensor), ratio, mask)
    return MethodChoice("model" if model_score < glp_score else "mtf_glp", model_score, glp_score)


def scene_choice(fuse: Fuse, sample: tuple, model_sha256: str, ratio: int, sensor: str,
                 multiple_of: int) -> MethodChoice:
    """`choose_method` on the scene's `sample` (ms, pan, valid), made once per scene for the
    windows of a split raster (see `scene_memo`)."""
    def compare() -> dict[str, np.ndarray]:
        found = choose_method(fuse, *sample, ratio, sensor, multiple_of)
        return {"method": np.array(found.method), "model_ergas": np.array(found.model_ergas),
                "mtf_glp_ergas": np.array(found.mtf_glp_ergas)}

    digest = hashlib.sha256(b"".join(np.ascontiguousarray(part).tobytes()
                                     for part in sample if part is not None)).hexdigest()
    stored = remembered("method_choice", (model_sha256, sensor, ratio, digest), compare)
    return MethodChoice(str(stored["method"]), float(stored["model_ergas"]),
                        float(stored["mtf_glp_ergas"]))
