"""The base class every GeoDistill Processing algorithm derives from.

It holds what the algorithms share: the parameters, declared from the algorithm's task
catalogue entry and read back into its request (`task_parameters`), the provider icon and
help, the dependency check of the algorithm's pack (with an install message when a package is
missing), the bridge from QGIS `feedback` to the engine's progress/cancel callbacks, and the
mapping of `models` errors to `QgsProcessingException`. Subclasses only say what is special
about them.
"""
from __future__ import annotations

import contextlib
import logging
import re
import traceback
from pathlib import Path

from qgis.core import Qgis, QgsProcessingAlgorithm, QgsProcessingException, QgsProviderRegistry
from qgis.PyQt.QtGui import QIcon

from .. import deps
from ...models.catalogue import DEVICE_PATTERN
from ...models.errors import shorten
from .task_parameters import TaskParameters
from ..translation import tr

PLUGIN_ROOT = Path(__file__).resolve().parents[2]
ICON_PATH = PLUGIN_ROOT / "resources" / "icons" / "geodistill.svg"
BUNDLED_MODELS = PLUGIN_ROOT / "resources" / "models"
#: raster data types holding complex numbers (refused: the imaginary part would be lost)
COMPLEX_TYPES = (Qgis.CInt16, Qgis.CInt32, Qgis.CFloat32, Qgis.CFloat64)
#: longest log line passed on to QGIS
LOG_LINE_LIMIT = 2000
_DEVICE_PATTERN = re.compile(DEVICE_PATTERN)
#: band numbers typed as text: "5,3,2", "5 3 2" or "5;3;2"
BAND_LIST_PATTERN = re.compile(r"[\d\s,;]*")


def parse_band_list(text: str) -> list[int] | None:
    """Band numbers typed as text, in their order (None when there are none); ValueError when
    the text holds anything but numbers and separators."""
    if not BAND_LIST_PATTERN.fullmatch(text):
        raise ValueError(f"'{text}' is not a list of band numbers")
    return [int(token) for token in re.split(r"[\s,;]+", text) if token] or None


def engine_callbacks(feedback):
    """`models` callbacks (plain callables) bridged to QGIS `feedback`: progress, cancel, log
    (each line on one line and of bounded length: a pasted name never floods the log)."""
    from ...models.tasks.callbacks import Callbacks

    return Callbacks(progress=lambda fraction: feedback.setProgress(100.0 * fraction), is_cancelled=feedback.isCanceled,
                     log=lambda text: feedback.pushInfo(shorten(text, LOG_LINE_LIMIT)))


class FeedbackLogHandler(logging.Handler):
    """Python logging records of `models` (logger "geodistill") shown in QGIS `feedback`:
    warnings as warnings, the rest as debug information."""

    def __init__(self, feedback):
        super().__init__(logging.DEBUG)
        self.feedback = feedback

    def emit(self, record: logging.LogRecord) -> None:
        text = shorten(record.getMessage(), LOG_LINE_LIMIT)
        if record.levelno >= logging.WARNING:
            self.feedback.pushWarning(text)
        else:
            self.feedback.pushDebugInfo(text)


def bundled_model_names(task: str | None = None) -> list[str]:
    """Names (file stems) of the model packages shipped in resources/models, without loading them.

    Bundled files are named `<task>_<name>.onnx` / `.safetensors`, so filtering by task reads
    no file (a GINet part `<stem>.<part>.onnx` is not a package of its own).
    """
    names = sorted({p.stem for pattern in ("*.safetensors", "*.onnx")
                    for p in BUNDLED_MODELS.glob(pattern) if "." not in p.stem})
    return [n for n in names if task is None or n.startswith(f"{task}_")]


class GeoDistillAlgorithm(TaskParameters, QgsProcessingAlgorithm):
    """Shared plumbing for GeoDistill algorithms (see the module docstring)."""

    dependency_pack = deps.TRAIN_PACK
    """The packages the algorithm needs: inference algorithms set the "Run models" pack."""
    DEVICE = "DEVICE"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    BANDS = "BANDS"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    OUTPUT_JSON = "OUTPUT_JSON"
    OUTPUT_MODEL = "OUTPUT_MODEL"

    #: post-processors by output, kept here: QGIS runs a copy of the algorithm that is deleted
    #: before the layer is loaded and styled, so a reference held by the copy dies too early
    _post_processors: dict = {}

    #: the algorithm's catalogue entry (`models.catalogue.Task`): its id (`name()`), the name
    #: shown (`displayName()`), its toolbox group and its parameters; subclasses set it
    task = None
    #: one paragraph of help; subclasses set it (parameters are described in their own help)
    help_text = ""

    # -- QgsProcessingAlgorithm boilerplate shared by all ---------------------------------
    def tr(self, text: str) -> str:
        return tr(text)

    def createInstance(self):  # noqa: N802 (QGIS API)
        return type(self)()

    def name(self) -> str:
        return self.task.name

    def displayName(self) -> str:  # noqa: N802
        return self.tr(self.task.display_name)

    def group(self) -> str:
        return self.tr(self.task.group)

    def groupId(self) -> str:  # noqa: N802
        return self.task.group.lower().replace(" ", "_")

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def shortHelpString(self) -> str:  # noqa: N802
        text = self.tr(self.help_text)
        device = self.parameterDefinition(self.DEVICE)
        if device is not None and "device" not in text.lower():
            text += f"<br><b>{device.description()}</b>: {device.help()}"
        return text

    def initAlgorithm(self, config=None):  # noqa: N802
        """The parameters of the algorithm's catalogue entry."""
        self.add_task_parameters()

    def bands_value(self, parameters, context) -> list[int] | None:
        """BANDS as 1-based band numbers, or None for all data bands. Text such as "5,3,2"
        (qgis_process, batch cells) is read in its order too."""
        raw = parameters.get(self.BANDS)
        if isinstance(raw, str):
            try:
                return parse_band_list(raw)
            except ValueError as error:
                raise QgsProcessingException(self.tr(f"BANDS: {error}; give them like 5,3,2.")) from None
        bands = self.parameterAsInts(parameters, self.BANDS, context) if raw else []
        return [int(band) for band in bands] or None

    def area_value(self, parameters, context, layer_parameter: str):
        """EXTENT in the CRS of the raster layer `layer_parameter` as a `models` Area, or None."""
        from ...models.inference.area import Area

        if not parameters.get(self.EXTENT):
            return None
        layer = self.parameterAsRasterLayer(parameters, layer_parameter, context)
        extent = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        if extent.isNull():
            return None
        return Area(extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())

    def report_results(self, report: str) -> dict:
        """The results dict of an evaluation algorithm that wrote `report` (and its JSON)."""
        return {self.OUTPUT_REPORT: report, self.OUTPUT_JSON: str(Path(report).with_suffix(".json"))}

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """QGIS's checks (ranges, required values) first, then GeoDistill's own."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        if self.parameterDefinition(self.DEVICE) is not None:
            device = self.parameterAsString(parameters, self.DEVICE, context).strip().lower()
            if not _DEVICE_PATTERN.match(device):
                return False, self.tr(f"Device '{device}' is not valid: use auto, cpu, cuda "
                                      "or cuda:N (N = GPU number).")
        if self.parameterDefinition(self.OVERLAP) is not None:
            tile = self.parameterAsInt(parameters, self.TILE_SIZE, context)
            overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
            if overlap * 2 >= tile:
                return False, self.tr(f"The overlap ({overlap} px) must be less than half the "
                                      f"tile size ({tile} px).")
        return True, ""

    def raster_path(self, parameters, name: str, context) -> str:
        """File path of a raster parameter; GDAL file rasters only (not web or database layers).
        A raster inside an archive (a .zip or .tar layer) gives its GDAL path, e.g.
        /vsizip/{/data/scene.zip}/scene.tif, and one of several rasters in a file its GDAL name
        (GPKG:/data/city.gpkg:ortho); rasterio reads both as they are."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(self.tr(f"{name}: no raster layer was given."))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr(
                f"{name}: '{shorten(layer.name(), 80)}' is a {layer.providerType()} layer; "
                "GeoDistill reads raster files. Save it as a GeoTIFF first (Export > Save As...)."))
        provider = layer.dataProvider()
        if any(provider.dataType(band) in COMPLEX_TYPES for band in range(1, layer.bandCount() + 1)):
            raise QgsProcessingException(self.tr(
                f"{name}: '{shorten(layer.name(), 80)}' holds complex numbers, whose imaginary "
                "part GeoDistill cannot use. Convert it to real values first (e.g. its amplitude "
                "with the Raster calculator's abs()) and give that raster."))
        parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
        path = parts.get("path")
        if not path or not Path(path).is_file():
            raise QgsProcessingException(self.tr(
                f"{name}: '{shorten(layer.name(), 80)}' is not a raster file on disk "
                f"({shorten(layer.source(), 200)})."))
        if parts.get("layerName"):  # one raster of a multi-raster file (GeoPackage, NetCDF ...)
            return layer.source()  # GDAL's own name for it, e.g. GPKG:/data/city.gpkg:ortho
        prefix, inside = parts.get("vsiPrefix"), parts.get("vsiSuffix")
        if prefix and not inside:
            raise QgsProcessingException(self.tr(
                f"{name}: '{shorten(layer.name(), 80)}' is a compressed file ({Path(path).name}); "
                "decompress it and load the raster itself."))
        # GDAL's {archive} form: paths stay valid through pathlib (no "//" after the prefix)
        return f"{prefix}{{{path}}}{inside}" if prefix else path

    def raster_paths(self, parameters, name: str, context) -> list[str]:
        """File paths of a multiple-raster parameter, each checked like `raster_path`."""
        layers = self.parameterAsLayerList(parameters, name, context)
        return [self.raster_path({name: layer}, name, context) for layer in layers]

    def user_model_folder(self) -> str:
        """The user's model folder from the plugin settings (models there are found by name)."""
        from ..settings import user_model_folder

        return str(user_model_folder())

    def device_value(self, parameters, context) -> str:
        """The DEVICE parameter, normalised."""
        return self.parameterAsString(parameters, self.DEVICE, context).strip().lower()

    def style_on_load(self, context, output: str, processor) -> None:
        """Have `processor` style `output` when QGIS loads it (one processor per output: the
        context takes ownership of each one it is given)."""
        if output and context.willLoadLayerOnCompletion(output):
            GeoDistillAlgorithm._post_processors[output] = processor
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(processor)

    # -- running ------------------------------------------------------------------------
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        """Check the dependencies, then run the subclass's `run_algorithm` with every error
        mapped to a message (`user_errors`)."""
        self.check_dependencies()
        with self.models_log_shown(feedback):
            try:
                with self.user_errors(feedback):
                    return self.run_algorithm(parameters, context, feedback)
            except QgsProcessingException as error:
                message = str(error)
        # QGIS keeps the exception of a failed algorithm alive, and with it the frames its
        # traceback reaches, the caller's Processing context among them: the exception is
        # raised afresh with nothing chained, and the input layers the failed run loaded into
        # the context (each run, batch row and dialog run has its own) are let go now
        context.temporaryLayerStore().removeAllMapLayers()
        raise QgsProcessingException(message)

    def run_algorithm(self, parameters, context, feedback) -> dict:
        """The algorithm's work (its dependency pack is importable here): by default the task
        is run and the model package it trained, or the report it wrote, is returned;
        algorithms with other outputs override this.

        (Not `run`: QgsProcessingAlgorithm.run is the public entry point QGIS calls.)
        """
        request, _ = self.run_task(parameters, context, feedback)
        if hasattr(request, "report_path"):
            return self.report_results(request.report_path)
        return {self.OUTPUT_MODEL: request.output_model}

    def check_dependencies(self) -> None:
        """Stop the algorithm with a message saying how to install what its pack lacks
        (`dependency_pack`: inference runs on ONNX Runtime, training needs torch)."""
        needed = [d for d in deps.missing_dependencies(self.dependency_pack) if d.module != "torchmetrics"]
        if needed:
            raise QgsProcessingException(deps.install_message(needed))

    @contextlib.contextmanager
    def models_log_shown(self, feedback):
        """Show what `models` logs (e.g. a skipped model card) in `feedback` while it runs."""
        logger = logging.getLogger("geodistill")
        handler = FeedbackLogHandler(feedback)
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)

    @contextlib.contextmanager
    def user_errors(self, feedback=None):
        """Turn every error into a QgsProcessingException whose text says what to change
        (`models.errors.user_message`); the traceback goes to `feedback` at debug level, and
        what the failed run held (models, tensors, open datasets in its frames) is released."""
        from ...models.errors import user_message
        from ...models.inference.memory import forget_traceback, release_memory

        try:
            yield
        except QgsProcessingException:
            release_memory()
            raise
        except Exception as error:  # noqa: BLE001 (every error becomes a message)
            if feedback is not None:
                feedback.pushDebugInfo("".join(traceback.format_exception(error)))
            message = user_message(error)
            forget_traceback(error)
            del error
            release_memory()
            raise QgsProcessingException(message) from None
