"""geodistill:train_scene_classifier and geodistill:evaluate_scene_classifier."""
from __future__ import annotations

from ...models.catalogue import EVALUATE_SCENE_CLASSIFIER, TRAIN_SCENE_CLASSIFIER
from .base import GeoDistillAlgorithm

SOURCE_HELP = (
    "<b>Chips folder</b>: a folder with one sub-folder of image chips per class, named after "
    "the class (jpg, png, tif ...); chips of other sizes are resized, unreadable files are "
    "skipped with a warning.<br><b>Input raster</b>, <b>Labels</b> and <b>Class field</b>: "
    "instead of a folder, a raster and a point or polygon layer whose class field labels it; "
    "chips are cut around the points and inside the polygons.<br>")


class _ChipSourceAlgorithm(GeoDistillAlgorithm):
    """Reads the labelled chips (a folder, or a raster and a vector layer)."""

    CHIPS_FOLDER = "CHIPS_FOLDER"
    INPUT = "INPUT"
    LABELS = "LABELS"
    CLASS_FIELD = "CLASS_FIELD"
    CHIP_SIZE = "CHIP_SIZE"

    def extra_values(self, parameters, context) -> dict:
        """The request fields naming the labelled chips."""
        folder = self.parameterAsFile(parameters, self.CHIPS_FOLDER, context) or None
        source = {"chips_folder": folder, "chip_size": self.parameterAsInt(parameters, self.CHIP_SIZE, context)}
        if folder is None and parameters.get(self.INPUT):
            source["raster_path"] = self.raster_path(parameters, self.INPUT, context)
            source["labels_path"] = self.vector_path(parameters, context)
            source["class_field"] = (self.parameterAsFields(parameters, self.CLASS_FIELD, context) or [None])[0]
        return source

    def vector_path(self, parameters, context) -> str | None:
        """The LABELS layer's file (features saved to a temporary file when it is not one)."""
        if not parameters.get(self.LABELS):
            return None
        return self.parameterAsCompatibleSourceLayerPath(
            parameters, self.LABELS, context, ["gpkg", "shp", "geojson"], "gpkg")


class TrainSceneClassifierAlgorithm(_ChipSourceAlgorithm):
    """Trains (or distils) a scene classifier on labelled chips."""

    task = TRAIN_SCENE_CLASSIFIER
    help_text = (
        "Trains a scene classifier on labelled image chips.<br>" + SOURCE_HELP +
        "<b>Architecture</b>: <i>efficientnet_lite0</i> (the bundled classifier's net, the "
        "default), <i>teacher</i> (ResNet-50 class: accurate, slow), <i>resnet18</i> or "
        "<i>mobilenetv2</i> (fast students, trained from scratch).<br><b>Start from</b> "
        "(efficientnet_lite0 only): 'default' fine-tunes the bundled classifier's encoder (its "
        "first blocks stay fixed), which learns new classes from a few dozen chips each; a "
        "model name or .safetensors package starts from that classifier instead; empty trains "
        "from scratch.<br><b>Method</b>: <i>class_centric</i> distils "
        "a teacher: the student's features of each class are pulled to the teacher's class "
        "centre and its predictions to the teacher's soft ones (needs <b>Teacher</b>); <i>class_aware</i> is self-distillation (no teacher): "
        "each chip is compared with a chip of its class and one of a class the model confuses "
        "it with; <i>plain</i> (the default) is cross-entropy alone: fine-tuning the bundled "
        "classifier on AID it matched class-centric KD and beat class_aware "
        "(docs/benchmarks/classification.md).<br><b>Teacher</b>: a scene classifier "
        "package (trained with ARCHITECTURE teacher).<br><b>Epochs</b>: training length.<br>"
        "<b>Chip size</b>: chip side in pixels (0 = the folder's chip size, or 64 around vector "
        "labels); chips are resized to it.<br><b>Output model</b>: the .safetensors model "
        "package (its card records classes, colours, chip size and the validation accuracy "
        "on the chips held out of training, also shown in the log); use "
        "it as MODEL in 'Classify scenes'.")


class EvaluateSceneClassifierAlgorithm(_ChipSourceAlgorithm):
    """Scores a scene classifier on labelled chips."""

    task = EVALUATE_SCENE_CLASSIFIER
    help_text = (
        "Scores a scene classifier on labelled chips: overall accuracy, kappa, per-class "
        "accuracy and the confusion matrix.<br>" + SOURCE_HELP +
        "<b>Chip size</b>: chip side cut around vector labels (0 = the model's).<br>"
        "<b>Model</b>: 'default' or a model package; the chips' class names must be among its "
        "classes.<br><b>Output report</b>: an HTML page; a JSON file with the same numbers is "
        "written beside it.")
