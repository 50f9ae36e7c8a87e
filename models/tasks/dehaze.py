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

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..catalogue import DARK_CHANNEL_PRIOR as DARK_CHANNEL
from ..data.haze import MODEL_SCALING
from ..errors import InputError
from ..inference.area import raster_part
from ..inference.engine import OutputSpec, RasterInput, run_tiled
from ..inference.raster_io import check_raster_outputs, output_nodata
from ..inference.scaling import BandScaling
from ..inference.scene import Scene, open_scene
from ..inference.tiling import TilingOptions
from ..runtime.backends import torch_installed
from ..runtime.loader import open_for_inference
from .callbacks import Callbacks
from .model_fit import FitReasons, ModelNeeds, gsd_warning, load_fitting_model
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


def check_scene(scene: Scene) -> None:
    """Check that the scene can be dehazed; raise InputError saying what to fix.

    Refused: a scene with no valid pixel (all nodata) and a scene whose every band is constant
    over its valid pixels (there is no contrast to restore).
    """
    overview = scene.overview(resampling=Resampling.average)
    if not overview.valid.any():
        raise InputError(f"{scene.name} has no valid pixels: every pixel is nodata. Check the "
                         f"layer's nodata value, or choose a raster that covers the area.")
    values = overview.array[:, overview.valid].astype(np.float64)
    if np.all(values.max(axis=1) == values.min(axis=1)):
        raise InputError(f"{scene.name} is a constant image (every band holds a single value), so "
                         f"there is no haze to remove; choose the hazy image itself.")


FIT_REASONS = FitReasons(
    wrong_task="Model '{name}' is a {task} model, not a dehazing model; choose a dehazing model "
               "or MODEL " + DARK_CHANNEL + ".",
    wrong_bands="Model '{name}' dehazes {model_bands}-band images but {layer} has {bands} bands. "
                "Choose a model trained for {bands} bands (train one with 'Train a dehazing "
                "model'), or MODEL " + DARK_CHANNEL + ".",
    none_bundled="No bundled dehazing model fits a {bands}-band image. Use MODEL " + DARK_CHANNEL
                 + " (no model needed), or train a model for these bands with 'Train a dehazing "
                 "model' and give it as MODEL.")


def model_needs(bands: int, layer: str) -> ModelNeeds:
    """What a scene of `bands` bands (the layer named `layer`) needs of a dehazing model."""
    return ModelNeeds(TASK, bands, FIT_REASONS, layer=layer)


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


def dark_channel_module(scene: Scene, scaling: BandScaling):
    """The dark channel prior with the airlight estimated once from a decimated read of the
    scene, as an engine model: on torch when it is installed (twice as fast), else in numpy."""
    from ..classical.dark_channel_numpy import NumpyDarkChannel, estimate_airlight_numpy

    overview = scene.overview(resampling=Resampling.average)
    normalized = scaling.normalize(overview.array)
    normalized[:, ~overview.valid] = 0.0  # nodata never wins the brightest-dark-channel search
    airlight = estimate_airlight_numpy(normalized)
    if not torch_installed():
        return NumpyDarkChannel(airlight)
    from ..classical.dehaze import DarkChannelModule

    return DarkChannelModule(airlight)


def dehaze(request: DehazeRequest, callbacks: Callbacks | None = None) -> RunResult:
    """Dehaze the scene as `request` says; write the result; report how it went."""
    callbacks = callbacks or Callbacks()
    check_raster_outputs([request.input_path], [request.output_path])
    if request.bands is not None:
        with raster_part(request.input_path, bands=request.bands, log=callbacks.log) as part:
            return dehaze(replace(request, input_path=part, bands=None), callbacks)
    with open_scene(request.input_path, area=request.area) as scene:
        check_scene(scene)
        for note in scene.notes:
            callbacks.log(note)
        # an area runs with the scaling (and airlight) of the whole raster, as in a whole run
        region = scene.region(callbacks.log)
        callbacks.log(f"{scene.name}: {len(scene.bands)} band(s) ({scene.dtype}).")
        return _dehaze_scene(scene, region, request, callbacks)


def _dehaze_scene(scene: Scene, region: Window | None, request: DehazeRequest,
                  callbacks: Callbacks) -> RunResult:
    notes: list[str] = []
    overlap = request.overlap
    if is_dark_channel(request.model):
        scaling = scene.scaling(mode="common", low_percentile=None,
                                high_percentile=DARK_CHANNEL_HIGH_PERCENTILE)
        network = dark_channel_module(scene, scaling)
        model_name, multiple_of = DARK_CHANNEL, 1
        if overlap < DARK_CHANNEL_MIN_OVERLAP:
            overlap = DARK_CHANNEL_MIN_OVERLAP
            notes.append(f"overlap raised to {overlap} px for the dark channel prior's filters")
        callbacks.log(f"Dark channel prior, airlight {np.round(network.airlight.flatten().tolist(), 3).tolist()}.")
    else:
        path, card = load_fitting_model(model_needs(len(scene.bands), scene.name), request.model,
                                        request.user_model_folder)
        model = open_for_inference(path, request.device, log=callbacks.log)
        callbacks.log(f"Model: {card.name} ({card.architecture}) from {path} on {model.describe()}")
        warning = gsd_warning(card, scene.pixel_metres, scene.name)
        if warning:
            callbacks.log(warning)
        network, multiple_of = model.tile_model(), model.multiple_of
        notes += model.notes
        scaling = scene.scaling(**MODEL_SCALING)
        model_name = card.name
    tile_size = max(request.tile_size, 4 * overlap)
    if tile_size != request.tile_size:
        notes.append(f"tile size raised to {tile_size} px to fit the overlap")
    output = OutputSpec(request.output_path, band_count=len(scene.bands), dtype=scene.dtype,
                        nodata=output_nodata(scene.dtype, scene.nodata),
                        band_descriptions=scene.descriptions, kind="continuous", scaling=scaling,
                        mask=scene.masked and scene.nodata is None)
    report = run_tiled(network, [RasterInput.from_scene(scene, scaling)], output, TilingOptions(
        tile_size=tile_size, overlap=overlap, batch_size=request.batch_size,
        multiple_of=max(1, multiple_of)), device=request.device, progress=callbacks.progress,
        is_cancelled=callbacks.is_cancelled, region=region)
    callbacks.log(f"Dehazed on {report.device_description} in {report.seconds:.1f} s "
                  f"({report.megapixels_per_second:.2f} Mpx/s).")
    for note in notes:
        callbacks.log(note)
    return RunResult.from_report(report, model_name, notes)
