"""The command line's tools: their options, generated from the task catalogue (named as the
Processing parameters, so `--tile-size` is TILE_SIZE), and how one scene, or one window of it,
is run through the same task request and function the Processing algorithms use."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rasterio.windows import Window

from ..catalogue import CLASSIFY_SCENES, DEHAZE, PANSHARPEN, SEGMENT, Kind, Task
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


#: the option kind of each catalogue parameter kind read from the command line (else "text")
OPTION_KINDS = {Kind.INT: "int", Kind.BAND: "int", Kind.FLOAT: "float", Kind.BANDS: "bands"}


def task_options(task: Task) -> tuple[Option, ...]:
    """The command line options of a catalogue task: its parameters that have command line
    help, the shared ones first."""
    return tuple(Option(p.name, OPTION_KINDS.get(p.kind, "text"), p.cli)
                 for p in task.command_line_parameters())


@dataclass(frozen=True)
class Tool:
    """A command line tool: the catalogue task it runs, its output suffix, whether it takes
    MS/PAN pairs, whether large rasters may be split into windows, and `write(result, output)`
    for a task that does not write its output itself."""

    name: str
    task: Task
    suffix: str
    pairs: bool = False
    windowed: bool = True
    write: Callable[[object, str], None] | None = None

    @property
    def options(self) -> tuple[Option, ...]:
        """The tool's options, from its catalogue entry."""
        return task_options(self.task)

    def build(self, scene: Scene, output: str, values: dict):
        """The task request reading the scene's rasters (in the order of the task's raster
        parameters) and writing `output`, with `values` for the options given."""
        request_class, _ = self.task.engine()
        inputs = [p.field for p in self.task.parameters if p.kind == Kind.RASTER]
        fields = dict(zip(inputs, scene.inputs))
        destination = self.task.parameter("OUTPUT").field
        if destination:
            fields[destination] = output
        return request_class(**fields, **values)

    def run(self, request, output: str, callbacks: Callbacks) -> None:
        """Run the task's request (and write its result to `output` when the task does not)."""
        _, run = self.task.engine()
        result = run(request, callbacks)
        if self.write is not None:
            self.write(result, output)

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


def _write_grid(result, output: str) -> None:
    from .grid_layer import write_grid_layer

    write_grid_layer(result, output)


TOOLS = {
    "pansharpen": Tool("pansharpen", PANSHARPEN, ".tif", pairs=True),
    "dehaze": Tool("dehaze", DEHAZE, ".tif"),
    "segment": Tool("segment", SEGMENT, ".tif"),
    "classify": Tool("classify", CLASSIFY_SCENES, ".gpkg", windowed=False, write=_write_grid),
}


def window_area(path: str, window: Window) -> Area:
    """The area (in the raster's CRS) of a pixel window of a north-up raster."""
    with open_raster(path) as dataset:
        transform = dataset.transform
    left, top = transform * (window.col_off, window.row_off)
    right, bottom = transform * (window.col_off + window.width, window.row_off + window.height)
    return Area(min(left, right), min(bottom, top), max(left, right), max(bottom, top))
