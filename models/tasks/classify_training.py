"""Training a scene classifier on the user's labelled chips, written as a model package.

Chips come from a folder with one sub-folder per class, or are cut from a raster around the
labelled points / inside the labelled polygons of a vector layer. Architectures:
"efficientnet_lite0" (the bundled classifier's), "teacher" (ResNet-50 class), "resnet18" and
"mobilenetv2" (students). Methods: "class_centric" (distils a TEACHER package's class centres
and soft predictions), "class_aware" (self-distillation, no teacher) and "plain" (cross-entropy
only). An EfficientNet-Lite net starts by default from the bundled classifier's encoder (its
first blocks kept fixed), which learns new classes from a few dozen chips each; `start_from`
names another package to start from, or "" trains from scratch.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..data.chip_files import chips_from_vector, load_chip_folder
from ..data.chips import ChipSet
from ..training.train_classifier import ClassifierTrainConfig, ClassifierTrainResult, train_classifier
from ..errors import InputError
from ..nets.classifiers import ARCHITECTURES
from ..nets.efficientnet_classifier import encoder_state
from ..output_files import MODEL_SUFFIXES, check_output_file
from ..package import ModelCard, load_model
from ..registry import resolve_model
from .callbacks import Callbacks
from .model_fit import check_fits
from .requests import TrainingRequest
from .classify import TASK, model_needs
from .trained_models import load_teacher, trained_card, write_trained_model
from .training_checks import check_several_classes

BUNDLED_CLASSIFIER = "classification_aid_efficientnet_lite0"

#: chip side cut around vector labels when CHIP_SIZE is 0
DEFAULT_VECTOR_CHIP_SIZE = 64
EFFICIENTNET_VARIANTS = {"efficientnet_lite0": "lite0"}
"""Training ARCHITECTURE names of EfficientNet-Lite classifiers and their variants."""
FINE_TUNE_FROZEN = "stride8"
"""Blocks kept fixed when fine-tuning from a package: the generic low-level filters."""
FINE_TUNE_LEARNING_RATE = 1e-3


@dataclass
class ClassifierTrainingRequest(TrainingRequest):
    """Chips to learn from and how to train (plain values: no QGIS objects)."""

    output_model: str
    chips_folder: str | None = None
    raster_path: str | None = None
    labels_path: str | None = None
    class_field: str | None = None
    architecture: str = "efficientnet_lite0"
    method: str = "plain"
    epochs: int = 30
    chip_size: int = 0
    """Source chip side in pixels: cut size for vector labels (0 = 64); for a folder 0 keeps
    the chips' own (most common) size."""
    input_size: int = 0
    """Side the chips are resized to for the net; 0 = the chip size."""
    net_options: dict = field(default_factory=dict)
    """Extra config fields of the net (e.g. {"width": 32} for a narrower ResNet)."""
    batch_size: int = 32
    validation_fraction: float = 0.15
    patience: int = 10
    """Stop after this many epochs without a better validation loss."""
    minutes: float | None = None
    start_from: str | None = "default"
    """EfficientNet-Lite architectures: the classification package whose encoder training starts
    from ("default" = the bundled classifier; None or "" = from scratch)."""


def load_training_chips(request: ClassifierTrainingRequest,
                        callbacks: Callbacks) -> tuple[ChipSet, str]:
    """The labelled chips the request names (a chips folder, or a raster and vector labels),
    and the name of their source for the model card."""
    if request.chips_folder:
        chips = load_chip_folder(request.chips_folder, request.input_size or request.chip_size,
                                 log=callbacks.log)
        source = Path(request.chips_folder).name
    elif request.raster_path and request.labels_path and request.class_field:
        chip_size = request.chip_size or DEFAULT_VECTOR_CHIP_SIZE
        chips = chips_from_vector(request.raster_path, request.labels_path, request.class_field,
                                  chip_size, request.input_size)
        source = f"{Path(request.raster_path).name} + {Path(request.labels_path).name}"
    else:
        raise InputError("Give the training chips: a CHIPS_FOLDER with one sub-folder per class, "
                         "or an INPUT raster with LABELS (points or polygons) and their CLASS_FIELD.")
    check_several_classes(sorted({chips.classes[i]["name"] for i in chips.labels.tolist()}),
                          f"The training chips of {source}")
    callbacks.log(f"{len(chips)} chips of {len(chips.classes)} classes from {source}.")
    return chips, source


def _teacher(request: ClassifierTrainingRequest, bands: int):
    if request.method != "class_centric":
        if request.teacher:
            raise InputError(f"A TEACHER is only used by METHOD class_centric; leave it empty for "
                             f"METHOD {request.method}.")
        return None, None
    if not request.teacher:
        raise InputError("METHOD class_centric distils a teacher: give a TEACHER model package "
                         "(train one with ARCHITECTURE teacher first), or choose METHOD plain.")
    card, teacher = load_teacher(request, TASK)
    check_fits(card, model_needs(bands))
    return teacher, card.name


def _starting_point(request: ClassifierTrainingRequest) -> tuple[ModelCard | None, dict | None]:
    """The card and encoder weights training starts from (None, None: from scratch)."""
    variant = EFFICIENTNET_VARIANTS.get(request.architecture)
    if variant is None or not request.start_from:
        return None, None
    if request.start_from.strip().lower() == "default":
        path = resolve_model(BUNDLED_CLASSIFIER, request.user_model_folder, task=TASK)
    else:
        path = resolve_model(request.start_from, request.user_model_folder, task=TASK)
    card, model = load_model(path)
    if card.config.get("variant") != variant:
        raise InputError(f"Model '{card.name}' is not an EfficientNet-{variant.capitalize()} "
                         f"classifier, so ARCHITECTURE {request.architecture} cannot start from it: "
                         "choose another package to start from, or none to train from scratch.")
    return card, encoder_state(model)


def train_scene_classifier(request: ClassifierTrainingRequest,
                           callbacks: Callbacks | None = None) -> ModelCard:
    """Train as `request` says and write the model package; return its card."""
    callbacks = callbacks or Callbacks()
    check_output_file(request.output_model, MODEL_SUFFIXES, "model")
    known = (*EFFICIENTNET_VARIANTS, *ARCHITECTURES)
    if request.architecture not in known:
        raise InputError(f"Unknown ARCHITECTURE '{request.architecture}': use one of "
                         f"{', '.join(known)}.")
    start_card, backbone = _starting_point(request)
    config = ClassifierTrainConfig(method=request.method, epochs=request.epochs,
                                   batch_size=request.batch_size, device=request.device,
                                   validation_fraction=request.validation_fraction,
                                   seed=request.seed, minutes=request.minutes,
                                   patience=request.patience)
    if backbone is not None:
        config = replace(config, frozen_until=FINE_TUNE_FROZEN,
                         learning_rate=FINE_TUNE_LEARNING_RATE)
        callbacks.log(f"Starting from the encoder of '{start_card.name}'.")
    if start_card is not None and not (request.input_size or request.chip_size):
        request = replace(request, input_size=int(start_card.config["input_size"]))
    chips, source = load_training_chips(request, callbacks.part(0.0, 0.05))
    teacher, teacher_name = _teacher(request, chips.bands)
    net_options = {"input_size": chips.images.shape[-1], **request.net_options}
    if request.architecture in EFFICIENTNET_VARIANTS:
        architecture = "efficientnet_lite_classifier"
        net_options["variant"] = EFFICIENTNET_VARIANTS[request.architecture]
    else:
        architecture = ARCHITECTURES[request.architecture]
    result = train_classifier(chips, architecture, net_options, config,
                              teacher, teacher_name, callbacks.part(0.05, 1.0).progress,
                              callbacks.is_cancelled, callbacks.log, backbone=backbone)
    return write_trained_model(request, result, card_for(result, chips, source, request),
                               callbacks.log, lambda metrics: (
                                   f"validation overall accuracy "
                                   f"{metrics['validation_overall_accuracy']:.3f}, kappa "
                                   f"{metrics['validation_kappa']:.3f}"))


def card_for(result: ClassifierTrainResult, chips: ChipSet, source: str,
             request: ClassifierTrainingRequest) -> ModelCard:
    """The model card of a freshly trained scene classifier."""
    metrics = {f"validation_{k}": float(v) for k, v in result.metrics.items()}
    metrics["training_seconds"] = round(result.seconds, 1)
    return trained_card(
        result, request, TASK, input_bands={"image": chips.band_names},
        scaling={"image": result.scaling.to_dict()}, gsd=chips.gsd, classes=result.classes,
        tile_size=chips.chip_size, overlap=0, teacher=result.distilled_from or "",
        training_data=source, metrics=metrics, description=request.description or
        f"{request.architecture} scene classifier ({request.method}) for "
        f"{len(result.classes)} classes, chips of {chips.chip_size} pixels resized to "
        f"{result.config['input_size']}.")
