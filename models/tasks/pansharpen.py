"""Pansharpening a scene: input checks, method and model choice, scaling, optional scene
adaptation, and the tiled run that writes the sharpened GeoTIFF on the PAN grid.

Methods: "model" (a packaged net: the bundled lite student by default), "mtf_glp" (MTF-GLP
with regression injection gains, no model), "brovey" (GDAL's weighted Brovey through a
pansharpened VRT) and "auto" (the model or MTF-GLP, whichever scores better on a
reduced-resolution sample of the scene: `pansharpen_choice`). The output keeps the MS data type, value range, nodata and band names.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ..catalogue import PANSHARPEN_METHODS
from ..crs_units import pixel_size_text
from ..data.wald import SENSORS
from ..errors import InputError
from ..inference.area import Area, View, raster_part, view_rasters
from ..inference.engine import OutputSpec, RasterInput, RunReport, run_tiled
from ..inference.raster_io import check_raster_outputs, output_nodata, valid_mask
from ..inference.scaling import BandScaling
from ..inference.scene import Scene, open_scene, scene_of
from ..inference.scene_memo import file_state, remembered
from ..inference.tiling import TilingOptions
from ..masks import nonzero_pixels
from ..package import ModelCard, load_model
from ..runtime.backends import torch_installed
from ..runtime.loader import open_for_inference, require_torch
from .band_order import band_order_warning
from .callbacks import Callbacks
from .model_fit import FitReasons, ModelNeeds, gsd_warning, load_fitting_model
from .requests import RunResult, TiledRequest

ADAPT_TIME_LIMIT = 60.0
"""Seconds after which scene adaptation stops and keeps its best weights so far."""
TASK = "pansharpening"
#: MS pixels on each side of the central crop used for scene adaptation and MTF-GLP gains
SCENE_SAMPLE_MS_PIXELS = 256
#: the common MS/PAN scaling every pansharpening model is trained with (see scaling.py)
SCALING_HIGH_PERCENTILE = 99.9
#: PAN pixels the MS grid may sit off whole-MS-pixel alignment before the log warns
MS_SHIFT_TOLERANCE = 0.25


@dataclass
class PansharpenRequest(TiledRequest):
    """What to sharpen, how, and where to write it. `area` is in the PAN's CRS; `bands` are MS
    bands, in the model's order."""

    ms_path: str
    pan_path: str
    output_path: str
    pan_band: int | None = 1
    method: str = "auto"
    adapt_iterations: int = 0
    sensor: str = "generic"


@dataclass
class PairInfo:
    """What the checks found out about an MS + PAN pair."""

    ratio: int
    ms_bands: int
    ms_dtype: str
    ms_nodata: float | None
    ms_descriptions: list[str]
    pan_band: int
    pan_shape: tuple[int, int]
    ms_offset: tuple[int, int]
    ms_shift: tuple[float, float] = (0.0, 0.0)
    """(rows, columns) in PAN pixels by which the MS grid sits off the whole-MS-pixel alignment."""
    ms_masked: bool = False
    """whether an alpha or mask band of the MS says which pixels have data"""
    pan_metres: float | None = None
    """the PAN's pixel width in metres (None without a CRS)"""


@dataclass(kw_only=True)
class PansharpenResult(RunResult):
    """Where the result went, the method that made it, and how fast."""

    method: str


def inspect_pair(ms_path: str, pan_path: str, pan_band: int | None) -> PairInfo:
    """Check that MS and PAN can be sharpened together; raise InputError saying what to fix."""
    with open_pair(ms_path, pan_path) as (ms, pan):
        return check_pair(ms, pan, pan_band)


@contextmanager
def open_pair(ms_path: str, pan_path: str, area: Area | None = None) -> Iterator[tuple[Scene, Scene]]:
    """The MS and the PAN (with the area to process, in its CRS) as Scenes, open for the block."""
    with rasterio.open(pan_path) as pan, rasterio.open(ms_path) as ms:
        yield scene_of(ms, ms_path), scene_of(pan, pan_path, area=area)


def check_pair(ms: Scene, pan: Scene, pan_band: int | None) -> PairInfo:
    """`inspect_pair` of the open pair."""
    if pan.count > 1 and pan_band is None:
        raise InputError(f"The PAN raster {pan.name} has {pan.count} bands: choose "
                         f"the panchromatic band with PAN_BAND.")
    band = 1 if pan_band is None else pan_band
    if not 1 <= band <= pan.count:
        raise InputError(f"PAN_BAND {band} does not exist: {pan.name} has "
                         f"{pan.count} band(s); choose a band from 1 to {pan.count}.")
    ms_size, pan_size = ms.dataset.res[0], pan.dataset.res[0]
    if abs(ms_size) < abs(pan_size) * 0.99:
        raise InputError(f"The MS raster ({pixel_size_text(ms_size, ms.crs)} pixels) is finer "
                         f"than the PAN ({pixel_size_text(pan_size, pan.crs)}): the MS and PAN "
                         f"inputs look swapped.")
    grid = pan.grid_of(ms)
    if grid.ratio < 2:
        raise InputError("MS and PAN have the same pixel size; pansharpening needs a PAN that is "
                         "2 or more times finer than the MS.")
    return PairInfo(ratio=grid.ratio, pan_band=band, ms_offset=(grid.row_offset, grid.col_offset),
                    ms_shift=grid.shift, ms_bands=len(ms.bands), ms_dtype=ms.dtype,
                    ms_nodata=ms.nodata, ms_descriptions=ms.descriptions, ms_masked=ms.masked,
                    pan_shape=pan.shape, pan_metres=pan.pixel_metres)


FIT_REASONS = FitReasons(
    wrong_task="Model '{name}' is a {task} model, not a pansharpening model; choose a "
               "pansharpening model, or METHOD mtf_glp.",
    wrong_bands="Model '{name}' expects a {model_bands}-band MS but this MS has {bands} bands. "
                "Choose a model made for {bands} bands, or METHOD mtf_glp.",
    wrong_ratio="Model '{name}' was made for a PAN/MS resolution ratio of {model_ratio}, but this "
                "pair has ratio {ratio}. Choose a model for ratio {ratio}, or METHOD mtf_glp.",
    none_bundled="No bundled pansharpening model fits a {bands}-band MS at ratio {ratio}. Use "
                 "METHOD mtf_glp (no model needed), or train a model for this sensor with 'Train "
                 "a pansharpening model' and give it as MODEL.")


def model_needs(info: PairInfo) -> ModelNeeds:
    """What the pair needs of a pansharpening model: its MS band count and ratio."""
    return ModelNeeds(TASK, info.ms_bands, FIT_REASONS, ratio=info.ratio)


def pair_scaling(ms_path: str) -> tuple[BandScaling, BandScaling]:
    """The common MS/PAN scaling (low 0, high = 99.9th percentile of all MS bands)."""
    with open_scene(ms_path) as ms:
        return scene_pair_scaling(ms)


def scene_pair_scaling(ms: Scene) -> tuple[BandScaling, BandScaling]:
    """`pair_scaling` of the open MS."""
    ms_scaling = ms.scaling(mode="common", low_percentile=None,
                            high_percentile=SCALING_HIGH_PERCENTILE)
    return ms_scaling, BandScaling(low=[0.0], high=[ms_scaling.high[0]])


@contextmanager
def pair_views(request: PansharpenRequest, info: PairInfo, pan_window: Window
               ) -> Iterator[tuple[str, str]]:
    """VRTs (MS, PAN) of a PAN window and of the MS pixels under it (the alignment is kept)."""
    ratio = info.ratio
    row_offset, col_offset = info.ms_offset
    ms_window = Window(col_offset + int(pan_window.col_off) // ratio,
                       row_offset + int(pan_window.row_off) // ratio,
                       math.ceil(pan_window.width / ratio), math.ceil(pan_window.height / ratio))
    with view_rasters([View(request.ms_path, ms_window), View(request.pan_path, pan_window)]) as (ms, pan):
        yield ms, pan


def read_scene_crop(request: PansharpenRequest, info: PairInfo, ms_scaling: BandScaling,
                    pan_scaling: BandScaling, max_ms_pixels: int = SCENE_SAMPLE_MS_PIXELS,
                    pair: tuple[Scene, Scene] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A normalized central crop of the pair, the MS at most `max_ms_pixels` a side, and which
    MS pixels hold data: not masked, not nodata, not 0 in every band (the black fill of scenes
    without a nodata value, judged in float32 as the models see it). Read once per scene, from
    the open (MS, PAN) `pair` when given."""
    ratio = info.ratio
    ms_rows = min(max_ms_pixels, info.pan_shape[0] // ratio)
    ms_cols = min(max_ms_pixels, info.pan_shape[1] // ratio)
    pan_row = (info.pan_shape[0] // ratio - ms_rows) // 2 * ratio
    pan_col = (info.pan_shape[1] // ratio - ms_cols) // 2 * ratio

    def read() -> dict[str, np.ndarray]:
        with nullcontext(pair) if pair else open_pair(request.ms_path, request.pan_path) as (ms, pan):
            pan_array = pan.dataset.read([info.pan_band], boundless=True, window=Window(
                pan_col, pan_row, ms_cols * ratio, ms_rows * ratio))
            window = Window(info.ms_offset[1] + pan_col // ratio,
                            info.ms_offset[0] + pan_row // ratio, ms_cols, ms_rows)
            ms_array = ms.dataset.read(ms.bands, window=window, boundless=True)  # 0 outside
            valid = (valid_mask(ms.dataset, ms_array, window=window, boundless=True)
                     & nonzero_pixels(ms_array.astype(np.float32)))
        return {"ms": ms_array, "pan": pan_array, "valid": valid}

    crop = remembered("pair_crop", file_state(request.ms_path) + file_state(request.pan_path)
                      + (info.pan_band, max_ms_pixels, tuple(info.ms_offset)), read)
    ms_array, pan_array, valid = crop["ms"], crop["pan"], crop["valid"]
    # NaN/Inf would spread through the filters: zero them and leave their MS pixels out
    pan_finite = np.isfinite(pan_array[0]).reshape(ms_rows, ratio, ms_cols, ratio).all(axis=(1, 3))
    valid &= pan_finite
    ms_array, pan_array = (np.where(np.isfinite(a), a, 0) for a in (ms_array, pan_array))
    return ms_scaling.normalize(ms_array), pan_scaling.normalize(pan_array), valid


def pansharpen(request: PansharpenRequest, callbacks: Callbacks | None = None) -> PansharpenResult:
    """Sharpen the MS with the PAN as `request` says; write the result; report how it went."""
    callbacks = callbacks or Callbacks()
    if request.method not in PANSHARPEN_METHODS:
        raise InputError(f"Unknown METHOD '{request.method}': use one of "
                         f"{', '.join(PANSHARPEN_METHODS)}.")
    if request.sensor not in SENSORS:
        raise InputError(f"Unknown SENSOR '{request.sensor}': use one of {', '.join(SENSORS)}.")
    check_raster_outputs([request.ms_path, request.pan_path], [request.output_path])
    if request.bands is not None:
        with raster_part(request.ms_path, bands=request.bands, log=callbacks.log) as part:
            return pansharpen(replace(request, ms_path=part, bands=None), callbacks)
    with open_pair(request.ms_path, request.pan_path, request.area) as (ms, pan):
        return _sharpen_pair(ms, pan, request, callbacks)


def _sharpen_pair(ms: Scene, pan: Scene, request: PansharpenRequest,
                  callbacks: Callbacks) -> PansharpenResult:
    info = check_pair(ms, pan, request.pan_band)
    for note in ms.notes + pan.notes:
        callbacks.log(note)
    callbacks.log(f"PAN/MS resolution ratio {info.ratio}, {info.ms_bands} MS bands "
                  f"({info.ms_dtype}).")
    region = pan.region(callbacks.log, multiple=info.ratio, unit="PAN pixels")
    if request.method == "brovey":
        if region is None:
            return _run_brovey(request, info, callbacks)
        with pair_views(request, info, region) as (ms_part, pan_part):  # GDAL works per pixel
            return _run_brovey(replace(request, ms_path=ms_part, pan_path=pan_part, area=None),
                               replace(info, pan_shape=(int(region.height), int(region.width))),
                               callbacks)
    if max(abs(shift) for shift in info.ms_shift) > MS_SHIFT_TOLERANCE:
        rows, cols = info.ms_shift
        callbacks.log(f"Warning: the MS grid is offset from the PAN grid by {rows:+.2f} rows and "
                      f"{cols:+.2f} columns of PAN pixels beyond whole MS pixels; it is used on "
                      f"the nearest aligned grid, so colours may sit that far off the PAN's "
                      f"edges. For a clean result resample the MS onto a grid aligned with the "
                      f"PAN (e.g. GDAL Warp with the PAN's extent and {info.ratio} times its pixel size).")

    ms_scaling, pan_scaling = scene_pair_scaling(ms)
    sample = read_scene_crop(request, info, ms_scaling, pan_scaling, pair=(ms, pan))
    notes: list[str] = []
    model_name = None
    multiple_of = 1
    method = request.method
    engine_callbacks = callbacks
    if method != "mtf_glp":
        prepared = _prepare_model(request, info, sample, callbacks)
        if prepared is None:
            method = "mtf_glp"
        else:
            network, notes, multiple_of = prepared.engine_model, prepared.notes, prepared.multiple_of
            model_name = prepared.card.name
            if request.adapt_iterations > 0:
                engine_callbacks = callbacks.part(0.3, 1.0)
            if method == "auto":
                method = _choose_method(prepared, info, request, callbacks)
    if method == "mtf_glp":
        network, model_name, multiple_of = _mtf_glp_model(sample, info, request.sensor), None, 1

    # an area runs with the scaling, gains and adaptation of the whole scene, as a whole run
    inputs = [RasterInput.from_scene(pan, pan_scaling, bands=[info.pan_band]),
              RasterInput.from_scene(ms, ms_scaling)]
    report = _run_engine(network, inputs, request, info, multiple_of, region, engine_callbacks)
    return PansharpenResult.from_report(report, model_name, notes, method=method)


@dataclass
class _PreparedModel:
    """The chosen package ready to run, and the part of the scene sample METHOD=auto judges it
    on (the held-back part after adaptation)."""

    engine_model: object
    card: ModelCard
    notes: list[str]
    multiple_of: int
    check_sample: tuple


def _prepare_model(request, info, sample, callbacks) -> _PreparedModel | None:
    """The chosen package, checked to fit the pair; adapted to the scene with torch if asked,
    else run on the inference backend. None when METHOD is auto with the default model and no
    bundled model fits the pair (MTF-GLP is used)."""
    try:
        path, card = load_fitting_model(model_needs(info), request.model, request.user_model_folder)
    except InputError as error:
        if request.method != "auto" or request.model != "default":
            raise
        callbacks.log(f"{error} METHOD auto uses MTF-GLP.")
        return None
    for warning in (band_order_warning(card.input_bands.get("ms", []), info.ms_descriptions),
                    gsd_warning(card, info.pan_metres, Path(request.pan_path).name)):
        if warning:
            callbacks.log(warning)
    weights = path.with_suffix(".safetensors")
    if request.adapt_iterations <= 0:
        model = open_for_inference(path, request.device, log=callbacks.log)
        callbacks.log(f"Model: {card.name} ({card.architecture}) from {path} on {model.describe()}")
        return _PreparedModel(model.tile_model(), card, list(model.notes), model.multiple_of, sample)
    require_torch("Scene adaptation (ADAPT_ITERATIONS)")
    from ..training.scene_adaptation import adapt_to_scene, split_held_back
    from ..runtime.torch_models import PanFirst, TorchTileModel

    if not weights.is_file():
        raise InputError(f"Scene adaptation trains the model's weights, but {path.name} ships "
                         f"without them ({weights.name}); set ADAPT_ITERATIONS to 0.")
    _, network = load_model(weights, device="cpu")
    callbacks.log(f"Model: {card.name} ({card.architecture}) from {weights}")
    ms, pan, valid = sample
    callbacks.log(f"Adapting the model to this scene: at most {request.adapt_iterations} "
                  f"iterations at reduced resolution, stopped early on a held-back part.")
    network = adapt_to_scene(network, ms, pan, info.ratio, request.adapt_iterations,
                             sensor=request.sensor, progress=callbacks.part(0.0, 0.3).progress,
                             is_cancelled=callbacks.is_cancelled, device=request.device,
                             time_limit=ADAPT_TIME_LIMIT, log=callbacks.log)
    _, (held_ms, held_pan) = split_held_back(ms, pan, info.ratio, network.config.multiple_of)
    held = (held_ms, held_pan, valid[:, valid.shape[1] - held_ms.shape[2]:])
    notes = [f"adapted to the scene (at most {request.adapt_iterations} iterations)"]
    return _PreparedModel(TorchTileModel(PanFirst(network)), card, notes,
                          network.config.multiple_of, held)


def _choose_method(prepared: _PreparedModel, info: PairInfo, request: PansharpenRequest,
                   callbacks) -> str:
    """METHOD=auto: "model" or "mtf_glp", whichever sharpens the scene's own sample better at
    reduced resolution (logged, and noted in the result). The model runs on the backend that
    will write the scene (ONNX Runtime or torch), MTF-GLP on numpy."""
    from .pansharpen_choice import engine_fuse, scene_choice

    prepared.engine_model.prepare(request.device, "fp32")
    choice = scene_choice(engine_fuse(prepared.engine_model), prepared.check_sample,
                          prepared.card.sha256, info.ratio, request.sensor, prepared.multiple_of)
    callbacks.log(choice.sentence(prepared.card.name))
    prepared.notes.append(f"auto: {choice.method} (reduced-resolution ERGAS model "
                          f"{choice.model_ergas:.3f}, MTF-GLP {choice.mtf_glp_ergas:.3f})")
    return choice.method


def _mtf_glp_model(sample, info: PairInfo, sensor: str):
    """MTF-GLP with the scene sample's injection gains, as an engine model: on torch when it is
    installed (5x faster), else in numpy."""
    from ..classical.mtf_glp_numpy import NumpyMtfGlp, lowpass_gain, mtf_glp_gains, pan_taps

    ms, pan, valid = sample
    gains = mtf_glp_gains(ms, pan, info.ratio, sensor, valid)
    if not torch_installed():
        return NumpyMtfGlp(gains, info.ratio, pan_taps(info.ratio, sensor, info.ms_bands))
    from ..classical.pansharpen import MtfGlpModule
    from ..runtime.torch_models import PanFirst, TorchTileModel

    return TorchTileModel(PanFirst(MtfGlpModule(gains, info.ratio, lowpass_gain(sensor, info.ms_bands))))


def _run_engine(module, inputs: list[RasterInput], request, info, multiple_of, region,
                callbacks) -> RunReport:
    """Run `module` over the (PAN, MS) `inputs`."""
    output = OutputSpec(request.output_path, band_count=info.ms_bands, dtype=info.ms_dtype,
                        nodata=output_nodata(info.ms_dtype, info.ms_nodata), band_descriptions=info.ms_descriptions,
                        kind="continuous", scaling=inputs[1].scaling,
                        mask=info.ms_masked and info.ms_nodata is None)
    # the lite student is convolutional: smaller tiles only move tile borders, which the
    # overlap covers (held-out SpaceNet pair 3: 0.02 % RMS change); PSDNet's channel attention
    # pools over its tile, so its output moves by 0.8 % RMS there, as with any other tile size
    options = TilingOptions(tile_size=request.tile_size, overlap=request.overlap,
                            batch_size=request.batch_size, multiple_of=max(1, multiple_of),
                            shrink_to_fit=True)
    report = run_tiled(module, inputs, output, options, device=request.device,
                       progress=callbacks.progress, is_cancelled=callbacks.is_cancelled,
                       region=region)
    callbacks.log(f"Sharpened {report.tiles} tile(s) of {report.tile_size} px on "
                  f"{report.device_description} in {report.seconds:.1f} s "
                  f"({report.megapixels_per_second:.2f} Mpx/s).")
    return report


def _run_brovey(request: PansharpenRequest, info: PairInfo, callbacks: Callbacks) -> PansharpenResult:
    import time

    started = time.perf_counter()
    from ..classical.pansharpen import brovey_gdal

    brovey_gdal(request.ms_path, request.pan_path, request.output_path, pan_band=info.pan_band,
                progress=callbacks.progress, cancel=callbacks.is_cancelled)
    seconds = time.perf_counter() - started
    megapixels = info.pan_shape[0] * info.pan_shape[1] / 1e6
    callbacks.log(f"GDAL Brovey finished in {seconds:.1f} s.")
    return PansharpenResult(output_path=Path(request.output_path), method="brovey", model_name=None,
                            device="CPU (GDAL)", seconds=seconds,
                            megapixels_per_second=megapixels / max(seconds, 1e-9))
