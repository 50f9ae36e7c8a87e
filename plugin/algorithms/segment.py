"""geodistill:segment - land-cover classes of a raster with a distilled GINet."""
from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from .. import deps
from ..styling import ClassStyle
from .base import GeoDistillAlgorithm, engine_callbacks


class SegmentAlgorithm(GeoDistillAlgorithm):
    """Raster -> class raster (+ class probabilities and polygons), guided by a global view."""

    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    OUTPUT_PROBABILITIES = "OUTPUT_PROBABILITIES"
    OUTPUT_POLYGONS = "OUTPUT_POLYGONS"
    MIN_AREA = "MIN_AREA"
    MIN_CONFIDENCE = "MIN_CONFIDENCE"

    group_name = "Segmentation"
    dependency_pack = deps.RUN_PACK
    help_text = (
        "Maps land cover: every pixel of the raster gets a class from a segmentation model "
        "(GINet: a downsampled view of the whole scene guides the full-resolution tiles).<br>"
        "<b>Input</b>: the raster (any data type; as many bands as the model reads).<br>"
        "<b>Bands to use</b> (optional): the bands the model reads, in its order (e.g. red, "
        "green, blue of a multispectral image); empty = every band but an alpha band.<br>"
        "<b>Area to process</b> (optional): only the part of the raster under this extent is "
        "segmented (the whole raster still gives the global view and the scaling).<br>"
        "<b>Model</b>: 'default' (the bundled lite land-cover model for 3-band images), a "
        "bundled model name or a .safetensors model file.<br><b>Device</b>, <b>Tile size</b>, "
        "<b>Tile overlap</b>: where and in which pieces the model runs.<br><b>Output</b>: a "
        "byte raster of class values (the values the classes had in the training labels), "
        "nodata (255) where the input is nodata, styled with the model's class names and "
        "colours.<br><b>Class probabilities</b> (optional): a float raster with one band per "
        "class.<br><b>Class polygons</b> (optional): one feature per region of one class, with "
        "fields class_id, class_name and area (square metres in any CRS: areas in degrees are "
        "measured on the ellipsoid; map units squared only for a raster without a CRS).<br>"
        "<b>Minimum polygon area</b> (square metres): smaller regions are left out of the "
        "polygons.<br><b>Minimum confidence</b> (0-1, 0 = off): pixels whose most likely class "
        "has a lower probability are marked 'uncertain' (a class of its own, black) instead of "
        "getting a class the model is unsure of; try 0.5 on imagery unlike the training data.")

    algorithm_name = "segment"
    display_name = "Segment land cover"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster")))
        self.add_bands_parameter(self.INPUT)
        self.add_area_parameter()
        self.add_model_parameter("segmentation")
        self.add_device_parameter()
        self.add_tiling_parameters(tile_size=512, overlap=64)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROBABILITIES, self.tr("Class probabilities"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_POLYGONS, self.tr("Class polygons"), QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA, self.tr("Minimum polygon area (square metres)"),
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_CONFIDENCE, self.tr("Minimum confidence (0 = off)"),
            QgsProcessingParameterNumber.Double, defaultValue=0.0, optional=True, minValue=0.0,
            maxValue=0.99))

    def run_algorithm(self, parameters, context, feedback):
        from ...models.tasks.segment import SegmentRequest, segment

        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        probabilities = self.parameterAsOutputLayer(parameters, self.OUTPUT_PROBABILITIES, context)
        polygons = self.parameterAsOutputLayer(parameters, self.OUTPUT_POLYGONS, context)
        request = SegmentRequest(
            user_model_folder=self.user_model_folder(),
            input_path=self.raster_path(parameters, self.INPUT, context), output_path=output,
            model=self.parameterAsString(parameters, self.MODEL, context),
            device=self.device_value(parameters, context),
            tile_size=self.parameterAsInt(parameters, self.TILE_SIZE, context),
            overlap=self.parameterAsInt(parameters, self.OVERLAP, context),
            probabilities_path=probabilities or None, polygons_path=polygons or None,
            min_area=self.parameterAsDouble(parameters, self.MIN_AREA, context),
            area=self.area_value(parameters, context, self.INPUT),
            bands=self.bands_value(parameters, context),
            min_confidence=self.parameterAsDouble(parameters, self.MIN_CONFIDENCE, context))
        result = segment(request, engine_callbacks(feedback))
        for path in (output, polygons):
            self.style_on_load(context, path, ClassStyle(result.classes))
        return {self.OUTPUT: str(result.output_path), self.OUTPUT_PROBABILITIES: probabilities or None,
                self.OUTPUT_POLYGONS: polygons or None}
