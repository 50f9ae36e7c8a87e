"""Dehazing a scene: input checks, model choice, scaling and the tiled run that writes the
dehazed GeoTIFF on the input's grid, with the input's data type, bands and nodata.

MODEL is "default" (the bundled package fitting the band count, preferring the lite student),
a bundled or user package name, a .safetensors path, or "dark_channel_prior" (He et al.'s
classical method, no model needed).

Scaling, the same as training (`models.data.haze.MODEL_SCALING`: low 0 and one high value, the
99.5th percentile of all bands, which `make_dehaze_pairs` takes of each hazy training window):
the engine scales the hazy scene with that statistic of a decimated read, and the output is denormalized with that same scaling to
the input's data type. The model card stores nothing scene-specific. The dark channel prior
instead needs values where dark pixels sit near 0, so it gets one common scaling with low 0
and high the 99.9th percentile (`dark_channel_scaling`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from ..catalogue import DARK_CHANNEL_PRIOR as DARK_CHANNEL
from ..data.haze import MODEL_SCALING
from ..errors import InputError
from ..inference.area import area_region, raster_part
from ..inference.engine import OutputSpec, RasterInput, RunReport, run_tiled
from ..inference.raster_io import (band_list, band_names, check_raster_outputs, has_mask,
                                   input_notes, open_raster, output_nodata, read_decimated,
                                   scene_scaling, valid_mask)
from ..inference.scaling import BandScaling
from ..inference.tiling import TilingOptions
from ..runtime.loader import open_for_inference, require_torch
from .callbacks import Callbacks
from .model_fit import FitReasons, ModelNeeds, load_fitting_model
from .requests import RunResult, TiledRequest

TASK = "dehazing"
#: the dark channel prior's common scaling: low 0, high this percentile of all bands
DARK_CHANNEL_HIGH_PERCENTILE = 99.9
#: the guided filter radius plus half the dark channel patch: the overlap the prior needs
DARK_CHANNEL_MIN_OVERLAP = 48


@dataclass
class DehazeRequest(TiledRequest):
    """What to dehaze, with which model, and where to write it; `bands` are the bands to
    dehaze (the output has these)."""

    input_path: str
    output_path: str


@dataclass
class SceneInfo:
    """What the checks found out about the hazy scene."""

    bands: int
    """data bands (an alpha band is the mask, not data)"""
    dtype: str
    nodata: float | None
    descriptions: list[str]
    name: str
    masked: bool = False
    """whether an alpha or mask band says which pixels have data"""


def inspect_scene(path: str) -> SceneInfo:
    """Check that the scene can be dehazed; raise InputError saying what to fix.

    Refused: a scene with no valid pixel (all nodata) and a scene whose every band is constant
    over its valid pixels (there is no contrast to restore).
    """
    name = Path(path).name
    with open_raster(path) as dataset:
        info = SceneInfo(bands=len(band_list(dataset, None)), dtype=dataset.dtypes[0],
                         nodata=dataset.nodata, descriptions=band_names(dataset), name=name,
                         masked=has_mask(dataset))
    array, _ = read_decimated(path)
    with open_raster(path) as dataset:
        valid = valid_mask(dataset, array, out_shape=array.shape[1:])
    if not valid.any():
        raise InputError(f"{name} has no valid pixels: every pixel is nodata. Check the layer's "
                         f"nodata value, or choose a raster that covers the area.")
    values = array[:, valid].astype(np.float64)
    if np.all(values.max(axis=1) == values.min(axis=1)):
        raise InputError(f"{name} is a constant image (every band holds a single value), so "
                         f"there is no haze to remove; choose the hazy image itself.")
    return info


FIT_REASONS = FitReasons(
    wrong_task="Model '{name}' is a {task} model, not a dehazing model; choose a dehazing model "
               "or MODEL " + DARK_CHANNEL + ".",
    wrong_bands="Model '{name}' dehazes {model_bands}-band images but {layer} has {bands} bands. "
                "Choose a model trained for {bands} bands (train one with 'Train a dehazing "
                "model'), or MODEL " + DARK_CHANNEL + ".",
    none_bundled="No bundled dehazing model fits a {bands}-band image. Use MODEL " + DARK_CHANNEL
                 + " (no model needed), or train a model for these bands with 'Train a dehazing "
                 "model' and give it as MODEL.")


def model_needs(info: SceneInfo) -> ModelNeeds:
    """What the scene needs of a dehazing model: its band count."""
    return ModelNeeds(TASK, info.bands, FIT_REASONS, layer=info.name)


def is_dark_channel(model: str) -> bool:
    """True when MODEL asks for the dark channel prior rather than a model package."""
    return model.strip().lower() in (DARK_CHANNEL, "dcp")


def model_scaling_from_array(hazy: np.ndarray, valid: np.ndarray | None = None) -> BandScaling:
    """The scaling a dehazing net sees a hazy (bands, H, W) array in (as the engine does)."""
    return BandScaling.from_array(hazy, valid=valid, **MODEL_SCALING)


def dark_channel_scaling_from_array(hazy: np.ndarray, valid: np.ndarray | None = None) -> BandScaling:
    """The scaling the dark channel prior works in: low 0, high the 99.9th percentile."""
    return BandScaling.from_array(hazy, mode="common", low_percentile=None,
                                  high_percentile=DARK_CHANNEL_HIGH_PERCENTILE, valid=valid)


def dark_channel_module(path: str, scaling: BandScaling):
    """The dark channel prior (a torch module) with the airlight estimated once from a
    decimated read of the scene."""
    require_torch("The dark channel prior")
    from ..classical.dehaze import DarkChannelModule, estimate_airlight

    array, _ = read_decimated(path)
    with open_raster(path) as dataset:
        valid = valid_mask(dataset, array, out_shape=array.shape[1:])
    normalized = scaling.normalize(array)
    normalized[:, ~valid] = 0.0  # nodata never wins the brightest-dark-channel search
    return DarkChannelModule(estimate_airlight(normalized))


def dehaze(request: DehazeRequest, callbacks: Callbacks | None = None) -> RunResult:
    """Dehaze the scene as `request` says; write the result; report how it went."""
    callbacks = callbacks or Callbacks()
    check_raster_outputs([request.input_path], [request.output_path])
    if request.bands is not None:
        with raster_part(request.input_path, bands=request.bands, log=callbacks.log) as part:
            return dehaze(replace(request, input_path=part, bands=None), callbacks)
    info = inspect_scene(request.input_path)
    for note in input_notes(request.input_path):
        callbacks.log(note)
    # an area runs with the scaling (and airlight) of the whole raster, as in a whole run
    region = area_region(request.input_path, request.area, callbacks.log)
    callbacks.log(f"{info.name}: {info.bands} band(s) ({info.dtype}).")
    notes: list[str] = []
    overlap = request.overlap
    if is_dark_channel(request.model):
        scaling = scene_scaling(request.input_path, mode="common", low_percentile=None,
                                high_percentile=DARK_CHANNEL_HIGH_PERCENTILE)
        network = dark_channel_module(request.input_path, scaling)
        model_name, multiple_of = DARK_CHANNEL, 1
        if overlap < DARK_CHANNEL_MIN_OVERLAP:
            overlap = DARK_CHANNEL_MIN_OVERLAP
            notes.append(f"overlap raised to {overlap} px for the dark channel prior's filters")
        callbacks.log(f"Dark channel prior, airlight {np.round(network.airlight.flatten().tolist(), 3).tolist()}.")
    else:
        path, card = load_fitting_model(model_needs(info), request.model, request.user_model_folder)
        model = open_for_inference(path, request.device, log=callbacks.log)
        callbacks.log(f"Model: {card.name} ({card.architecture}) from {path} on {model.describe()}")
        network, multiple_of = model.tile_model(), model.multiple_of
        notes += model.notes
        scaling = scene_scaling(request.input_path, **MODEL_SCALING)
        model_name = card.name
    tile_size = max(request.tile_size, 4 * overlap)
    if tile_size != request.tile_size:
        notes.append(f"tile size raised to {tile_size} px to fit the overlap")
    report = _run_engine(network, request, info, scaling, TilingOptions(
        tile_size=tile_size, overlap=overlap, batch_size=request.batch_size,
        multiple_of=max(1, multiple_of)), region, callbacks)
    for note in notes:
        callbacks.log(note)
    return RunResult.from_report(report, model_name, notes)


def _run_engine(network, request: DehazeRequest, info: SceneInfo,
                scaling: BandScaling, options: TilingOptions, region: Window | None,
                callbacks: Callbacks) -> RunReport:
    inputs = [RasterInput(request.input_path, scaling=scaling)]
    output = OutputSpec(request.output_path, band_count=info.bands, dtype=info.dtype,
                        nodata=output_nodata(info.dtype, info.nodata), band_descriptions=info.descriptions,
                        kind="continuous", scaling=scaling, mask=info.masked and info.nodata is None)
    report = run_tiled(network, inputs, output, options, device=request.device,
                       progress=callbacks.progress, is_cancelled=callbacks.is_cancelled,
                       region=region)
    callbacks.log(f"Dehazed on {report.device_description} in {report.seconds:.1f} s "
                  f"({report.megapixels_per_second:.2f} Mpx/s).")
    return report
