"""geodistill:train_dehaze and geodistill:evaluate_dehaze."""
from __future__ import annotations


from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
)

from .base import GeoDistillAlgorithm, engine_callbacks

ARCHITECTURES = ("lite", "ktdn")
DATA_HELP = (
    "<b>Clear images</b> and/or <b>Clear images folder</b>: haze-free images (every image "
    "file directly inside the folder is used); synthetic haze that varies across each image is "
    "laid over them. <b>Hazy layers</b> and <b>Clear layers</b>: optional real pairs, the n-th "
    "hazy layer showing the same pixels as the n-th clear layer. All images need the same band "
    "count.<br>")


class _DehazeDataAlgorithm(GeoDistillAlgorithm):
    """The clear-image and hazy/clear-pair parameters the training and evaluation share."""

    CLEAR_IMAGES = "CLEAR_IMAGES"
    CLEAR_FOLDER = "CLEAR_FOLDER"
    HAZY_LAYERS = "HAZY_LAYERS"
    CLEAR_LAYERS = "CLEAR_LAYERS"

    group_name = "Dehazing"

    def add_data_parameters(self) -> None:
        """CLEAR_IMAGES, CLEAR_FOLDER, HAZY_LAYERS and CLEAR_LAYERS, all optional."""
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.CLEAR_IMAGES, self.tr("Clear images (synthetic haze is added)"),
            QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.CLEAR_FOLDER, self.tr("Clear images folder"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.HAZY_LAYERS, self.tr("Hazy layers of real pairs"), QgsProcessing.TypeRaster,
            optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.CLEAR_LAYERS, self.tr("Clear layers of real pairs (same order)"),
            QgsProcessing.TypeRaster, optional=True))

    def data_values(self, parameters, context) -> tuple[list[str], str | None, list[tuple[str, str]]]:
        """(clear image paths, clear folder or None, (hazy, clear) path pairs)."""
        hazy = self.raster_paths(parameters, self.HAZY_LAYERS, context)
        clear = self.raster_paths(parameters, self.CLEAR_LAYERS, context)
        if len(hazy) != len(clear):
            raise QgsProcessingException(self.tr(
                f"Give as many clear layers as hazy layers ({len(hazy)} hazy, {len(clear)} "
                "clear): the n-th hazy layer is paired with the n-th clear layer."))
        folder = self.parameterAsFile(parameters, self.CLEAR_FOLDER, context) or None
        return self.raster_paths(parameters, self.CLEAR_IMAGES, context), folder, list(zip(hazy, clear))


class TrainDehazeAlgorithm(_DehazeDataAlgorithm):
    """Trains (and distils) a dehazing model on the user's clear images and hazy/clear pairs."""

    PATCH_SIZE = "PATCH_SIZE"
    SAMPLES = "SAMPLES"
    OUTPUT_MODEL = "OUTPUT_MODEL"

    help_text = (
        "Trains a dehazing model on your own imagery: no hazy image is needed, synthetic haze "
        "is laid over clear images (real hazy/clear pairs can be added).<br>" + DATA_HELP +
        "<b>Architecture</b>: <i>lite</i> (small and fast, the kind of model that ships with "
        "the plugin): a KTDN teacher autoencoder is trained on the clear patches first, then "
        "the student learns from the data and from the teacher's features (with fewer than 32 "
        "patches the student is trained alone). With the defaults this takes about 10 minutes "
        "on a 2-core CPU. <i>ktdn</i>: the paper's 50 M-parameter net with its ResNet-18 "
        "teacher: several hours on a CPU (about 8 h on 2 cores), minutes on a GPU.<br>"
        "<b>Teacher</b>: optional <i>ktdn</i> model package whose outputs the lite student "
        "also learns from.<br><b>Epochs</b>, <b>Patch size</b> (a multiple of 32), <b>Samples"
        "</b>: training length, patch side in pixels, and patches cut from the images.<br>"
        "<b>Output model</b>: the .safetensors model package (its model card records the data "
        "and validation metrics); use it as MODEL in 'Dehaze'.")

    algorithm_name = "train_dehaze"
    display_name = "Train a dehazing model"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_data_parameters()
        self.add_training_parameters(ARCHITECTURES, 0, "Teacher model to distil from (ktdn package)",
                                     epochs=30)
        self.addParameter(QgsProcessingParameterNumber(
            self.PATCH_SIZE, self.tr("Patch size (pixels, multiple of 32)"),
            QgsProcessingParameterNumber.Integer, defaultValue=64, minValue=32, maxValue=1024))
        self.addParameter(QgsProcessingParameterNumber(
            self.SAMPLES, self.tr("Training patches"), QgsProcessingParameterNumber.Integer,
            defaultValue=512, minValue=2, maxValue=1000000))
        self.add_device_parameter()
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Output model"), fileFilter="Model package (*.safetensors)"))

    def run_algorithm(self, parameters, context, feedback):
        from ...models.tasks.dehaze_training import DehazeTrainingRequest, train_dehazing_model

        clear_paths, folder, pairs = self.data_values(parameters, context)
        output = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        request = DehazeTrainingRequest(
            user_model_folder=self.user_model_folder(),
            output_model=output, clear_paths=clear_paths, clear_folder=folder, pairs=pairs,
            patch_size=self.parameterAsInt(parameters, self.PATCH_SIZE, context),
            samples=self.parameterAsInt(parameters, self.SAMPLES, context),
            **self.training_values(parameters, context, ARCHITECTURES))
        train_dehazing_model(request, engine_callbacks(feedback))
        return {self.OUTPUT_MODEL: output}


class EvaluateDehazeAlgorithm(_DehazeDataAlgorithm):
    """Scores a dehazing model against the dark channel prior (PSNR, SSIM)."""


    help_text = (
        "Compares a dehazing model with the dark channel prior (He et al.) and with the "
        "untouched hazy image, on images with a known clear version: PSNR (dB) and SSIM, per "
        "image and on average, plus the speed of each method.<br>" + DATA_HELP +
        "Synthetic haze is seeded, so a report can be reproduced; a central crop of up to 256 "
        "pixels a side of each image is scored.<br><b>Model</b>: 'default' or a model package."
        "<br><b>Output report</b>: an HTML page; a JSON file with the same numbers is written "
        "beside it.")

    algorithm_name = "evaluate_dehaze"
    display_name = "Evaluate dehazing"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_data_parameters()
        self.add_model_parameter("dehazing")
        self.add_device_parameter()
        self.add_report_outputs()

    def run_algorithm(self, parameters, context, feedback):
        from ...models.tasks.dehaze_evaluation import DehazeEvaluationRequest, evaluate_dehazing

        clear_paths, folder, pairs = self.data_values(parameters, context)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        request = DehazeEvaluationRequest(
            user_model_folder=self.user_model_folder(),
            report_path=report, clear_paths=clear_paths, clear_folder=folder, pairs=pairs,
            models=[self.parameterAsString(parameters, self.MODEL, context)],
            device=self.device_value(parameters, context))
        evaluate_dehazing(request, engine_callbacks(feedback))
        return self.report_results(report)
