"""The command line's tools: their options (named as the Processing parameters, so
`--tile-size` is TILE_SIZE) and how one scene, or one window of it, is run through the same
task functions the Processing algorithms call."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rasterio.windows import Window

from ..inference.area import Area
from ..inference.raster_io import open_raster
from ..tasks.callbacks import Callbacks
from .scenes import Scene

#: request fields that say where data comes from and goes to, not how it is processed
PATH_FIELDS = ("ms_path", "pan_path", "input_path", "raster_path", "output_path",
               "output_raster_path", "probabilities_path", "polygons_path", "area",
               "user_model_folder")


@dataclass(frozen=True)
class Option:
    """A tool parameter: its Processing name, value kind ("int", "float", "text" or "bands"),
    and its help. Left out, the task's own default applies."""

    name: str
    kind: str
    help: str

    @property
    def flag(self) -> str:
        """The command line flag: MIN_AREA -> --min-area."""
        return "--" + self.name.lower().replace("_", "-")

    @property
    def field(self) -> str:
        """The request field the value goes to."""
        return self.name.lower()


MODEL = Option("MODEL", "text", "'default', a model name or a .safetensors package")
DEVICE = Option("DEVICE", "text", "auto, cpu, cuda or cuda:N")
TILE_SIZE = Option("TILE_SIZE", "int", "tile side in pixels")
OVERLAP = Option("OVERLAP", "int", "overlap between tiles in pixels (also the context around "
                                   "each window of a split raster)")
BANDS = Option("BANDS", "bands", "bands to use, e.g. 3,2,1 (default: all but an alpha band)")


@dataclass(frozen=True)
class Tool:
    """A command line tool: its options, its output suffix, how its task request is built
    (`build(scene, output, values)`) and run (`run(request, output, callbacks)`), whether it
    takes MS/PAN pairs, and whether large rasters may be split into windows."""

    name: str
    options: tuple[Option, ...]
    suffix: str
    build: Callable[[Scene, str, dict], object]
    run: Callable[[object, str, Callbacks], None]
    pairs: bool = False
    windowed: bool = True

    def request(self, scene: Scene, output: str | Path, values: dict, area: Area | None = None):
        """The task request for `scene` written to `output` (only `area` of it when given)."""
        request = self.build(scene, str(output), {k: v for k, v in values.items() if v is not None})
        if area is not None:
            request.area = area
        return request

    def parameters(self, scene: Scene, values: dict) -> dict:
        """The effective processing parameters (the request without paths), as the manifest
        records them."""
        request = asdict(self.request(scene, "parameters.tif", values))
        return {key: value for key, value in request.items() if key not in PATH_FIELDS}

    def reference(self, scene: Scene) -> str:
        """The raster whose grid the output takes (the PAN of a pair)."""
        return scene.inputs[-1]


def _pansharpen_request(scene, output, values):
    from ..tasks.pansharpen import PansharpenRequest

    return PansharpenRequest(ms_path=scene.inputs[0], pan_path=scene.inputs[1],
                             output_path=output, **values)


def _pansharpen(request, output, callbacks):
    from ..tasks.pansharpen import pansharpen

    pansharpen(request, callbacks)


def _dehaze_request(scene, output, values):
    from ..tasks.dehaze import DehazeRequest

    return DehazeRequest(input_path=scene.inputs[0], output_path=output, **values)


def _dehaze(request, output, callbacks):
    from ..tasks.dehaze import dehaze

    dehaze(request, callbacks)


def _segment_request(scene, output, values):
    from ..tasks.segment import SegmentRequest

    return SegmentRequest(input_path=scene.inputs[0], output_path=output, **values)


def _segment(request, output, callbacks):
    from ..tasks.segment import segment

    segment(request, callbacks)


def _classify_request(scene, output, values):
    from ..tasks.classify import ClassifyRequest

    return ClassifyRequest(raster_path=scene.inputs[0], **values)


def _classify(request, output, callbacks):
    from ..tasks.classify import classify_scenes
    from .grid_layer import write_grid_layer

    write_grid_layer(classify_scenes(request, callbacks), output)


TOOLS = {
    "pansharpen": Tool("pansharpen", (
        MODEL, DEVICE, TILE_SIZE, OVERLAP,
        Option("PAN_BAND", "int", "band of the PAN raster to use"),
        Option("METHOD", "text", "model, mtf_glp or brovey"),
        Option("ADAPT_ITERATIONS", "int", "iterations of adaptation to each scene (0 = none)"),
        Option("SENSOR", "text", "sensor whose MTF the degradations follow")),
        ".tif", _pansharpen_request, _pansharpen, pairs=True),
    "dehaze": Tool("dehaze", (MODEL, DEVICE, TILE_SIZE, OVERLAP, BANDS), ".tif",
                   _dehaze_request, _dehaze),
    "segment": Tool("segment", (MODEL, DEVICE, TILE_SIZE, OVERLAP, BANDS), ".tif",
                    _segment_request, _segment),
    "classify": Tool("classify", (
        MODEL, DEVICE, BANDS,
        Option("CHIP_SIZE", "int", "chip side in pixels (0 = from the model)"),
        Option("STRIDE", "int", "grid cell side in pixels (0 = the chip size)")),
        ".gpkg", _classify_request, _classify, windowed=False),
}


def window_area(path: str, window: Window) -> Area:
    """The area (in the raster's CRS) of a pixel window of a north-up raster."""
    with open_raster(path) as dataset:
        transform = dataset.transform
    left, top = transform * (window.col_off, window.row_off)
    right, bottom = transform * (window.col_off + window.width, window.row_off + window.height)
    return Area(min(left, right), min(bottom, top), max(left, right), max(bottom, top))
