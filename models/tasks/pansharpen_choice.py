"""METHOD=auto: the model or MTF-GLP, whichever sharpens this scene better.

Before the scene is written, both sharpen a sample of the scene itself at reduced resolution
(Wald's protocol: the sample's MS and PAN degraded by the ratio with the sensor's MTF, the
original MS as the reference) and the one with the lower ERGAS is used. The sample is the
central crop the scaling and MTF-GLP gains come from; after scene adaptation only its held-back
part counts (the adapted model trained on the rest).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from ..classical.pansharpen import mtf_glp
from ..data.wald import degrade, sensor_gains
from ..inference.scene_memo import remembered
from ..masks import eroded
from ..metrics.pansharpening import ergas


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


def _fuse(net: torch.nn.Module, ms: np.ndarray, pan: np.ndarray) -> np.ndarray:
    device = next(net.parameters()).device
    with torch.no_grad():
        fused = net.eval()(torch.as_tensor(ms, dtype=torch.float32, device=device)[None],
                           torch.as_tensor(pan, dtype=torch.float32, device=device)[None])
    return fused[0].detach().double().cpu().numpy()


def choose_method(net: torch.nn.Module, ms: np.ndarray, pan: np.ndarray, valid: np.ndarray | None,
                  ratio: int, sensor: str) -> MethodChoice:
    """Compare `net` (`net(ms, pan)`, normalized tensors) with MTF-GLP on the normalized sample
    `ms` (C, h, w) / `pan` (1, h*r, w*r) under Wald's protocol, scoring where `valid` (h, w)
    holds data. The sample is cut to whole multiples of the net's tile multiple; ties go to
    MTF-GLP (no model needed)."""
    multiple = max(int(getattr(net.config, "multiple_of", ratio)), ratio) * ratio
    rows, cols = ms.shape[1] // multiple * multiple, ms.shape[2] // multiple * multiple
    reference = np.asarray(ms[:, :rows, :cols], dtype=np.float64)
    ms_gains, pan_gain = sensor_gains(sensor, ms.shape[0])
    ms_lr = degrade(reference, ratio, ms_gains)
    pan_lr = degrade(np.asarray(pan[:, :rows * ratio, :cols * ratio], dtype=np.float64), ratio, pan_gain)
    mask = None if valid is None else eroded(np.asarray(valid[:rows, :cols], dtype=bool), ratio // 2)
    model_score = ergas(reference, _fuse(net, ms_lr, pan_lr), ratio, mask)
    glp_score = ergas(reference, mtf_glp(ms_lr, pan_lr, ratio, sensor), ratio, mask)
    return MethodChoice("model" if model_score < glp_score else "mtf_glp", model_score, glp_score)


def scene_choice(net: torch.nn.Module, sample: tuple, model_sha256: str, ratio: int,
                 sensor: str) -> MethodChoice:
    """`choose_method` on the scene's `sample` (ms, pan, valid), made once per scene for the
    windows of a split raster (see `scene_memo`)."""
    def compare() -> dict[str, np.ndarray]:
        found = choose_method(net, *sample, ratio, sensor)
        return {"method": np.array(found.method), "model_ergas": np.array(found.model_ergas),
                "mtf_glp_ergas": np.array(found.mtf_glp_ergas)}

    digest = hashlib.sha256(b"".join(np.ascontiguousarray(part).tobytes()
                                     for part in sample if part is not None)).hexdigest()
    stored = remembered("method_choice", (model_sha256, sensor, ratio, digest), compare)
    return MethodChoice(str(stored["method"]), float(stored["model_ergas"]),
                        float(stored["mtf_glp_ergas"]))
