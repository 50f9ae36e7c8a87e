"""Training a pansharpening model on the user's own MS + PAN pairs, written as a model package.

Samples follow Wald's protocol (no ground truth needed): each pair's MS and PAN are degraded by
the ratio with the sensor's MTF and the original MS is the target. Architectures: "psdnet" (the
paper's net, trained with its ground-truth-fed teacher) and "lite" (the small student; distilled
from a PSDNet package given as `teacher`, or trained alone when there is none).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import math

import numpy as np
import rasterio

from ..catalogue import PANSHARPEN_ARCHITECTURES
from ..crs_units import pixel_size_metres
from ..data.wald import SENSORS, PansharpenSamples, make_training_pairs
from ..training.train_pansharpen import TrainConfig, TrainResult, train_student, train_teacher
from ..errors import InputError
from ..inference.memory import FLOAT_BYTES, check_memory
from ..nets.pansharpen_lite import PansharpenLiteConfig
from ..nets.psdnet import PSDNetConfig
from ..package import ModelCard, training_sources
from .callbacks import Callbacks
from .requests import TrainingRequest
from .trained_models import load_teacher, trained_card, validation_metrics, write_trained_model
from .training_checks import check_patch_multiple, check_training_request
from .pansharpen import (TASK, PairInfo, PansharpenRequest, inspect_pair, pair_scaling,
                         read_scene_crop)



@dataclass
class PansharpenTrainingRequest(TrainingRequest):
    """Pairs to learn from and how to train (plain values: no QGIS objects)."""

    pairs: list[tuple[str, str]]
    output_model: str
    architecture: str = "lite"
    sensor: str = "generic"
    epochs: int = 30
    patch_size: int = 64
    samples_per_pair: int = 256
    pan_band: int = 1
    validation_fraction: float = 0.1
    training_data: str = ""
    """What the card says the model was trained on; empty = the training files' names."""


@dataclass
class TrainingData:
    """Wald samples from every pair, and what the card records about them."""

    samples: PansharpenSamples
    ratio: int
    bands: int
    band_names: list[str]
    gsd: float | None
    names: list[str]


def load_training_data(request: PansharpenTrainingRequest, callbacks: Callbacks) -> TrainingData:
    """Check every pair (same band count and ratio), read a central crop of each, and cut samples.

    The patch size is the requested one, or less when a pair is too small for it (the same
    size for all pairs, a multiple of the ratio).
    """
    if not request.pairs:
        raise InputError("Give at least one MS + PAN pair to train on.")
    if request.sensor not in SENSORS:
        raise InputError(f"Unknown SENSOR '{request.sensor}': use one of {', '.join(SENSORS)}.")
    infos = [inspect_pair(ms_path, pan_path, request.pan_band) for ms_path, pan_path in request.pairs]
    for (ms_path, _), info in zip(request.pairs, infos):
        _check_consistent(infos[0], info, ms_path)
    ratio = infos[0].ratio
    crops = []
    for (ms_path, pan_path), info in zip(request.pairs, infos):
        callbacks.raise_if_cancelled()
        ms_scaling, pan_scaling = pair_scaling(ms_path)
        sample_request = PansharpenRequest(ms_path, pan_path, "", pan_band=info.pan_band)
        crops.append(read_scene_crop(sample_request, info, ms_scaling, pan_scaling)[:2])
    largest = min(min(ms.shape[1:]) for ms, _ in crops) // ratio * ratio
    config_class = PSDNetConfig if request.architecture == "psdnet" else PansharpenLiteConfig
    step = math.lcm(ratio, config_class(ms_bands=infos[0].ms_bands, ratio=ratio).multiple_of)
    check_patch_multiple(request.patch_size, step)
    size = min(request.patch_size, largest) // step * step
    if size < 4 * ratio:
        raise InputError(f"The smallest pair is too small to train on: each MS needs at least "
                         f"{4 * ratio * ratio} pixels a side at ratio {ratio}.")
    count = request.samples_per_pair * len(crops)
    # degraded MS, PAN and target MS of every patch, held per pair and once concatenated
    check_memory(2 * count * (2 * infos[0].ms_bands + 1) * size * size * FLOAT_BYTES,
                 f"Cutting {count} training patches of {size} px", "use a smaller PATCH_SIZE")
    rng = np.random.default_rng(request.seed)
    sets = [make_training_pairs(ms, pan, ratio, request.sensor, size, request.samples_per_pair, rng)
            for ms, pan in crops]
    callbacks.log(f"{len(sets)} pair(s), {request.samples_per_pair} patches of {size} px each.")
    with rasterio.open(request.pairs[0][1]) as pan:
        gsd = pixel_size_metres(pan)
    return TrainingData(PansharpenSamples.concatenate(sets), ratio, infos[0].ms_bands,
                        infos[0].ms_descriptions, gsd, [Path(m).name for m, _ in request.pairs])


def _check_consistent(first: PairInfo, info: PairInfo, ms_path: str) -> None:
    if (info.ms_bands, info.ratio) != (first.ms_bands, first.ratio):
        raise InputError(f"{Path(ms_path).name} has {info.ms_bands} bands at ratio {info.ratio}, "
                         f"but the first pair has {first.ms_bands} bands at ratio {first.ratio}: "
                         f"one model is trained for one band count and ratio.")


def train_pansharpening_model(request: PansharpenTrainingRequest,
                              callbacks: Callbacks | None = None) -> ModelCard:
    """Train as `request` says and write the model package; return its card."""
    callbacks = callbacks or Callbacks()
    check_training_request(request, PANSHARPEN_ARCHITECTURES, "PSDNet")
    data = load_training_data(request, callbacks.part(0.0, 0.05))
    config = TrainConfig(epochs=request.epochs, device=request.device, seed=request.seed,
                         validation_fraction=request.validation_fraction)
    teacher_name = None
    progress = callbacks.part(0.05, 1.0)
    if request.architecture == "psdnet":
        result = train_teacher(data.samples, config, progress.progress, callbacks.is_cancelled,
                               callbacks.log)
    else:
        teacher = None
        if request.teacher:
            teacher_card, teacher = load_teacher(request, TASK)
            if (teacher_card.config.get("ms_bands"), teacher_card.ratio) != (data.bands, data.ratio):
                raise InputError(f"The teacher '{teacher_card.name}' is for {teacher_card.config.get('ms_bands')} "
                                 f"bands at ratio {teacher_card.ratio}; the training pairs have "
                                 f"{data.bands} bands at ratio {data.ratio}.")
            teacher_name = teacher_card.name
        result = train_student(data.samples, config, teacher, progress.progress,
                               callbacks.is_cancelled, callbacks.log)
    return write_trained_model(request, result, card_for(result, data, request, teacher_name),
                               callbacks.log)


def card_for(result: TrainResult, data: TrainingData, request: PansharpenTrainingRequest,
             teacher_name: str | None) -> ModelCard:
    """The model card of a freshly trained pansharpening model."""
    return trained_card(
        result, request, TASK, input_bands={"ms": data.band_names, "pan": ["panchromatic"]},
        scaling=None, gsd=data.gsd, ratio=data.ratio, tile_size=512, overlap=32,
        teacher=teacher_name or "", training_data=request.training_data or training_sources(data.names),
        metrics=validation_metrics(result.metrics), description=request.description or
        f"{result.architecture} trained on {len(data.names)} pair(s) with sensor MTF '{request.sensor}'.")
