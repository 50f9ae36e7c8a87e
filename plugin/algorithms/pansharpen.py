"""geodistill:pansharpen - sharpen a multispectral raster with a panchromatic one."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import deps
from ..styling import RgbStyle, layer_display_bands
from .base import GeoDistillAlgorithm, engine_callbacks

METHODS = ("model", "mtf_glp", "brovey", "auto")
#: auto comes last so that the indexes of the older methods (batch files, models) keep their meaning
DEFAULT_METHOD = METHODS.index("auto")
SENSORS = ("generic", "worldview2", "worldview3", "quickbird", "ikonos", "geoeye1", "pleiades")
#: scene adaptation is off by default: on the held-out scenes, at reduced resolution, it
#: raised the students' ERGAS (SpaceNet 3: 0.77 -> 0.83 x MTF-GLP, WorldView-3 B/G/R/NIR: 0.85 ->
#: 0.90) although its held-back checks one scale further down improved (docs/benchmarks)
DEFAULT_ADAPT_ITERATIONS = 0


class PansharpenAlgorithm(GeoDistillAlgorithm):
    """MS + PAN -> MS at the PAN's resolution, by a distilled net, MTF-GLP or GDAL Brovey."""

    MS = "MS"
    PAN = "PAN"
    PAN_BAND = "PAN_BAND"
    METHOD = "METHOD"
    ADAPT_ITERATIONS = "ADAPT_ITERATIONS"
    SENSOR = "SENSOR"
    OUTPUT = "OUTPUT"

    group_name = "Pansharpening"
    dependency_pack = deps.RUN_PACK
    help_text = (
        "Sharpens a multispectral (MS) raster to the resolution of a panchromatic (PAN) raster "
        "of the same area.<br><b>MS</b>: the multispectral raster (any data type).<br>"
        "<b>PAN</b>: the panchromatic raster; its pixel size must be an integer fraction (1/2, "
        "1/4 ...) of the MS pixel size, in the same CRS.<br><b>PAN band</b>: the panchromatic "
        "band when the PAN raster has several.<br><b>Bands to use</b> (optional): the MS bands "
        "to sharpen, in the model's order (empty: every band but a real alpha band; a band "
        "tagged alpha that holds other values than 0 and 255 is data).<br>"
        "<b>Area to process</b> (optional): only the part of the scene under this extent is "
        "sharpened (widened to whole MS pixels).<br>"
        "<b>Method</b>: <i>auto</i> (default) sharpens a reduced-resolution sample of the scene "
        "with the model and with MTF-GLP first, says in the log which is better, and uses it; "
        "<i>model</i> runs a distilled deep model (by default the bundled lite student fitting the MS band count and ratio); "
        "<i>mtf_glp</i> is MTF-GLP with regression injection gains, the strongest classical "
        "method; <i>brovey</i> is GDAL's weighted Brovey.<br><b>Model</b>: 'default', a bundled "
        "model name or a .safetensors model file.<br><b>Scene adaptation iterations</b>: "
        "fine-tunes the model on this scene at reduced resolution first (no ground truth "
        "needed), for at most this many iterations or a minute, keeping the weights that score "
        "best on a held-back part of the scene; off (0) by default: on the small test scenes it "
        "did not help (try 300 on a large scene of an unusual sensor, and compare with "
        "<i>evaluate_pansharpen</i>).<br>"
        "<b>Sensor</b>: sets the MTF filters used by adaptation and MTF-GLP.<br><b>Device</b>, "
        "<b>Tile size</b>, <b>Tile overlap</b>: where and in which pieces the model runs.<br>"
        "<b>Output</b>: a GeoTIFF on the PAN grid (or the area's part of it) with the MS bands, "
        "data type and value range.")

    algorithm_name = "pansharpen"
    display_name = "Pansharpen"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.MS, self.tr("Multispectral (MS) raster")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.PAN, self.tr("Panchromatic (PAN) raster")))
        self.addParameter(QgsProcessingParameterBand(
            self.PAN_BAND, self.tr("PAN band"), defaultValue=1, parentLayerParameterName=self.PAN,
            optional=True))
        self.add_bands_parameter(self.MS)
        self.add_area_parameter()
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, self.tr("Method"), options=list(METHODS), defaultValue=DEFAULT_METHOD))
        self.add_model_parameter("pansharpening")
        adapt = QgsProcessingParameterNumber(
            self.ADAPT_ITERATIONS, self.tr("Scene adaptation iterations (0 = off)"),
            QgsProcessingParameterNumber.Integer, defaultValue=DEFAULT_ADAPT_ITERATIONS,
            minValue=0, maxValue=100000)
        self.addParameter(adapt)
        self.addParameter(QgsProcessingParameterEnum(
            self.SENSOR, self.tr("Sensor (MTF filters)"), options=list(SENSORS), defaultValue=0))
        self.add_device_parameter()
        self.add_tiling_parameters(tile_size=512, overlap=32)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Pansharpened")))

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 (main thread)
        self._display_bands = layer_display_bands(self.parameterAsRasterLayer(parameters, self.MS, context))
        return super().prepareAlgorithm(parameters, context, feedback)

    def run_algorithm(self, parameters, context, feedback):
        from ...models.tasks.pansharpen import PansharpenRequest, pansharpen

        pan_band = (self.parameterAsInt(parameters, self.PAN_BAND, context)
                    if parameters.get(self.PAN_BAND) not in (None, "") else None)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        request = PansharpenRequest(
            user_model_folder=self.user_model_folder(),
            ms_path=self.raster_path(parameters, self.MS, context),
            pan_path=self.raster_path(parameters, self.PAN, context),
            output_path=output,
            pan_band=pan_band,
            method=METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            model=self.parameterAsString(parameters, self.MODEL, context),
            adapt_iterations=self.parameterAsInt(parameters, self.ADAPT_ITERATIONS, context),
            sensor=SENSORS[self.parameterAsEnum(parameters, self.SENSOR, context)],
            device=self.device_value(parameters, context),
            area=self.area_value(parameters, context, self.PAN),
            bands=self.bands_value(parameters, context),
            tile_size=self.parameterAsInt(parameters, self.TILE_SIZE, context),
            overlap=self.parameterAsInt(parameters, self.OVERLAP, context),
        )
        result = pansharpen(request, engine_callbacks(feedback))
        bands = getattr(self, "_display_bands", None)
        if bands:
            self.style_on_load(context, output, RgbStyle(bands))
        return {self.OUTPUT: str(result.output_path)}
