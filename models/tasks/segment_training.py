"""Training a land-cover segmentation model on the user's rasters and labels, as a package.

Labels are polygons with a class field (rasterized on each raster's grid, reprojected when the
layer has another CRS) or a label raster (warped with nearest neighbour when it lies on another
grid). Validation is a spatial hold-out: the bottom rows of every raster holding about
`validation_fraction` of its labelled pixels are kept out of training, and the model is scored
on patches of that block only (random overlapping patches of the training area would score far
too well). Architectures: "bundled" (the default: fine-tune the bundled land-cover model for
the rasters' bands, its class heads started anew when the classes differ), "efficientnet"
(GINet on ImageNet EfficientNet-Lite0 encoders), "lite" (the small ResNet student, from
scratch; distilled from a GINet package given as `teacher`, or trained alone) and "ginet" (the
paper-sized net, e.g. to serve as a teacher).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio

from ..catalogue import SEGMENTATION_ARCHITECTURES
from ..crs_units import pixel_size_metres
from ..data.labels import (IGNORE_INDEX, LabelledScene, align_label_raster, make_classes,
                           rasterize_polygons)
from ..data.patches import SegmentationSamples, sample_patches
from ..training.ginet_setup import HEADS
from ..training.train_segmentation import SegmentationTrainResult, TrainConfig, train_segmentation
from ..errors import InputError
from ..inference.memory import FLOAT_BYTES, check_memory
from ..inference.raster_io import band_list, band_names, open_raster
from ..nets.ginet import GINetConfig, GINetEfficientConfig, GINetLiteConfig
from ..package import ModelCard, load_model, training_sources
from .callbacks import Callbacks
from .requests import TrainingRequest
from .trained_models import load_teacher, trained_card, write_trained_model
from .training_checks import check_patch_multiple, check_several_classes, check_training_request
from .segment import TASK, check_classes, choose_model

CONFIGS = {"ginet": GINetConfig, "lite": GINetLiteConfig, "efficientnet": GINetEfficientConfig}


@dataclass
class SegmentationTrainingRequest(TrainingRequest):
    """Rasters and labels to learn from, and how to train (plain values: no QGIS objects).

    `net_overrides` changes fields of the architecture's config (e.g. smaller `widths`).
    """

    rasters: list[str]
    labels: str
    output_model: str
    class_field: str | None = None
    ignore_value: float | None = None
    architecture: str = "bundled"
    epochs: int = 40
    tile_size: int = 256
    samples_per_raster: int = 200
    global_size: int = 256
    batch_size: int = 8
    use_global_view: bool = True
    validation_fraction: float = 0.15
    net_overrides: dict = field(default_factory=dict)


@dataclass
class SegmentationData:
    """Training and held-out patches, and what the card records about them."""

    train: SegmentationSamples
    validation: SegmentationSamples
    classes: list[dict]
    band_names: list[str]
    gsd: float | None
    names: list[str]


def is_raster_file(path: str) -> bool:
    """True when GDAL opens `path` as a raster (else it is taken to be a vector layer)."""
    try:
        with rasterio.open(path) as dataset:
            return dataset.count > 0
    except rasterio.errors.RasterioIOError:
        return False


def reindex(scene: LabelledScene, classes: list[dict]) -> LabelledScene:
    """`scene` relabelled with `classes` (matched by id).

    A class of the scene that `classes` lacks is an error: the labels have more classes than
    the model.
    """
    target = {int(c["id"]): index for index, c in enumerate(classes)}
    unknown = [c for c in scene.classes if int(c["id"]) not in target]
    if unknown:
        known = ", ".join(str(c["id"]) for c in classes)
        raise InputError(f"the labels of {scene.raster_path.name} have class value(s) "
                         f"{', '.join(str(c['id']) for c in unknown)} that the model's "
                         f"{len(classes)} classes ({known}) lack: the labels have more classes "
                         "than the model has. Merge or relabel them, or train without a teacher.")
    lookup = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for index, item in enumerate(scene.classes):
        lookup[index] = target.get(int(item["id"]), IGNORE_INDEX)
    return replace(scene, labels=lookup[scene.labels], classes=classes)


def load_scenes(request: SegmentationTrainingRequest, classes: list[dict] | None) -> list[LabelledScene]:
    """Every raster's labels on its grid, all with one class list (`classes` when given, else
    the union of the classes found). IGNORE_VALUE marks unlabelled pixels of a label raster;
    in a vector layer, what no polygon covers is unlabelled."""
    if not request.rasters:
        raise InputError("Give at least one raster to train on.")
    if is_raster_file(request.labels):
        scenes = [align_label_raster(request.labels, raster, request.ignore_value)
                  for raster in request.rasters]
    else:
        if not request.class_field:
            raise InputError(f"The labels {Path(request.labels).name} are a vector layer: choose "
                             "its CLASS_FIELD (the attribute holding each polygon's class).")
        scenes = [rasterize_polygons(request.labels, raster, request.class_field, classes=classes)
                  for raster in request.rasters]
    if classes is None:
        named = {int(c["id"]): c for s in scenes for c in s.classes}
        ids = sorted(named)
        classes = make_classes(ids, [named[i]["name"] for i in ids])
    return [reindex(scene, classes) for scene in scenes]


def hold_out_block(scene: LabelledScene, fraction: float) -> tuple[LabelledScene, LabelledScene]:
    """(training, validation) labels of a scene: the bottom rows holding about `fraction` of
    its labelled pixels are the validation block, unlabelled in the training scene."""
    per_row = (scene.labels != IGNORE_INDEX).sum(axis=1)
    below = np.cumsum(per_row[::-1])[::-1]  # labelled pixels in rows >= r
    total = int(below[0])
    candidates = np.flatnonzero((below <= fraction * total) & (below > 0))
    if total == 0 or candidates.size == 0 or below[candidates[0]] == total:
        raise InputError(f"The labels of {scene.raster_path.name} are too few or too concentrated "
                         "to hold a validation block out of training; label a larger area.")
    row = int(candidates[0])
    train, validation = scene.labels.copy(), scene.labels.copy()
    train[row:] = IGNORE_INDEX
    validation[:row] = IGNORE_INDEX
    return replace(scene, labels=train), replace(scene, labels=validation)


def load_training_data(request: SegmentationTrainingRequest, classes: list[dict] | None,
                       patch_multiple: int) -> SegmentationData:
    """Labels of every raster, split spatially, cut into training and validation patches."""
    scenes = load_scenes(request, classes)
    classes = scenes[0].classes
    check_classes(classes, "The labels")
    counts = sum(np.bincount(s.labels.ravel(), minlength=IGNORE_INDEX + 1) for s in scenes)
    check_several_classes([classes[i]["name"] for i in np.flatnonzero(counts[:len(classes)])],
                          "The labels")
    check_patch_multiple(request.tile_size, patch_multiple, "TILE_SIZE")
    size = request.tile_size // patch_multiple * patch_multiple
    if size < patch_multiple:
        raise InputError(f"TILE_SIZE must be at least {patch_multiple} pixels for this model.")
    if request.global_size % patch_multiple:
        raise InputError(f"The global view size must be a multiple of {patch_multiple} pixels.")
    splits = [hold_out_block(scene, request.validation_fraction) for scene in scenes]
    count = request.samples_per_raster * len(scenes)
    with open_raster(request.rasters[0]) as dataset:
        names = band_names(dataset)
        gsd = pixel_size_metres(dataset)
    # float32 bands and uint8 labels of every patch, training and held out, while concatenated
    check_memory(2 * count * (len(names) * FLOAT_BYTES + 1) * size * size,
                 f"Cutting {count} training patches of {size} px", "use a smaller TILE_SIZE")
    train = sample_patches([t for t, _ in splits], size, count, request.global_size, request.seed)
    validation = sample_patches([v for _, v in splits], size,
                                max(4, math.ceil(count * request.validation_fraction)),
                                request.global_size, request.seed + 1, labelled_share=1.0)
    return SegmentationData(train, validation, classes, names, gsd,
                            [Path(p).name for p in request.rasters])


@dataclass
class StartingPoint:
    """The net to train: its config class and base values, and the weights it starts from."""

    config_class: type
    config: dict
    state: dict | None = None
    source: str = ""


def starting_point(request: SegmentationTrainingRequest, bands: int, log) -> StartingPoint:
    """For "bundled", the bundled model fitting `bands` without its class heads (the labels'
    classes are their own); else the architecture from scratch."""
    if request.architecture != "bundled":
        return StartingPoint(CONFIGS[request.architecture], {})
    try:
        path = choose_model(bands, "default", None)
    except InputError as error:
        raise InputError(f"No bundled segmentation model reads {bands}-band images to fine-tune; "
                         "choose the architecture efficientnet, lite or ginet to train one from "
                         "scratch.") from error
    card, net = load_model(path)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith(HEADS)}
    log(f"Fine-tuning the bundled model {card.name}.")
    return StartingPoint(type(net.config), dataclasses.asdict(net.config), state, card.name)


def train_segmentation_model(request: SegmentationTrainingRequest,
                             callbacks: Callbacks | None = None) -> ModelCard:
    """Train as `request` says and write the model package; return its card."""
    callbacks = callbacks or Callbacks()
    check_training_request(request, SEGMENTATION_ARCHITECTURES, "GINet")
    teacher, teacher_card = None, None
    if request.teacher:
        teacher_card, teacher = load_teacher(request, TASK)
        if teacher_card.task != TASK:
            raise InputError(f"The teacher '{teacher_card.name}' is a {teacher_card.task} model; "
                             "give a segmentation model as TEACHER.")
    if not request.rasters:
        raise InputError("Give at least one raster to train on.")
    with open_raster(request.rasters[0]) as dataset:
        raster_bands = len(band_list(dataset, None))
    start = starting_point(request, raster_bands, callbacks.log)
    if start.state is not None:
        request = replace(request, global_size=start.config["global_size"])
    probe = start.config_class(**{**start.config, **request.net_overrides})
    data = load_training_data(request, teacher_card.classes if teacher_card else None,
                              probe.multiple_of)
    bands = data.train.images.shape[1]
    if teacher is not None and teacher.config.bands != bands:
        raise InputError(f"The teacher '{teacher_card.name}' reads {teacher.config.bands} bands but "
                         f"the training rasters have {bands}.")
    net_config = start.config_class(**{**start.config, **request.net_overrides, "bands": bands,
                                       "classes": len(data.classes), "global_size": request.global_size,
                                       "use_global_view": request.use_global_view})
    pretrained = isinstance(net_config, GINetEfficientConfig)
    config = TrainConfig(epochs=request.epochs, batch_size=request.batch_size, device=request.device,
                         seed=request.seed, validation_fraction=request.validation_fraction,
                         encoder_learning_rate=TrainConfig.learning_rate / 10 if pretrained else None,
                         **({} if request.use_global_view else {"global_weight": 0.0, "lad_weight": 0.0}))
    callbacks.log(f"{len(data.train)} training and {len(data.validation)} held-out patches of "
                  f"{data.train.images.shape[2]} px, {len(data.classes)} classes.")
    result = train_segmentation(data.train, config, teacher, callbacks.part(0.05, 1.0).progress,
                                callbacks.is_cancelled, callbacks.log, net_config=net_config,
                                validation=data.validation, initial_state=start.state)
    card = card_for(result, data, request, teacher_card.name if teacher_card else "", start.source)
    return write_trained_model(request, result, card, callbacks.log, lambda metrics: (
        f"held-out mIoU {metrics.get('validation_miou', float('nan')):.3f}"))


def card_metrics(scores: dict, classes: list[dict], prefix: str = "validation_") -> dict:
    """Card metrics from segmentation scores: mIoU, accuracy, kappa and each class's IoU
    (classes absent from the held-out data are left out, as are undefined scores)."""
    metrics = {f"{prefix}{k}": float(scores[k]) for k in ("miou", "overall_accuracy", "kappa")}
    for item, iou in zip(classes, scores["iou_per_class"]):
        metrics[f"{prefix}iou_{item['name']}"] = float(iou)
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def card_for(result: SegmentationTrainResult, data: SegmentationData,
             request: SegmentationTrainingRequest, teacher_name: str, source: str = "") -> ModelCard:
    """The model card of a freshly trained segmentation model (fine-tuned from `source`)."""
    metrics = card_metrics(result.metrics, data.classes)
    metrics["validation_patches"] = float(len(data.validation))
    kind = {"ginet": "GINet", "ginet_efficientnet": "GINet on EfficientNet-Lite"}.get(
        result.architecture, "Lite GINet student") + (f" fine-tuned from {source}" if source else "")
    return trained_card(
        result, request, TASK, input_bands={"image": data.band_names}, scaling=None, gsd=data.gsd,
        classes=data.classes, tile_size=512, overlap=64, teacher=teacher_name,
        training_data=training_sources(data.names), metrics=metrics,
        description=request.description or
        f"{kind} for {len(data.classes)} classes trained on {len(data.names)} raster(s); metrics on "
        f"a held-out block of each raster.")
