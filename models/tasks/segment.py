"""Land-cover segmentation of a scene with a packaged GINet: checks, model choice, the global
view, the tiled run, and the optional probabilities raster and polygons.

Class values: the class raster holds each class's id from the model card (the value the
classes had in the training labels, 0-254), not the model's output index, so the result can be
compared with the user's own reference directly; 255 is nodata. The class raster carries its
legend (colour table, category names, attribute table, `.qml` style; one distinct colour per
class) and the class table (id, name, colour) in its metadata (tag `GEODISTILL_CLASSES`), which
the evaluation and the styling read. The probabilities raster has one float band per class, in
card order, named after the classes. With `min_confidence`, pixels whose top class probability
is below it get the extra class "uncertain" (the next free id, grey) instead of a class the
model is unsure of. When the polygons fail, no class raster is left.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..data.polygons import PolygonSummary, check_output_path, polygonize_classes
from ..errors import InputError
from ..inference.area import raster_part
from ..inference.engine import OutputSpec, RasterInput, run_tiled
from ..inference.raster_io import check_raster_outputs, open_raster
from ..inference.raster_style import as_card_classes, class_entries, uncertain_class
from ..inference.scaling import BandScaling
from ..inference.scene import Scene, open_scene
from ..inference.tiling import TilingOptions
from ..output_files import check_output_folder
from ..package import ModelCard
from ..runtime.loader import open_for_inference
from .callbacks import Callbacks
from .model_fit import FitReasons, ModelNeeds, choose_fitting_package, gsd_warning, load_fitting_model
from .partial_outputs import removed_on_failure
from .requests import RunResult, TiledRequest

TASK = "segmentation"
NODATA = 255
CLASSES_TAG = "GEODISTILL_CLASSES"


@dataclass
class SegmentRequest(TiledRequest):
    """What to segment, with which model, and where the outputs go. With an `area`, the global
    view and the scaling still come from the whole raster, so the part matches a whole run."""

    input_path: str
    output_path: str
    overlap: int = field(default=64, kw_only=True)
    probabilities_path: str | None = None
    polygons_path: str | None = None
    min_area: float = 0.0
    min_confidence: float = 0.0
    """Pixels whose top class probability is below this (0-1) are written as "uncertain"."""


@dataclass(kw_only=True)
class SegmentResult(RunResult):
    """Where the outputs went, the classes they hold, and how the run went."""

    classes: list[dict]
    probabilities_path: Path | None = None
    polygons: PolygonSummary | None = None


def check_classes(classes: list[dict], source: str) -> None:
    """Raise InputError unless the class ids fit a byte raster with 255 as nodata."""
    if not classes:
        raise InputError(f"{source} lists no classes; it is not a segmentation model.")
    bad = [c["id"] for c in classes if not 0 <= int(c["id"]) < NODATA]
    if bad:
        raise InputError(f"{source}: class values {', '.join(map(str, bad))} do not fit the class "
                         f"raster; class values must be whole numbers 0-{NODATA - 1} "
                         f"({NODATA} marks nodata). Relabel with values in that range.")


FIT_REASONS = FitReasons(
    wrong_task="Model '{name}' is a {task} model; choose a segmentation model.",
    wrong_bands="Model '{name}' reads {model_bands}-band images but this raster has {bands} "
                "band(s). Choose a model made for {bands} bands, or train one with 'Train a "
                "segmentation model'.",
    none_bundled="No bundled segmentation model reads {bands}-band images. Train one with 'Train "
                 "a segmentation model' and give it as MODEL.")


def model_needs(bands: int) -> ModelNeeds:
    """What a raster of `bands` bands needs of a segmentation model."""
    return ModelNeeds(TASK, bands, FIT_REASONS)


def choose_model(bands: int, model: str, user_folder: str | None) -> Path:
    """The package to use: the named one, or for "default" the bundled one fitting the bands."""
    return choose_fitting_package(model_needs(bands), model, user_folder)


def model_scaling(card: ModelCard, scene: Scene) -> BandScaling:
    """The card's input statistics, or (as in training) percentiles of this scene."""
    if card.scaling and "image" in card.scaling:
        return BandScaling(low=list(card.scaling["image"]["low"]), high=list(card.scaling["image"]["high"]))
    return scene.scaling()


def read_class_table(path: str | Path) -> list[dict] | None:
    """The classes written into a class raster by `segment`, or None for other rasters."""
    with open_raster(path) as dataset:
        text = dataset.tags().get(CLASSES_TAG)
    return json.loads(text) if text else None


def segment(request: SegmentRequest, callbacks: Callbacks | None = None) -> SegmentResult:
    """Segment the raster as `request` says; write the class raster (and the optional outputs)."""
    callbacks = callbacks or Callbacks()
    with open_scene(request.input_path, area=request.area) as scene:
        if request.min_area < 0:
            raise InputError(f"MIN_AREA must be 0 or more, got {request.min_area}.")
        if not 0 <= request.min_confidence < 1:
            raise InputError(f"MIN_CONFIDENCE must be at least 0 and below 1 (0 = off), got "
                             f"{request.min_confidence}.")
        check_raster_outputs([request.input_path], [request.output_path, request.probabilities_path])
        if request.bands is not None:
            with raster_part(request.input_path, bands=request.bands, log=callbacks.log) as part:
                return segment(replace(request, input_path=part, bands=None), callbacks)
        if request.polygons_path:
            check_output_path(request.polygons_path)
            check_output_folder(request.polygons_path, "polygon output")
        return _segment_scene(scene, request, callbacks)


def _segment_scene(scene: Scene, request: SegmentRequest, callbacks: Callbacks) -> SegmentResult:
    path, card = load_fitting_model(model_needs(len(scene.bands)), request.model,
                                    request.user_model_folder)
    check_classes(card.classes, path.name)
    model = open_for_inference(path, request.device, log=callbacks.log)
    callbacks.log(f"Model: {card.name} ({card.architecture}, {len(card.classes)} classes) from "
                  f"{path} on {model.describe()}")
    for note in scene.notes + [gsd_warning(card, scene.pixel_metres, scene.name)]:
        if note:
            callbacks.log(note)
    scaling = model_scaling(card, scene)
    # an area runs with the statistics and the global view of the whole raster, as in a whole run
    region = scene.region(callbacks.log)
    view = scene.global_view(scaling, model.config_value("global_size"))
    tile_model = model.ginet_tile_model(view, scene.shape, (int(region.row_off), int(region.col_off))
                                        if region else (0, 0))
    if request.min_confidence > 0 and len(card.classes) >= NODATA:
        raise InputError("The model uses every class value, so no pixel can be marked uncertain; "
                         "set MIN_CONFIDENCE to 0.")
    entries = class_entries(card.classes + ([uncertain_class(card.classes, NODATA)]
                                            if request.min_confidence > 0 else []))
    classes = as_card_classes(entries)
    spec = OutputSpec(request.output_path, band_count=len(card.classes), kind="classes",
                      nodata=NODATA, band_descriptions=["class"],
                      probabilities_path=request.probabilities_path, classes=entries,
                      tags={CLASSES_TAG: json.dumps(classes)}, min_confidence=request.min_confidence)
    options = TilingOptions(tile_size=request.tile_size, overlap=request.overlap,
                            batch_size=request.batch_size, multiple_of=model.multiple_of)
    polygons_share = 0.85 if request.polygons_path else 1.0
    report = run_tiled(tile_model, [RasterInput.from_scene(scene, scaling)], spec,
                       options, device=request.device,
                       progress=callbacks.part(0.0, polygons_share - 0.05).progress,
                       is_cancelled=callbacks.is_cancelled, region=region)
    callbacks.log(f"Segmented on {report.device_description} in {report.seconds:.1f} s "
                  f"({report.megapixels_per_second:.2f} Mpx/s).")
    output = Path(request.output_path)
    polygons = None
    if request.polygons_path:
        with removed_on_failure(output, request.probabilities_path, request.polygons_path):
            callbacks.raise_if_cancelled()
            polygons = polygonize_classes(output, request.polygons_path, classes, request.min_area,
                                          progress=callbacks.part(polygons_share, 1.0).progress)
        callbacks.log(f"{polygons.features} polygon(s) written, {polygons.dropped} smaller than "
                      f"MIN_AREA dropped.")
    callbacks.progress(1.0)
    return SegmentResult.from_report(report, card.name, [], classes=classes,
                                     probabilities_path=report.probabilities_path,
                                     polygons=polygons)
