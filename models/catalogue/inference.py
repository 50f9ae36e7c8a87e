"""The tasks that run a model over a raster: pansharpen, dehaze, segment, classify_scenes
(and diagnostics, which checks where they would run)."""
from __future__ import annotations

from .choices import DEFAULT_ADAPT_ITERATIONS, DEFAULT_MIN_CONFIDENCE, PANSHARPEN_METHODS, SENSORS
from .parameters import (Kind, Parameter, Task, area_parameter, bands_parameter, device_parameter,
                         model_parameter, runs, tiling_parameters)


def input_raster(name: str, label: str, field: str) -> Parameter:
    """A required raster layer whose file fills `field`."""
    return Parameter(name, Kind.RASTER, label, field=field)


def model_run_parameters(input_label: str, input_field: str,
                         model_task: str) -> tuple[Parameter, ...]:
    """INPUT, BANDS, EXTENT, MODEL and DEVICE of a task that runs a model over one raster."""
    return (input_raster("INPUT", input_label, input_field), bands_parameter("INPUT"),
            area_parameter("INPUT"), model_parameter(model_task), device_parameter())


def adapt_iterations_parameter() -> Parameter:
    """ADAPT_ITERATIONS: scene adaptation before pansharpening (0 = off)."""
    return Parameter("ADAPT_ITERATIONS", Kind.INT, "Scene adaptation iterations (0 = off)",
                     default=DEFAULT_ADAPT_ITERATIONS, minimum=0, maximum=100000,
                     field="adapt_iterations",
                     cli="iterations of adaptation to each scene (0 = none)")


def sensor_parameter() -> Parameter:
    """SENSOR: the sensor whose MTF filters the degradations and MTF-GLP use."""
    return Parameter("SENSOR", Kind.ENUM, "Sensor (MTF filters)", choices=SENSORS,
                     default=SENSORS[0], field="sensor",
                     cli="sensor whose MTF the degradations follow")


PANSHARPEN = Task("pansharpen", "Pansharpen", "Pansharpening", **runs(
    "pansharpen", "PansharpenRequest", "pansharpen"), parameters=(
    input_raster("MS", "Multispectral (MS) raster", "ms_path"),
    input_raster("PAN", "Panchromatic (PAN) raster", "pan_path"),
    Parameter("PAN_BAND", Kind.BAND, "PAN band", default=1, parent="PAN", optional=True,
              field="pan_band", cli="band of the PAN raster to use"),
    bands_parameter("MS", on_command_line=False),
    area_parameter("PAN"),
    Parameter("METHOD", Kind.ENUM, "Method", choices=PANSHARPEN_METHODS, default="auto",
              field="method", cli="auto (the model or MTF-GLP, whichever is better on the "
                                   "scene), model, mtf_glp or brovey"),
    model_parameter("pansharpening"),
    adapt_iterations_parameter(),
    sensor_parameter(),
    device_parameter(),
    *tiling_parameters(tile_size=512, overlap=32),
    Parameter("OUTPUT", Kind.RASTER_OUTPUT, "Pansharpened", field="output_path"),
))

DEHAZE = Task("dehaze", "Dehaze", "Dehazing", **runs(
    "dehaze", "DehazeRequest", "dehaze"), parameters=(
    *model_run_parameters("Hazy raster", "input_path", "dehazing"),
    *tiling_parameters(tile_size=512, overlap=32),
    Parameter("OUTPUT", Kind.RASTER_OUTPUT, "Dehazed", field="output_path"),
))

SEGMENT = Task("segment", "Segment land cover", "Segmentation", **runs(
    "segment", "SegmentRequest", "segment"), parameters=(
    *model_run_parameters("Input raster", "input_path", "segmentation"),
    *tiling_parameters(tile_size=512, overlap=64),
    Parameter("OUTPUT", Kind.RASTER_OUTPUT, "Classes", field="output_path"),
    Parameter("OUTPUT_PROBABILITIES", Kind.RASTER_OUTPUT, "Class probabilities", optional=True,
              create_by_default=False, field="probabilities_path"),
    Parameter("OUTPUT_POLYGONS", Kind.VECTOR_OUTPUT, "Class polygons", geometry=("polygon",),
              optional=True, create_by_default=False, field="polygons_path"),
    Parameter("MIN_AREA", Kind.FLOAT, "Minimum polygon area (square metres)", default=0.0,
              minimum=0.0, field="min_area"),
    Parameter("MIN_CONFIDENCE", Kind.FLOAT, "Minimum confidence (0 = off)", default=0.0,
              optional=True, minimum=0.0, maximum=0.99, field="min_confidence"),
))

CLASSIFY_SCENES = Task("classify_scenes", "Classify scenes", "Scene classification", **runs(
    "classify", "ClassifyRequest", "classify_scenes"), parameters=(
    *model_run_parameters("Input raster", "raster_path", "classification"),
    Parameter("CHIP_SIZE", Kind.INT, "Chip size (pixels, 0 = from the model)", default=0,
              minimum=0, maximum=8192, field="chip_size",
              help="Side of the chip each cell is classified from.",
              cli="chip side in pixels (0 = from the model)"),
    Parameter("STRIDE", Kind.INT, "Stride / cell size (pixels, 0 = chip size)", default=0,
              minimum=0, maximum=8192, field="stride", help="Side of the grid cells.",
              cli="grid cell side in pixels (0 = the chip size)"),
    Parameter("MIN_CONFIDENCE", Kind.FLOAT, "Minimum confidence (below it: uncertain)",
              default=DEFAULT_MIN_CONFIDENCE, minimum=0.0, maximum=0.99, field="min_confidence",
              help="Cells whose best class is less likely than this are labelled uncertain."),
    Parameter("OUTPUT", Kind.FEATURE_SINK, "Scene classes", geometry=("polygon",)),
    Parameter("OUTPUT_RASTER", Kind.RASTER_OUTPUT, "Scene classes raster (one pixel per cell)",
              optional=True, create_by_default=False, field="output_raster_path"),
))

DIAGNOSTICS = Task("diagnostics", "Diagnostics (versions and device)", "Utilities", (
    device_parameter(),
    Parameter("REPORT", Kind.OUTPUT_TEXT, "Report"),
))
