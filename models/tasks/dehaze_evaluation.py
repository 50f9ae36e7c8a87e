"""Evaluating dehazing: model(s) against the dark channel prior on images with a clear reference.

Cases: clear images with synthetic non-homogeneous haze (seeded, so a report can be
reproduced), and real (hazy, clear) pairs. Each case is a central crop of at most `crop_size`
pixels (a multiple of 32) in the clear image's [0, 1] units (`unit_scaling`). Every method sees
the hazy crop scaled the way the dehazing tool scales a scene (models: `MODEL_SCALING`, low 0
and high the 99.5th percentile of all bands; dark channel prior: high the 99.9th percentile) and its result is mapped back,
clipped to [0, 1] (as the written raster is clipped to its data type) and scored against the
clear crop: PSNR (dB) and SSIM with data range 1. "hazy input" scores the untouched hazy crop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..classical.dehaze import dark_channel_dehaze
from ..data.haze import synthesize_haze
from ..inference.device import resolve_device
from ..errors import InputError
from ..metrics.dehazing import dehazing_scores
from ..package import load_model
from .callbacks import Callbacks
from .dehaze import dark_channel_scaling_from_array, model_needs, model_scaling_from_array
from .dehaze_training import (PATCH_MULTIPLE, clear_image_list, read_central, read_clear_image,
                              unit_scaling, valid_central_crop)
from .model_fit import load_fitting_model
from .report import Table, check_report_path, write_report

Dehazer = Callable[[np.ndarray], np.ndarray]
HAZY_INPUT = "hazy input"
DARK_CHANNEL_NAME = "dark channel prior"
METRICS = ("psnr", "ssim")


@dataclass
class DehazeEvaluationRequest:
    """The images, the models to compare with the dark channel prior, and where the report goes."""

    report_path: str
    clear_paths: list[str] = field(default_factory=list)
    clear_folder: str | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["default"])
    user_model_folder: str | None = None
    device: str = "cpu"
    crop_size: int = 256
    seed: int = 0


@dataclass
class EvaluationCase:
    """One scored image: hazy and clear (bands, H, W) float32 in the clear image's [0, 1] units."""

    name: str
    hazy: np.ndarray
    clear: np.ndarray


def central_crop(array: np.ndarray, size: int) -> np.ndarray:
    """The central crop of at most `size` pixels a side, both sides multiples of 32."""
    rows = min(size, array.shape[1]) // PATCH_MULTIPLE * PATCH_MULTIPLE
    cols = min(size, array.shape[2]) // PATCH_MULTIPLE * PATCH_MULTIPLE
    if rows == 0 or cols == 0:
        raise InputError(f"An image of {array.shape[1]}x{array.shape[2]} pixels is too small to "
                         f"evaluate on: it needs at least {PATCH_MULTIPLE} valid pixels a side.")
    top, left = (array.shape[1] - rows) // 2, (array.shape[2] - cols) // 2
    return array[:, top:top + rows, left:left + cols]


def synthetic_cases(paths: list[str], crop_size: int, seed: int) -> list[EvaluationCase]:
    """Clear images with synthetic haze (image i gets haze from seed + i)."""
    cases = []
    for index, path in enumerate(paths):
        clear = central_crop(read_clear_image(path), crop_size)
        hazy, _, _ = synthesize_haze(clear, np.random.default_rng(seed + index))
        cases.append(EvaluationCase(Path(path).name, hazy, clear))
    return cases


def pair_cases(pairs: list[tuple[str, str]], crop_size: int) -> list[EvaluationCase]:
    """Real (hazy, clear) pairs, both in the clear image's [0, 1] units."""
    cases = []
    for hazy_path, clear_path in pairs:
        hazy, hazy_valid = read_central(hazy_path)
        clear, clear_valid = read_central(clear_path)
        if hazy.shape != clear.shape:
            raise InputError(f"The hazy image {Path(hazy_path).name} and the clear image "
                             f"{Path(clear_path).name} must have the same size and bands.")
        scaling = unit_scaling(clear)
        both = valid_central_crop(np.concatenate([hazy, clear]), hazy_valid & clear_valid,
                                  Path(hazy_path).name)
        both = central_crop(np.concatenate([scaling.normalize(both[:len(hazy)]),
                                            np.clip(scaling.normalize(both[len(hazy):]), 0, 1)]),
                            crop_size)
        cases.append(EvaluationCase(f"{Path(hazy_path).name} / {Path(clear_path).name}",
                                    both[:len(hazy)], both[len(hazy):]))
    return cases


def run_net(net: torch.nn.Module, image: np.ndarray, device: str = "cpu") -> np.ndarray:
    """A dehazing net on one normalized (bands, H, W) image, reflect-padded to its size multiple."""
    device = resolve_device(device)
    multiple = net.config.multiple_of
    height, width = image.shape[1:]
    net = net.to(device).eval()
    with torch.no_grad():
        x = torch.as_tensor(image, dtype=torch.float32, device=device)[None]
        x = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="reflect")
        return net(x)[0, :, :height, :width].float().cpu().numpy()


def model_dehazer(net: torch.nn.Module, device: str = "cpu") -> Dehazer:
    """hazy -> dehazed through `net`, scaled as the dehazing tool scales a scene."""
    def dehaze(hazy: np.ndarray) -> np.ndarray:
        scaling = model_scaling_from_array(hazy)
        return scaling.denormalize(run_net(net, scaling.normalize(hazy), device))
    return dehaze


def dark_channel_dehazer(hazy: np.ndarray) -> np.ndarray:
    """hazy -> dehazed by the dark channel prior, scaled as the dehazing tool scales it."""
    scaling = dark_channel_scaling_from_array(hazy)
    return scaling.denormalize(dark_channel_dehaze(scaling.normalize(hazy))[0].astype(np.float32))


def score_methods(cases: list[EvaluationCase], methods: dict[str, Dehazer],
                  callbacks: Callbacks | None = None) -> dict:
    """{method: {"psnr", "ssim" (means over cases), "megapixels_per_second", "per_image"}}."""
    callbacks = callbacks or Callbacks()
    results = {}
    pixels = sum(case.hazy.shape[1] * case.hazy.shape[2] for case in cases)
    for index, (name, method) in enumerate(methods.items()):
        per_image, seconds = {}, 0.0
        for case in cases:
            callbacks.raise_if_cancelled()
            started = time.perf_counter()
            output = method(case.hazy)
            seconds += time.perf_counter() - started
            per_image[case.name] = dehazing_scores(np.clip(output, 0.0, 1.0), case.clear)
        results[name] = {metric: float(np.mean([s[metric] for s in per_image.values()]))
                         for metric in METRICS}
        results[name]["megapixels_per_second"] = pixels / 1e6 / max(seconds, 1e-9)
        results[name]["per_image"] = per_image
        callbacks.log(f"{name}: PSNR {results[name]['psnr']:.2f} dB, SSIM {results[name]['ssim']:.4f}")
        callbacks.progress((index + 1) / len(methods))
    return results


def dehazers(request: DehazeEvaluationRequest, bands: int, callbacks: Callbacks) -> dict[str, Dehazer]:
    """Every method to compare: the hazy input, the dark channel prior and each model."""
    methods: dict[str, Dehazer] = {HAZY_INPUT: lambda hazy: hazy,
                                   DARK_CHANNEL_NAME: dark_channel_dehazer}
    for model in request.models:
        path, _ = load_fitting_model(model_needs(bands, "the evaluation images"), model,
                                     request.user_model_folder)
        card, net = load_model(path)
        callbacks.log(f"Model {card.name} ({card.architecture})")
        methods[card.name] = model_dehazer(net, request.device)
    return methods


def evaluate_dehazing(request: DehazeEvaluationRequest, callbacks: Callbacks | None = None) -> dict:
    """Score every method on every case, write the JSON and HTML report, return the JSON data."""
    callbacks = callbacks or Callbacks()
    check_report_path(request.report_path)
    paths = clear_image_list(request.clear_paths, request.clear_folder)
    if not paths and not request.pairs:
        raise InputError("Give clear images (synthetic haze is added to them) or pairs of hazy "
                         "and clear images to evaluate on.")
    cases = synthetic_cases(paths, request.crop_size, request.seed) + \
        pair_cases(request.pairs, request.crop_size)
    bands = cases[0].hazy.shape[0]
    for case in cases:
        if case.hazy.shape[0] != bands:
            raise InputError(f"{case.name} has {case.hazy.shape[0]} band(s) but {cases[0].name} "
                             f"has {bands}: evaluate images with the same bands.")
    results = score_methods(cases, dehazers(request, bands, callbacks.part(0.0, 0.05)),
                            callbacks.part(0.05, 1.0))
    data = {"images": [case.name for case in cases], "synthetic_haze": len(paths),
            "real_pairs": len(request.pairs), "crop_size": request.crop_size,
            "seed": request.seed, "methods": results}
    write_report(request.report_path, "Dehazing evaluation", _summary(data), _tables(results, cases), data)
    return data


def _summary(data: dict) -> list[str]:
    return [f"{data['synthetic_haze']} clear image(s) with synthetic haze (seed {data['seed']}) "
            f"and {data['real_pairs']} real hazy/clear pair(s); central crops of at most "
            f"{data['crop_size']} pixels a side. PSNR and SSIM against the clear image (data "
            f"range 1, results clipped to [0, 1])."]


def _tables(results: dict, cases: list[EvaluationCase]) -> list[Table]:
    means = Table("Mean over all images", ["method", "PSNR (dB)", "SSIM", "Mpx/s"],
                  [[name, r["psnr"], r["ssim"], r["megapixels_per_second"]]
                   for name, r in results.items()],
                  "PSNR and SSIM: higher is better. Mpx/s: in-memory speed on these crops.",
                  [None, True, True, True])
    per_image = Table("PSNR (dB) per image", ["image", *results],
                      [[case.name, *(r["per_image"][case.name]["psnr"] for r in results.values())]
                       for case in cases])
    return [means, per_image]
