"""Evaluating pansharpening on one scene: the model(s) against bicubic, GDAL Brovey and MTF-GLP.

Reduced resolution (Wald's protocol): the scene's MS and PAN are degraded by the ratio, each
method sharpens the degraded pair, and the result is compared with the original MS (SAM,
ERGAS, Q2n, SCC). Full resolution: each method sharpens the pair itself and is scored without
reference (D_lambda, D_s, QNR). A central crop of the scene keeps the cost bounded. Only
pixels with data are scored (`read_scene_crop`: a scene's black no-data fill would otherwise
reward a method for leaving it exactly 0 and punish any other).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..classical.pansharpen import brovey_gdal_arrays, mtf_glp, upsample_bicubic
from ..training.scene_adaptation import adapt_to_scene
from ..inference.device import resolve_device
from ..metrics.evaluation import full_resolution_scores, reduced_resolution_scores
from ..package import load_model
from .callbacks import Callbacks
from .model_fit import load_fitting_model
from .pansharpen import (PansharpenRequest, inspect_pair, model_needs, pair_scaling,
                         read_scene_crop)
from .report import Table, check_report_path, write_report

Sharpen = Callable[[np.ndarray, np.ndarray], np.ndarray]
REDUCED = ("sam", "ergas", "q2n", "scc")
FULL = ("d_lambda", "d_s", "qnr")


@dataclass
class PansharpenEvaluationRequest:
    """The scene, the models to compare with the classical methods, and where the report goes."""

    ms_path: str
    pan_path: str
    report_path: str
    models: list[str] = field(default_factory=lambda: ["default"])
    user_model_folder: str | None = None
    adapt_iterations: int = 0
    sensor: str = "generic"
    pan_band: int | None = 1
    device: str = "cpu"
    max_ms_pixels: int = 256


def fuse_with_net(net: torch.nn.Module, ms: np.ndarray, pan: np.ndarray, device: str = "auto") -> np.ndarray:
    """Run a pansharpening net on a normalized in-memory pair, padding to its size multiple."""
    device = resolve_device(device)
    ratio = pan.shape[1] // ms.shape[1]
    multiple = max(net.config.multiple_of, ratio)
    height, width = pan.shape[1:]
    pad_h, pad_w = -height % multiple, -width % multiple
    net = net.to(device).eval()
    with torch.no_grad():
        ms_t = torch.as_tensor(ms, dtype=torch.float32, device=device)[None]
        pan_t = torch.as_tensor(pan, dtype=torch.float32, device=device)[None]
        if pad_h or pad_w:
            ms_t = F.pad(ms_t, (0, pad_w // ratio, 0, pad_h // ratio), mode="replicate")
            pan_t = F.pad(pan_t, (0, pad_w, 0, pad_h), mode="replicate")
        fused = net(ms_t, pan_t)[0, :, :height, :width]
    return fused.float().cpu().numpy()


def _net_sharpener(net, ratio: int, request: PansharpenEvaluationRequest, adapt: bool) -> Sharpen:
    def sharpen(ms: np.ndarray, pan: np.ndarray) -> np.ndarray:
        model = net
        if adapt:
            model = adapt_to_scene(net, ms.astype(np.float32), pan.astype(np.float32), ratio,
                                   request.adapt_iterations, sensor=request.sensor,
                                   device=request.device)
        return fuse_with_net(model, ms, pan, request.device)
    return sharpen


def sharpeners(request: PansharpenEvaluationRequest, info, callbacks: Callbacks) -> dict[str, Sharpen]:
    """Every method to compare, as `sharpen(ms, pan) -> fused` on normalized arrays."""
    ratio = info.ratio
    methods: dict[str, Sharpen] = {
        "bicubic": lambda ms, pan: upsample_bicubic(ms, ratio),
        "brovey (GDAL)": lambda ms, pan: brovey_gdal_arrays(ms, pan, ratio),
        "mtf_glp": lambda ms, pan: mtf_glp(ms, pan, ratio, request.sensor),
    }
    for model in request.models:
        path, _ = load_fitting_model(model_needs(info), model, request.user_model_folder)
        card, net = load_model(path)
        callbacks.log(f"Model {card.name} ({card.architecture})")
        methods[card.name] = _net_sharpener(net, ratio, request, adapt=False)
        if request.adapt_iterations > 0:
            methods[f"{card.name} + adaptation"] = _net_sharpener(net, ratio, request, adapt=True)
    return methods


def evaluate_pansharpening(request: PansharpenEvaluationRequest,
                           callbacks: Callbacks | None = None) -> dict:
    """Score every method on the scene, write the JSON and HTML report, return the JSON data."""
    callbacks = callbacks or Callbacks()
    check_report_path(request.report_path)
    info = inspect_pair(request.ms_path, request.pan_path, request.pan_band)
    ms_scaling, pan_scaling = pair_scaling(request.ms_path)
    crop_request = PansharpenRequest(request.ms_path, request.pan_path, "", pan_band=info.pan_band)
    ms, pan, valid = read_scene_crop(crop_request, info, ms_scaling, pan_scaling,
                                     request.max_ms_pixels)
    if not valid.all():
        callbacks.log(f"{100 * (1 - valid.mean()):.1f} % of the crop is no-data; it is not scored.")
    methods = sharpeners(request, info, callbacks)
    results = {}
    for index, (name, sharpen) in enumerate(methods.items()):
        callbacks.raise_if_cancelled()
        reduced = reduced_resolution_scores(sharpen, ms, pan, info.ratio, request.sensor, valid)
        started = time.perf_counter()
        fused = sharpen(ms, pan)
        seconds = time.perf_counter() - started
        full = full_resolution_scores(fused, ms, pan, info.ratio, valid)
        results[name] = {"reduced": reduced, "full": full,
                         "megapixels_per_second": pan.shape[1] * pan.shape[2] / 1e6 / max(seconds, 1e-9)}
        callbacks.log(f"{name}: ERGAS {reduced['ergas']:.3f}, SAM {reduced['sam']:.3f}, "
                      f"QNR {full['qnr']:.4f}")
        callbacks.progress((index + 1) / len(methods))
    data = {"ms": str(request.ms_path), "pan": str(request.pan_path), "ratio": info.ratio,
            "sensor": request.sensor, "crop_ms_pixels": list(ms.shape[1:]),
            "scored_fraction": round(float(valid.mean()), 4), "methods": results}
    write_report(request.report_path, f"Pansharpening evaluation: {Path(request.ms_path).name}",
                 _summary(data), _tables(results), data)
    return data


def _summary(data: dict) -> list[str]:
    return [f"MS {data['ms']}, PAN {data['pan']}; ratio {data['ratio']}, sensor MTF "
            f"'{data['sensor']}'; central crop of {data['crop_ms_pixels'][0]} x "
            f"{data['crop_ms_pixels'][1]} MS pixels, {100 * data['scored_fraction']:.1f} % of them "
            f"with data (only those are scored)."]


def _tables(results: dict) -> list[Table]:
    reduced = Table("Reduced resolution (Wald protocol, reference = original MS)",
                    ["method", "SAM (deg)", "ERGAS", "Q2n", "SCC"],
                    [[name, *(r["reduced"][k] for k in REDUCED)] for name, r in results.items()],
                    "SAM and ERGAS: lower is better; Q2n and SCC: higher is better (1 = perfect).",
                    [None, False, False, True, True])
    full = Table("Full resolution (no reference)", ["method", "D_lambda", "D_s", "QNR", "Mpx/s"],
                 [[name, *(r["full"][k] for k in FULL), r["megapixels_per_second"]]
                  for name, r in results.items()],
                 "D_lambda (spectral) and D_s (spatial distortion): lower is better; QNR: "
                 "higher is better (1 = perfect). Mpx/s: in-memory speed on the crop.",
                 [None, False, False, True, True])
    return [reduced, full]
