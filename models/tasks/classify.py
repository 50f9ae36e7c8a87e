"""Classifying a raster by scenes: one prediction per cell of a regular grid.

The grid has cells of STRIDE pixels from the raster's top-left corner (the last row and column
are cut at the raster's edge, so the cells cover the raster exactly); each cell is classified
from a chip of CHIP_SIZE pixels centred on it (moved inside the raster near the edges). The
chip size defaults to the model card's chip side scaled by its ground sample distance to this
raster's pixel size. Chips are read window by window with rasterio and run in batches, so the
raster is never loaded whole. The result holds every cell's two most likely classes with
their probabilities (the plugin writes the grid polygons); an optional GeoTIFF holds the class
id of every cell (one pixel per cell). A cell whose most likely class has a probability below
MIN_CONFIDENCE is labelled "uncertain" (an extra class, grey) rather than given a doubtful class;
its second class is then the model's best guess.

This is not the tiled engine's job: the engine blends dense per-pixel predictions of
overlapping tiles, while a scene classifier gives one label per chip.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from affine import Affine

from ..catalogue import DEFAULT_MIN_CONFIDENCE
from ..errors import InputError
from ..inference.area import raster_part
from ..inference.backoff import softmax
from ..inference.raster_io import check_raster_outputs, read_padded
from ..inference.raster_style import UNCERTAIN_NAME, as_card_classes, class_entries, uncertain_class
from ..inference.raster_writer import RasterDescription, RasterWriter, geotiff_profile
from ..inference.resampling import resize_bilinear
from ..inference.scaling import BandScaling
from ..inference.scene import open_scene
from ..package import ModelCard
from ..runtime.loader import open_for_inference
from .callbacks import Callbacks
from .model_fit import FitReasons, ModelNeeds, load_fitting_model
from .requests import RunRequest

TASK = "classification"
NO_CLASS = 255
#: a cell whose chip has less valid data than this gets no class
MIN_VALID_SHARE = 0.5
MIN_CHIP_SIZE = 8
#: the card's statistics are used unless the scene's range differs from them by this factor
SCALING_RANGE_TOLERANCE = 4.0
#: cells whose best class is less likely than this are labelled "uncertain"


@dataclass
class ClassifyRequest(RunRequest):
    """What to classify and how. With an `area`, the grid starts at its corner."""

    raster_path: str
    chip_size: int = 0
    """Chip side in raster pixels; 0 = from the model card (tile size and GSD)."""
    stride: int = 0
    """Grid cell side in raster pixels; 0 = the chip size."""
    output_raster_path: str | None = None
    batch_size: int = field(default=32, kw_only=True)
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    """Cells whose best class has a lower probability are labelled "uncertain" (0 = never)."""


@dataclass
class GridClassification:
    """Classes of every grid cell: the two most likely, as indices into `classes`."""

    classes: list[dict]
    top_classes: np.ndarray
    """[rows, cols, 2] uint8 class indices (NO_CLASS where the cell has no data)."""
    top_probabilities: np.ndarray
    """[rows, cols, 2] float32."""
    chip_size: int
    stride: int
    raster_shape: tuple[int, int]
    transform: Affine
    crs_wkt: str | None
    model_name: str
    device: str
    seconds: float
    chips_per_second: float
    output_raster_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.top_classes.shape[:2]

    def cell_ring(self, row: int, col: int) -> list[tuple[float, float]]:
        """The cell's outline in the raster's CRS (closed ring, cut at the raster's edge)."""
        height, width = self.raster_shape
        top, left = row * self.stride, col * self.stride
        bottom, right = min(top + self.stride, height), min(left + self.stride, width)
        corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
        return [tuple(self.transform * corner) for corner in corners]

    def cells(self) -> Iterator[dict]:
        """Every classified cell: row, col, ring, class_id, class_name, confidence and the
        second class's class2_id, class2_name, confidence2 (cells without data are left out)."""
        rows, cols = self.grid_shape
        for row in range(rows):
            for col in range(cols):
                first, second = (int(v) for v in self.top_classes[row, col])
                if first == NO_CLASS:
                    continue
                yield {"row": row, "col": col, "ring": self.cell_ring(row, col),
                       "class_id": self.classes[first]["id"],
                       "class_name": self.classes[first]["name"],
                       "confidence": float(self.top_probabilities[row, col, 0]),
                       "class2_id": self.classes[second]["id"],
                       "class2_name": self.classes[second]["name"],
                       "confidence2": float(self.top_probabilities[row, col, 1])}


def mark_uncertain(top: np.ndarray, probabilities: np.ndarray, min_confidence: float,
                   uncertain_index: int) -> int:
    """Relabel, in place, the cells whose best probability is below `min_confidence`: their first
    class becomes `uncertain_index` and their second the best guess (with its probability).
    Returns how many cells were relabelled."""
    doubtful = (top[..., 0] != NO_CLASS) & (probabilities[..., 0] < min_confidence)
    top[doubtful, 1], probabilities[doubtful, 1] = top[doubtful, 0], probabilities[doubtful, 0]
    top[doubtful, 0] = uncertain_index
    return int(doubtful.sum())


FIT_REASONS = FitReasons(
    wrong_task="Model '{name}' is a {task} model; choose a scene classification model.",
    wrong_bands="Model '{name}' reads {model_bands}-band chips but the raster has {bands} band(s); "
                "choose a model made for {bands} bands.",
    none_bundled="No bundled scene classification model reads {bands}-band rasters. Train one "
                 "with 'Train a scene classifier' and give it as MODEL, or choose the raster's "
                 "bands.")


def model_needs(bands: int) -> ModelNeeds:
    """What a raster of `bands` bands needs of a scene classification model."""
    return ModelNeeds(TASK, bands, FIT_REASONS)


def default_chip_size(card: ModelCard, raster_gsd: float | None) -> int:
    """The card's chip side, rescaled from its GSD to the raster's pixel size when both are known."""
    if card.gsd and raster_gsd:
        return max(MIN_CHIP_SIZE, round(card.tile_size * card.gsd / raster_gsd))
    return card.tile_size


def model_scaling(card: ModelCard, scene: BandScaling | None, log=None) -> BandScaling:
    """The card's band statistics, unless the data's range is far from them (e.g. a 16-bit raster
    for a model trained on 8-bit chips): then `scene`'s own statistics."""
    saved = (card.scaling or {}).get("image")
    if saved is None:
        if scene is None:
            raise InputError(f"Model '{card.name}' has no band statistics; give the data's.")
        return scene
    card_scaling = BandScaling.from_dict(saved)
    if scene is None:
        return card_scaling
    ratio = max(scene.high) / max(max(card_scaling.high), 1e-9)
    if 1 / SCALING_RANGE_TOLERANCE <= ratio <= SCALING_RANGE_TOLERANCE:
        return card_scaling
    if log is not None:
        log(f"The raster's values reach {max(scene.high):g} but the model was trained on values up "
            f"to {max(card_scaling.high):g}: the raster's own statistics are used.")
    return scene


@dataclass
class _Grid:
    chip: int
    stride: int
    rows: int
    cols: int

    def chip_origin(self, row: int, col: int, height: int, width: int) -> tuple[int, int]:
        """Top-left pixel of the chip centred on cell (row, col), moved inside the raster."""
        centre_row = (row * self.stride + min((row + 1) * self.stride, height)) / 2
        centre_col = (col * self.stride + min((col + 1) * self.stride, width)) / 2
        top = min(max(round(centre_row - self.chip / 2), 0), height - self.chip)
        left = min(max(round(centre_col - self.chip / 2), 0), width - self.chip)
        return top, left


def _grid(card: ModelCard, request: ClassifyRequest, dataset, pixel_metres: float | None) -> _Grid:
    chip = request.chip_size or default_chip_size(card, pixel_metres)
    if chip < MIN_CHIP_SIZE:
        raise InputError(f"CHIP_SIZE must be at least {MIN_CHIP_SIZE} pixels, got {chip}.")
    if dataset.height < chip or dataset.width < chip:
        raise InputError(f"The raster is {dataset.width} x {dataset.height} pixels, smaller than "
                         f"one chip of {chip} x {chip} pixels: choose a smaller CHIP_SIZE or a "
                         "larger raster.")
    stride = request.stride or chip
    if stride < 1:
        raise InputError(f"STRIDE must be positive, got {stride}.")
    return _Grid(chip, stride, math.ceil(dataset.height / stride), math.ceil(dataset.width / stride))


def classify_scenes(request: ClassifyRequest, callbacks: Callbacks | None = None) -> GridClassification:
    """Classify every grid cell of the raster as `request` says (see the module docstring)."""
    callbacks = callbacks or Callbacks()
    started = time.perf_counter()
    check_raster_outputs([request.raster_path], [request.output_raster_path])
    if not 0.0 <= request.min_confidence < 1.0:
        raise InputError(f"MIN_CONFIDENCE is a probability from 0 up to (not including) 1, got "
                         f"{request.min_confidence}.")
    if request.area is not None:
        with raster_part(request.raster_path, request.area, log=callbacks.log) as part:
            return classify_scenes(replace(request, raster_path=part, area=None), callbacks)
    with open_scene(request.raster_path, request.bands) as scene:
        path, card = load_fitting_model(model_needs(len(scene.bands)), request.model,
                                        request.user_model_folder)
        scaling = model_scaling(card, scene.scaling(), callbacks.log)
        model = open_for_inference(path, request.device, log=callbacks.log)
        input_size = model.config_value("input_size")
        callbacks.log(f"Model: {card.name} ({card.architecture}, {len(card.classes)} classes) on "
                      f"{model.describe()}")
        for note in scene.notes:
            callbacks.log(note)
        grid = _grid(card, request, scene.dataset, scene.pixel_metres)
        callbacks.log(f"{grid.rows} x {grid.cols} cells of {grid.stride} pixels, chips of "
                      f"{grid.chip} pixels resized to {input_size}.")
        top, probabilities, compute = _classify_cells(model.classifier(), input_size, scene.dataset,
                                                      scene.bands, grid, scaling,
                                                      request.batch_size, callbacks)
    crs_wkt = scene.crs.to_wkt() if scene.crs else None
    classes = list(card.classes)
    if request.min_confidence > 0:
        doubtful = mark_uncertain(top, probabilities, request.min_confidence, len(classes))
        classes.append(uncertain_class(classes))
        callbacks.log(f"{doubtful} of {grid.rows * grid.cols} cells are below the minimum "
                      f"confidence {request.min_confidence:g}: labelled '{UNCERTAIN_NAME}'.")
    result = GridClassification(
        as_card_classes(class_entries(classes)), top, probabilities, grid.chip, grid.stride,
        scene.shape, scene.transform, crs_wkt, card.name, model.backend.device, 0.0,
        grid.rows * grid.cols / max(compute, 1e-9))
    if request.output_raster_path:
        result.output_raster_path = write_cell_raster(result, request.output_raster_path, scene.crs)
    result.seconds = time.perf_counter() - started
    callbacks.progress(1.0)
    callbacks.log(f"Classified {grid.rows * grid.cols} cells in {result.seconds:.1f} s "
                  f"({result.chips_per_second:.0f} chips/s on the model).")
    return result


def _classify_cells(logits_of, size: int, dataset, bands, grid: _Grid, scaling: BandScaling,
                    batch_size: int, callbacks: Callbacks) -> tuple[np.ndarray, np.ndarray, float]:
    """Top-2 classes and probabilities of every cell, read and run batch by batch through
    `logits_of` (chips resized to `size` -> logits)."""
    cells = [(r, c) for r in range(grid.rows) for c in range(grid.cols)]
    top = np.full((grid.rows, grid.cols, 2), NO_CLASS, dtype=np.uint8)
    probabilities = np.zeros((grid.rows, grid.cols, 2), dtype=np.float32)
    compute = 0.0
    for start in range(0, len(cells), batch_size):
        callbacks.raise_if_cancelled("The run was cancelled; no output was written.")
        chosen, chips = [], []
        for row, col in cells[start:start + batch_size]:
            top_row, left = grid.chip_origin(row, col, dataset.height, dataset.width)
            raw, valid = read_padded(dataset, bands, top_row, left, grid.chip, grid.chip)
            if valid.mean() < MIN_VALID_SHARE:
                continue
            chip = scaling.normalize(raw)
            chip[:, ~valid] = 0.0
            chosen.append((row, col))
            chips.append(chip)
        if chips:
            began = time.perf_counter()
            scores = softmax(np.asarray(logits_of(resize_bilinear(np.stack(chips), size)), np.float32))
            # the two best classes, most likely first
            best = np.argsort(-scores, axis=1, kind="stable")[:, :2]
            compute += time.perf_counter() - began
            rows, cols = (np.array(v) for v in zip(*chosen))
            top[rows, cols] = best
            probabilities[rows, cols] = np.take_along_axis(scores, best, axis=1)
        callbacks.progress(0.95 * min(start + batch_size, len(cells)) / len(cells))
    callbacks.raise_if_cancelled("The run was cancelled; no output was written.")
    return top, probabilities, compute


def write_cell_raster(result: GridClassification, path: str | Path, crs) -> Path:
    """A GeoTIFF with one pixel per grid cell holding its class id (nodata where no class), with
    the classes' legend (names, one distinct colour each) in the file and a `.qml` beside it."""
    ids = np.array([c["id"] for c in result.classes] + [0])
    small = ids.min() >= 0 and ids.max() < NO_CLASS
    dtype, nodata = ("uint8", NO_CLASS) if small else ("int32", -1)
    lookup = ids.astype(dtype)
    lookup[-1] = nodata
    first = result.top_classes[..., 0].astype(np.int64)
    values = lookup[np.where(first == NO_CLASS, len(ids) - 1, first)][None]
    rows, cols = result.grid_shape
    profile = geotiff_profile(rows, cols, 1, dtype, crs,
                              result.transform * Affine.scale(result.stride), nodata)
    legend = RasterDescription(["class id"], class_entries(result.classes))
    with RasterWriter(path, profile, legend) as output:
        output.write(values, 0)
        return output.commit()
