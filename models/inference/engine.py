"""The streaming tiled inference engine (QGIS-free).

`run_tiled` runs a model over rasters of any size: a reader thread reads overlapping tiles
window by window from every input (inputs of lower resolution window-aligned through their
geotransforms), scales them and masks nodata; the calling thread runs batches through the
model's backend (ONNX Runtime, or torch for nets given as modules; out-of-memory back-off); a
writer thread blends the predictions with smooth weights and writes the block each tile finishes to a tiled, compressed GeoTIFF whose blocks line up with
the tile stride, under a temporary name that is renamed only once complete (with overviews).
Memory stays O(overlap * width + tile * tile).
"""
from __future__ import annotations

import math
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from ..errors import Cancelled, InputError
from .alignment import InputGrid, input_grid
from .backoff import TileModel, TilePredictor
from .engine_output import OutputSpec, OutputWriter
from .memory import TiledRunShape, check_tiled_run, widest_layer
from .raster_io import band_list, display_transform, open_raster, read_padded, scene_scaling
from .scaling import BandScaling
from .scene import Scene
from .tiling import Tile, TileGrid, TilingOptions

QUEUE_DEPTH = 2
TILE_PROGRESS_SHARE = 0.9
# GDAL's block cache defaults to 5 % of RAM and would grow with the raster; blocks are written
# whole and read about once, so a small cache loses nothing.
GDAL_CACHE_BYTES = 64 * 2**20


@dataclass
class RasterInput:
    """One input raster: which bands (1-based, all when None) and how to scale them.

    With `scaling` None the statistics are computed from a decimated read of the scene with
    `scaling_mode` and the two percentiles (`low_percentile` None pins low to 0). An input
    made `from_scene` takes its bands and grid from the open Scene instead of the file.
    """

    path: str | Path
    bands: list[int] | None = None
    scaling: BandScaling | None = None
    scaling_mode: str = "per_band"
    low_percentile: float | None = 1.0
    high_percentile: float = 99.0
    scene: Scene | None = None

    @classmethod
    def from_scene(cls, scene: Scene, scaling: BandScaling,
                   bands: list[int] | None = None) -> "RasterInput":
        """`bands` of `scene` (None = the bands in use; others checked by the caller), scaled
        with `scaling`."""
        return cls(scene.path, bands=scene.bands if bands is None else bands, scaling=scaling,
                   scene=scene)

    def resolve_scaling(self) -> BandScaling:
        """`scaling`, or statistics computed from the scene."""
        if self.scaling is not None:
            return self.scaling
        return scene_scaling(self.path, self.bands, self.scaling_mode,
                             self.low_percentile, self.high_percentile)


@dataclass
class RunReport:
    """What a run did: where it ran, how fast, and which back-offs it needed."""

    output_path: Path
    probabilities_path: Path | None
    device: str
    device_description: str
    precision: str
    tiles: int
    tile_size: int
    overlap: int
    batch_size: int
    sub_tile: int | None
    seconds: float
    megapixels_per_second: float
    scalings: list[BandScaling] = field(default_factory=list)
    backoff_events: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    tiles: list[Tile]
    arrays: list[np.ndarray]
    valid: np.ndarray


@dataclass
class _Source:
    path: str
    bands: list[int]
    scaling: BandScaling
    grid: InputGrid


_DONE = object()


class _Stage(threading.Thread):
    """A pipeline thread whose exception is kept for the main thread to re-raise."""

    def __init__(self, target: Callable[[], None], name: str):
        super().__init__(name=name, daemon=True)
        self._target_call = target
        self.error: BaseException | None = None

    def run(self):
        try:
            self._target_call()
        except BaseException as error:  # handed to the main thread
            self.error = error


def _put(channel: queue.Queue, item, stop: threading.Event, consumer: _Stage | None = None) -> bool:
    """Put unless `stop` is set first (returns False); re-raises the consumer's error if it died."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=0.1)
            return True
        except queue.Full:
            if consumer is not None and not consumer.is_alive():
                raise consumer.error or RuntimeError(f"{consumer.name} stopped unexpectedly")
    return False


def _get(channel: queue.Queue, stop: threading.Event, producer: _Stage | None = None):
    """Next item; _DONE once `stop` is set; re-raises the producer's error if it died."""
    while not stop.is_set():
        try:
            return channel.get(timeout=0.1)
        except queue.Empty:
            if producer is not None and not producer.is_alive():
                if producer.error is not None:
                    raise producer.error
                try:
                    return channel.get_nowait()
                except queue.Empty:
                    return _DONE
    return _DONE


def _prepare_sources(inputs: list[RasterInput], region: Window | None) -> list[_Source]:
    if not inputs:
        raise InputError("No input raster was given.")
    sources = []
    for index, item in enumerate(inputs):
        path = str(item.path)
        if item.scene is not None:
            bands = item.bands
        else:
            with open_raster(path) as dataset:
                bands = band_list(dataset, item.bands)
        grid = InputGrid(1, 0, 0) if index == 0 else _input_grid(inputs[0], item)
        if region is not None:  # tile windows are on the region's grid
            grid = InputGrid(grid.ratio, grid.row_offset + int(region.row_off) // grid.ratio,
                             grid.col_offset + int(region.col_off) // grid.ratio, grid.shift)
        scaling = item.resolve_scaling()
        if scaling.band_count != len(bands):
            raise InputError(f"The scaling of {Path(path).name} has {scaling.band_count} band(s) but "
                             f"{len(bands)} band(s) are read; give one statistic per band.")
        sources.append(_Source(path, bands, scaling, grid))
    return sources


def _input_grid(reference: RasterInput, item: RasterInput) -> InputGrid:
    """How `item` is read window-aligned with the reference (from the Scenes when both have one)."""
    if reference.scene is not None and item.scene is not None:
        return reference.scene.grid_of(item.scene)
    return input_grid(str(reference.path), str(item.path))


def _reference_grid(reference: RasterInput) -> tuple[tuple[int, int], object, object]:
    """(rows, columns), CRS and display transform of the input that defines the output grid."""
    if reference.scene is not None:
        return reference.scene.shape, reference.scene.crs, reference.scene.transform
    with open_raster(str(reference.path)) as dataset:
        return dataset.shape, dataset.crs, display_transform(dataset)


def _tile_buffer(count: int, side: int, bands: int, channels_last: bool) -> np.ndarray:
    """(count, bands, side, side) float32: a view of a channels-last buffer, or plain NCHW."""
    if channels_last:
        return np.empty((count, side, side, bands), np.float32).transpose(0, 3, 1, 2)
    return np.empty((count, bands, side, side), np.float32)


def _read_batches(sources: list[_Source], tiles: list[Tile], tile_size: int, batch_size: int,
                  channels_last: bool, channel: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: normalized, nodata-filled input tiles in batches (own dataset handles),
    in the memory layout the model takes without a copy."""
    datasets = [rasterio.open(s.path) for s in sources]
    try:
        for start in range(0, len(tiles), batch_size):
            batch_tiles = tiles[start:start + batch_size]
            arrays = [_tile_buffer(len(batch_tiles), tile_size // s.grid.ratio, len(s.bands), channels_last)
                      for s in sources]
            valid = np.ones((len(batch_tiles), tile_size, tile_size), dtype=bool)
            for b, tile in enumerate(batch_tiles):
                w = tile.window
                for i, (source, dataset) in enumerate(zip(sources, datasets)):
                    raw, ok = read_padded(dataset, source.bands, *source.grid.window(w.row, w.col, w.height, w.width))
                    source.scaling.normalize(raw, out=arrays[i][b])
                    if not ok.all():
                        arrays[i][b][:, ~ok] = 0.0  # neutral fill; written as nodata
                    r = source.grid.ratio
                    valid[b] &= ok if r == 1 else np.repeat(np.repeat(ok, r, axis=0), r, axis=1)
            if not _put(channel, _Batch(batch_tiles, arrays, valid), stop):
                return
        _put(channel, _DONE, stop)
    finally:
        for dataset in datasets:
            dataset.close()


def _consume(writer: OutputWriter, channel: queue.Queue, stop: threading.Event) -> None:
    """Writer thread body: blend every (tiles, predictions, valid) item into blocks."""
    while (item := _get(channel, stop)) is not _DONE:
        writer.add(*item)


def as_tile_model(model) -> TileModel:
    """`model` itself if it is a TileModel, else (a torch `nn.Module`) the torch adapter."""
    if isinstance(model, TileModel):
        return model
    if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module):
        from ..runtime.torch_models import TorchTileModel
        return TorchTileModel(model)
    raise TypeError("the model must be a TileModel or a torch.nn.Module")


def run_tiled(model, inputs: list[RasterInput], output: OutputSpec,
              options: TilingOptions | None = None, device: str = "auto", precision: str = "auto",
              progress: Callable[[float], None] | None = None,
              is_cancelled: Callable[[], bool] | None = None,
              region: Window | None = None) -> RunReport:
    """Run `model` (a TileModel, or a torch `nn.Module`) over `inputs` tile by tile and write
    `output`; returns a RunReport.

    `device` and `precision` place torch models (ONNX Runtime models are placed when loaded).

    `inputs[0]` defines the reference (= output) grid; the others are read window-aligned.
    `region` (a window of the reference grid whose offsets are multiples of every input's
    ratio) limits the run and the output to that part; the model sees tile windows relative
    to it.
    `progress` receives the fraction done, 0-1, monotonic, ending at 1; `is_cancelled` is checked
    between batches and a cancelled run raises Cancelled, leaving no output file.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        return _run(as_tile_model(model), inputs, output, options or TilingOptions(), device,
                    precision, progress or (lambda value: None), is_cancelled or (lambda: False),
                    region)


def _run(model: TileModel, inputs, output, options, device, precision, report_progress,
         cancelled, region) -> RunReport:
    started = time.perf_counter()
    sources = _prepare_sources(inputs, region)
    (height, width), crs, transform = _reference_grid(inputs[0])
    if region is not None:
        height, width = int(region.height), int(region.width)
        transform = window_transform(region, transform)
    align = math.lcm(*[s.grid.ratio for s in sources])
    # output blocks must divide the output stride and be multiples of 16 (GeoTIFF)
    grid = TileGrid(height, width, options, align=align,
                    stride_multiple=16 // math.gcd(16, output.scale))
    tiles = grid.tiles()
    model.prepare(device, precision)
    check_tiled_run(TiledRunShape(
        grid.tile_size, options.batch_size, sum(len(s.bands) for s in sources), output.band_count,
        width * output.scale, output.scale,
        widest_layer(model) if model.device == "cpu" else 0))
    predictor = TilePredictor(model, ratios=[s.grid.ratio for s in sources], overlap=grid.overlap,
                              align=grid.align, scale=output.scale,
                              softmax=output.kind == "classes", batch_size=options.batch_size)

    stop = threading.Event()
    to_model: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    to_writer: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    writer = OutputWriter(output, grid, height, width, crs, transform)
    reader = _Stage(lambda: _read_batches(sources, tiles, grid.tile_size, options.batch_size,
                                          model.channels_last,
                                          to_model, stop), "geodistill-reader")
    writer_stage = _Stage(lambda: _consume(writer, to_writer, stop), "geodistill-writer")
    try:
        reader.start()
        writer_stage.start()
        done = 0
        while (batch := _get(to_model, stop, producer=reader)) is not _DONE:
            if cancelled():
                raise Cancelled("The run was cancelled; no output file was written.")
            windows = [t.window for t in batch.tiles]
            predictions = predictor.predict(batch.arrays, windows)
            if predictions.shape[1] != output.band_count:
                raise InputError(f"The model gives {predictions.shape[1]} band(s) but the output "
                                 f"expects {output.band_count}; check the model and its card.")
            _put(to_writer, (batch.tiles, predictions, batch.valid), stop, consumer=writer_stage)
            done += len(batch.tiles)
            report_progress(TILE_PROGRESS_SHARE * done / len(tiles))
        _put(to_writer, _DONE, stop, consumer=writer_stage)
        writer_stage.join()
        if writer_stage.error is not None:
            raise writer_stage.error
        if cancelled():
            raise Cancelled("The run was cancelled; no output file was written.")
        writer.finish()
    except BaseException:
        stop.set()
        reader.join()
        writer_stage.join()
        writer.discard()
        raise
    reader.join()
    report_progress(1.0)
    seconds = time.perf_counter() - started
    return RunReport(
        output_path=Path(output.path),
        probabilities_path=Path(output.probabilities_path) if output.probabilities_path else None,
        device=model.device, device_description=model.describe(),
        precision=model.precision, tiles=len(tiles), tile_size=grid.tile_size,
        overlap=grid.overlap, batch_size=predictor.batch_size, sub_tile=predictor.sub_tile,
        seconds=seconds, megapixels_per_second=height * width / 1e6 / seconds,
        scalings=[s.scaling for s in sources], backoff_events=list(predictor.events))
