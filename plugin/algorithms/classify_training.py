"""geodistill:train_scene_classifier and geodistill:evaluate_scene_classifier."""
from __future__ import annotations


from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import GeoDistillAlgorithm, engine_callbacks

ARCHITECTURES = ("teacher", "resnet18", "mobilenetv2", "efficientnet_lite0")
METHODS = ("class_centric", "class_aware", "plain")
SOURCE_HELP = (
    "<b>Chips folder</b>: a folder with one sub-folder of image chips per class, named after "
    "the class (jpg, png, tif ...); chips of other sizes are resized, unreadable files are "
    "skipped with a warning.<br><b>Input raster</b>, <b>Labels</b> and <b>Class field</b>: "
    "instead of a folder, a raster and a point or polygon layer whose class field labels it; "
    "chips are cut around the points and inside the polygons.<br>")


class _ChipSourceAlgorithm(GeoDistillAlgorithm):
    """Shared parameters and reading of the labelled chips (a folder, or raster + vector)."""

    CHIPS_FOLDER = "CHIPS_FOLDER"
    INPUT = "INPUT"
    LABELS = "LABELS"
    CLASS_FIELD = "CLASS_FIELD"
    CHIP_SIZE = "CHIP_SIZE"

    group_name = "Scene classification"

    def add_chip_source_parameters(self, chip_size_label: str) -> None:
        """CHIPS_FOLDER, or INPUT + LABELS + CLASS_FIELD, and CHIP_SIZE."""
        self.addParameter(QgsProcessingParameterFile(
            self.CHIPS_FOLDER, self.tr("Chips folder (one sub-folder per class)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.INPUT, self.tr("Input raster (with labels, instead of a chips folder)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.LABELS, self.tr("Labels (points or polygons)"),
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.CLASS_FIELD, self.tr("Class field"), parentLayerParameterName=self.LABELS,
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.CHIP_SIZE, self.tr(chip_size_label), QgsProcessingParameterNumber.Integer,
            defaultValue=0, minValue=0, maxValue=4096))

    def chip_source(self, parameters, context) -> dict:
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

    METHOD = "METHOD"
    START_FROM = "START_FROM"
    OUTPUT_MODEL = "OUTPUT_MODEL"

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
        "it with; <i>plain</i> is cross-entropy alone.<br><b>Teacher</b>: a scene classifier "
        "package (trained with ARCHITECTURE teacher).<br><b>Epochs</b>: training length.<br>"
        "<b>Chip size</b>: chip side in pixels (0 = the folder's chip size, or 64 around vector "
        "labels); chips are resized to it.<br><b>Output model</b>: the .safetensors model "
        "package (its card records classes, colours, chip size and the validation accuracy "
        "on the chips held out of training, also shown in the log); use "
        "it as MODEL in 'Classify scenes'.")

    algorithm_name = "train_scene_classifier"
    display_name = "Train a scene classifier"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_chip_source_parameters("Chip size (pixels, 0 = automatic)")
        self.add_training_parameters(ARCHITECTURES, 3, "Teacher model (for class_centric)", epochs=30)
        self.addParameter(QgsProcessingParameterString(
            self.START_FROM, self.tr("Start from (efficientnet_lite0; empty = from scratch)"),
            defaultValue="default", optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, self.tr("Method"), options=list(METHODS), defaultValue=1))
        self.add_device_parameter()
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Output model"), fileFilter="Model package (*.safetensors)"))

    def run_algorithm(self, parameters, context, feedback):
        from ...models.tasks.classify_training import ClassifierTrainingRequest, train_scene_classifier

        output = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        request = ClassifierTrainingRequest(
            user_model_folder=self.user_model_folder(),
            output_model=output, **self.chip_source(parameters, context),
            method=METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            start_from=self.parameterAsString(parameters, self.START_FROM, context).strip() or None,
            **self.training_values(parameters, context, ARCHITECTURES))
        train_scene_classifier(request, engine_callbacks(feedback))
        return {self.OUTPUT_MODEL: output}


class EvaluateSceneClassifierAlgorithm(_ChipSourceAlgorithm):
    """Scores a scene classifier on labelled chips."""


    help_text = (
        "Scores a scene classifier on labelled chips: overall accuracy, kappa, per-class "
        "accuracy and the confusion matrix.<br>" + SOURCE_HELP +
        "<b>Chip size</b>: chip side cut around vector labels (0 = the model's).<br>"
        "<b>Model</b>: 'default' or a model package; the chips' class names must be among its "
        "classes.<br><b>Output report</b>: an HTML page; a JSON file with the same numbers is "
        "written beside it.")

    algorithm_name = "evaluate_scene_classifier"
    display_name = "Evaluate a scene classifier"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_chip_source_parameters("Chip size (pixels, 0 = from the model)")
        self.add_model_parameter("classification")
        self.add_device_parameter()
        self.add_report_outputs()

    def run_algorithm(self, parameters, context, feedback):
        from ...models.tasks.classify_evaluation import ClassifierEvaluationRequest, evaluate_classifier

        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        request = ClassifierEvaluationRequest(
            user_model_folder=self.user_model_folder(),
            report_path=report, models=[self.parameterAsString(parameters, self.MODEL, context)],
            device=self.device_value(parameters, context), **self.chip_source(parameters, context))
        evaluate_classifier(request, engine_callbacks(feedback))
        return self.report_results(report)
