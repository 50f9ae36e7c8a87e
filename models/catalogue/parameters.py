"""A task's parameter as plain data, and the parameters several tasks share.

A `Parameter` says everything the Processing algorithm, the dock's form and the command line
need: its Processing name, kind, label, help, default, range, choices, the layer it belongs
to, and the request field its value fills.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Kind:
    """The kinds of parameter (each maps to one Processing parameter type)."""

    RASTER = "raster"                # one raster layer
    RASTERS = "rasters"              # several raster layers
    LAYER = "layer"                  # a raster or vector layer
    FEATURES = "features"            # a vector layer of the given geometries
    FIELD = "field"                  # a field of the `parent` vector layer
    BAND = "band"                    # one band of the `parent` raster
    BANDS = "bands"                  # bands of the `parent` raster, in order
    EXTENT = "extent"                # an area, read in the CRS of the `parent` raster
    MODEL = "model"                  # 'default', a bundled model name or a package path
    DEVICE = "device"                # auto, cpu, cuda or cuda:N
    INT = "int"
    FLOAT = "float"
    ENUM = "enum"                    # one of `choices`
    TEXT = "text"
    FILE = "file"                    # an existing file with the `file_type` extension
    FOLDER = "folder"                # an existing folder
    RASTER_OUTPUT = "raster_output"  # a raster to write
    VECTOR_OUTPUT = "vector_output"  # a vector layer to write
    FEATURE_SINK = "feature_sink"    # features the algorithm adds one by one
    FILE_OUTPUT = "file_output"      # a file to write, `file_type` being its filter
    OUTPUT_FILE = "output_file"      # a file the algorithm writes beside another (a result only)
    OUTPUT_TEXT = "output_text"      # text the algorithm returns (a result only)


#: kinds that are results only (declared as outputs, not as parameters)
RESULT_KINDS = (Kind.OUTPUT_FILE, Kind.OUTPUT_TEXT)


@dataclass(frozen=True)
class Parameter:
    """One parameter of a task.

    `default` of an ENUM is the choice's name; `field` is the request field the value fills
    (None: the algorithm reads it itself); `cli` is the command line help (empty: not on the
    command line); `model_task` is the model task whose bundled models a MODEL help lists;
    `file_type` is a FILE's extension or a FILE_OUTPUT's filter; `geometry` names the
    geometries of a vector parameter ("point", "polygon").
    """

    name: str
    kind: str
    label: str
    help: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False
    choices: tuple[str, ...] = ()
    parent: str | None = None
    field: str | None = None
    file_type: str = ""
    geometry: tuple[str, ...] = ()
    create_by_default: bool = True
    model_task: str = ""
    cli: str = ""

    @property
    def default_index(self) -> int | None:
        """An ENUM's default as the index of its choice."""
        return self.choices.index(self.default) if self.default is not None else None


def device_parameter() -> Parameter:
    """DEVICE: where the model runs."""
    return Parameter("DEVICE", Kind.DEVICE, "Device (auto, cpu, cuda or cuda:N)", default="auto",
                     help="Where the model runs. 'auto' uses the first CUDA GPU when one is "
                          "available and the CPU otherwise.",
                     field="device", cli="auto, cpu, cuda or cuda:N")


def tiling_parameters(tile_size: int = 512, overlap: int = 32) -> tuple[Parameter, Parameter]:
    """TILE_SIZE and OVERLAP, in output pixels."""
    return (
        Parameter("TILE_SIZE", Kind.INT, "Tile size (pixels)", default=tile_size, minimum=32,
                  maximum=8192, field="tile_size", cli="tile side in pixels",
                  help="Side of the square tiles the raster is processed in. Larger tiles are "
                       "faster on a GPU but need more memory."),
        Parameter("OVERLAP", Kind.INT, "Tile overlap (pixels)", default=overlap, minimum=0,
                  maximum=1024, field="overlap",
                  cli="overlap between tiles in pixels (also the context around each window of "
                      "a split raster)",
                  help="Overlap between neighbouring tiles; overlapping predictions are blended "
                       "smoothly so no seams appear."))


def area_parameter(layer: str) -> Parameter:
    """EXTENT: the optional area to process, read in the CRS of the raster `layer`."""
    return Parameter("EXTENT", Kind.EXTENT, "Area to process", optional=True, parent=layer,
                     field="area",
                     help="Empty: the whole raster. Else only the pixels under this extent (the "
                          "map canvas extent, a layer's extent or a drawn rectangle, in any CRS) "
                          "are processed, and the output covers just them, on the input's grid.")


def bands_parameter(layer: str, on_command_line: bool = True) -> Parameter:
    """BANDS: the bands of the raster `layer` to use, in the model's order (empty = all)."""
    return Parameter("BANDS", Kind.BANDS, "Bands to use", optional=True, parent=layer,
                     field="bands",
                     cli="bands to use, e.g. 3,2,1 (default: all but an alpha band)"
                     if on_command_line else "",
                     help="Empty: every band but an alpha band. Else the bands to read, in the "
                          "order the model expects (e.g. red, green, blue of a multispectral "
                          "image for an RGB model).")


def model_parameter(model_task: str, field: str = "model") -> Parameter:
    """MODEL: 'default', a bundled model name ({models} lists them) or a package path; filling
    `models` (an evaluation's), it gives a list of that one model."""
    return Parameter("MODEL", Kind.MODEL, "Model", default="default", model_task=model_task,
                     field=field, cli="'default', a model name or a .safetensors package",
                     help="'default' picks the bundled model that fits the input; or a bundled "
                          "model name ({models}); or the path of a .safetensors model package.")


def training_parameters(architectures: tuple[str, ...], default: str, teacher_label: str,
                        epochs: int) -> tuple[Parameter, Parameter, Parameter]:
    """ARCHITECTURE (one of `architectures`), an optional TEACHER package, and EPOCHS."""
    return (
        Parameter("ARCHITECTURE", Kind.ENUM, "Architecture", choices=architectures,
                  default=default, field="architecture"),
        Parameter("TEACHER", Kind.FILE, teacher_label, file_type="safetensors", optional=True,
                  field="teacher"),
        Parameter("EPOCHS", Kind.INT, "Epochs", default=epochs, minimum=1, maximum=10000,
                  field="epochs"))


def output_model_parameter() -> Parameter:
    """OUTPUT_MODEL: the model package a training algorithm writes."""
    return Parameter("OUTPUT_MODEL", Kind.FILE_OUTPUT, "Output model",
                     file_type="Model package (*.safetensors)", field="output_model")


def report_outputs() -> tuple[Parameter, Parameter]:
    """OUTPUT_REPORT (an HTML file to write) and OUTPUT_JSON (the same numbers, beside it)."""
    return (Parameter("OUTPUT_REPORT", Kind.FILE_OUTPUT, "Output report", file_type="HTML (*.html)",
                      field="report_path"),
            Parameter("OUTPUT_JSON", Kind.OUTPUT_FILE, "Scores (JSON)"))


def runs(module: str, request: str, function: str) -> dict:
    """The `request` and `function` of a Task whose request and function are in tasks.<module>."""
    return {"request": f"tasks.{module}.{request}", "function": f"tasks.{module}.{function}"}


#: command line options common to the tools, listed first in this order
SHARED_OPTIONS = ("MODEL", "DEVICE", "TILE_SIZE", "OVERLAP", "BANDS")


@dataclass(frozen=True)
class Task:
    """One task (a Processing algorithm): its id, the name shown, its toolbox group, its
    parameters in the order the dialog shows them, the request dataclass and function that
    run it (dotted paths inside `models`, "tasks.dehaze.DehazeRequest", imported only when
    the task runs), and `pairs`: two RASTERS parameters whose n-th layers go together into
    the request's `pairs`."""

    name: str
    display_name: str
    group: str
    parameters: tuple[Parameter, ...]
    request: str = ""
    function: str = ""
    pairs: tuple[str, str] | tuple[()] = ()

    def engine(self) -> tuple[type, Any]:
        """The request dataclass and the function that runs it (imports the task's module,
        and with it torch or ONNX Runtime)."""
        models = __name__.rsplit(".", 2)[0]
        found = []
        for path in (self.request, self.function):
            module, name = path.rsplit(".", 1)
            # an import statement's machinery (not importlib.import_module), so that
            # `python -X importtime` lists the task module like any other
            found.append(getattr(__import__(f"{models}.{module}", fromlist=[name]), name))
        return found[0], found[1]

    def parameter(self, name: str) -> Parameter:
        """The parameter called `name` (KeyError when the task has none)."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(f"{self.name} has no parameter {name}")

    def command_line_parameters(self) -> tuple[Parameter, ...]:
        """The parameters offered on the command line: the shared ones first, then the task's
        own, in their order."""
        offered = [p for p in self.parameters if p.cli]
        order = {name: position for position, name in enumerate(SHARED_OPTIONS)}
        return tuple(sorted(offered, key=lambda p: order.get(p.name, len(order))))
