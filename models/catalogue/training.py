"""The tasks that train a model or score one: train_* and evaluate_* of each task."""
from __future__ import annotations

from .choices import (CLASSIFIER_ARCHITECTURES, CLASSIFIER_METHODS, DEHAZE_ARCHITECTURES,
                      PANSHARPEN_ARCHITECTURES, SEGMENTATION_ARCHITECTURES)
from .inference import adapt_iterations_parameter, input_raster, sensor_parameter
from .parameters import (Kind, Parameter, Task, device_parameter, model_parameter,
                         output_model_parameter, report_outputs, runs, training_parameters)


def rasters(name: str, label: str, optional: bool = False, field: str | None = None) -> Parameter:
    """Several raster layers."""
    return Parameter(name, Kind.RASTERS, label, optional=optional, field=field)


def patch_size_parameter(label: str, minimum: int) -> Parameter:
    """PATCH_SIZE: the side of the training patches."""
    return Parameter("PATCH_SIZE", Kind.INT, label, default=64, minimum=minimum, maximum=1024,
                     field="patch_size")


def hazy_clear_parameters() -> tuple[Parameter, ...]:
    """CLEAR_IMAGES, CLEAR_FOLDER, HAZY_LAYERS and CLEAR_LAYERS, all optional (the pairs are
    matched by the algorithm)."""
    return (
        rasters("CLEAR_IMAGES", "Clear images (synthetic haze is added)", optional=True,
                field="clear_paths"),
        Parameter("CLEAR_FOLDER", Kind.FOLDER, "Clear images folder", optional=True,
                  field="clear_folder"),
        rasters("HAZY_LAYERS", "Hazy layers of real pairs", optional=True),
        rasters("CLEAR_LAYERS", "Clear layers of real pairs (same order)", optional=True))


def label_parameters() -> tuple[Parameter, Parameter]:
    """CLASS_FIELD and IGNORE_VALUE of a labels layer (polygons or a label raster)."""
    return (Parameter("CLASS_FIELD", Kind.TEXT, "Class field (polygon labels)", optional=True,
                      field="class_field"),
            Parameter("IGNORE_VALUE", Kind.FLOAT, "Ignore value (label raster)", optional=True,
                      field="ignore_value"))


def chip_source_parameters(chip_size_label: str) -> tuple[Parameter, ...]:
    """CHIPS_FOLDER, or INPUT + LABELS + CLASS_FIELD, and CHIP_SIZE (read by the algorithm:
    the raster and labels count only without a folder)."""
    return (
        Parameter("CHIPS_FOLDER", Kind.FOLDER, "Chips folder (one sub-folder per class)",
                  optional=True),
        Parameter("INPUT", Kind.RASTER, "Input raster (with labels, instead of a chips folder)",
                  optional=True),
        Parameter("LABELS", Kind.FEATURES, "Labels (points or polygons)",
                  geometry=("point", "polygon"), optional=True),
        Parameter("CLASS_FIELD", Kind.FIELD, "Class field", parent="LABELS", optional=True),
        Parameter("CHIP_SIZE", Kind.INT, chip_size_label, default=0, minimum=0, maximum=4096))


TRAIN_PANSHARPEN = Task("train_pansharpen", "Train a pansharpening model", "Pansharpening", (
    rasters("MS_LAYERS", "MS layers"),
    rasters("PAN_LAYERS", "PAN layers (same order as the MS layers)"),
    sensor_parameter(),
    *training_parameters(PANSHARPEN_ARCHITECTURES, "lite",
                         "Teacher model to distil from (PSDNet package)", epochs=30),
    patch_size_parameter("Patch size (pixels)", minimum=16),
    device_parameter(),
    output_model_parameter(),
), pairs=("MS_LAYERS", "PAN_LAYERS"),
    **runs("pansharpen_training", "PansharpenTrainingRequest", "train_pansharpening_model"))

EVALUATE_PANSHARPEN = Task("evaluate_pansharpen", "Evaluate pansharpening", "Pansharpening", (
    input_raster("MS", "Multispectral (MS) raster", "ms_path"),
    input_raster("PAN", "Panchromatic (PAN) raster", "pan_path"),
    model_parameter("pansharpening", field="models"),
    adapt_iterations_parameter(),
    sensor_parameter(),
    device_parameter(),
    *report_outputs(),
), **runs("pansharpen_evaluation", "PansharpenEvaluationRequest", "evaluate_pansharpening"))

TRAIN_DEHAZE = Task("train_dehaze", "Train a dehazing model", "Dehazing", (
    *hazy_clear_parameters(),
    *training_parameters(DEHAZE_ARCHITECTURES, "lite",
                         "Teacher model to distil from (ktdn package)", epochs=30),
    patch_size_parameter("Patch size (pixels, multiple of 32)", minimum=32),
    Parameter("SAMPLES", Kind.INT, "Training patches", default=512, minimum=2, maximum=1000000,
              field="samples"),
    device_parameter(),
    output_model_parameter(),
), pairs=("HAZY_LAYERS", "CLEAR_LAYERS"),
    **runs("dehaze_training", "DehazeTrainingRequest", "train_dehazing_model"))

EVALUATE_DEHAZE = Task("evaluate_dehaze", "Evaluate dehazing", "Dehazing", (
    *hazy_clear_parameters(),
    model_parameter("dehazing", field="models"),
    device_parameter(),
    *report_outputs(),
), pairs=("HAZY_LAYERS", "CLEAR_LAYERS"),
    **runs("dehaze_evaluation", "DehazeEvaluationRequest", "evaluate_dehazing"))

TRAIN_SEGMENTATION = Task("train_segmentation", "Train a segmentation model", "Segmentation", (
    rasters("INPUT", "Input rasters", field="rasters"),
    Parameter("LABELS", Kind.LAYER, "Labels (polygons or label raster)"),
    *label_parameters(),
    *training_parameters(SEGMENTATION_ARCHITECTURES, "bundled",
                         "Teacher model to distil from (GINet package)", epochs=40),
    Parameter("TILE_SIZE", Kind.INT, "Tile size (training patch, pixels)", default=256,
              minimum=32, maximum=2048, field="tile_size"),
    device_parameter(),
    output_model_parameter(),
), **runs("segment_training", "SegmentationTrainingRequest", "train_segmentation_model"))

EVALUATE_SEGMENTATION = Task("evaluate_segmentation", "Evaluate segmentation", "Segmentation", (
    input_raster("PREDICTION", "Prediction (class raster)", "prediction_path"),
    Parameter("REFERENCE", Kind.LAYER, "Reference (label raster or polygons)"),
    *label_parameters(),
    *report_outputs(),
), **runs("segment_evaluation", "SegmentationEvaluationRequest", "evaluate_segmentation"))

TRAIN_SCENE_CLASSIFIER = Task(
    "train_scene_classifier", "Train a scene classifier", "Scene classification", (
        *chip_source_parameters("Chip size (pixels, 0 = automatic)"),
        *training_parameters(CLASSIFIER_ARCHITECTURES, "efficientnet_lite0",
                             "Teacher model (for class_centric)", epochs=30),
        Parameter("START_FROM", Kind.TEXT, "Start from (efficientnet_lite0; empty = from scratch)",
                  default="default", optional=True, field="start_from"),
        Parameter("METHOD", Kind.ENUM, "Method", choices=CLASSIFIER_METHODS, default="plain",
                  field="method"),
        device_parameter(),
        output_model_parameter(),
    ), **runs("classify_training", "ClassifierTrainingRequest", "train_scene_classifier"))

EVALUATE_SCENE_CLASSIFIER = Task(
    "evaluate_scene_classifier", "Evaluate a scene classifier", "Scene classification", (
        *chip_source_parameters("Chip size (pixels, 0 = from the model)"),
        model_parameter("classification", field="models"),
        device_parameter(),
        *report_outputs(),
    ), **runs("classify_evaluation", "ClassifierEvaluationRequest", "evaluate_classifier"))
