"""The streaming tiled inference engine (QGIS-free).

`run_tiled` runs a model over rasters of any size: a reader thread reads overlapping tiles
window by window from every input (inputs of lower resolution window-aligned through their
geotransforms), scales them and masks nodata; the calling thread runs batches on the device
(autocast, out-of-memory back-off); a writer thread blends the predictions with smooth weights
and writes the block each tile finishes to a tiled, compressed GeoTIFF whose blocks line up with
the tile stride, under a temporary name that is renamed only once complete (with overviews).
Memory stays O(overlap * width + tile * tile).
"""
from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..errors import Cancelled, InputError
from .accumulator import FinishedBlock, SeamAccumulator
from .alignment import InputGrid, input_grid
from .backoff import TileModel, TilePredictor, as_tile_model
from .device import describe_device, precision_name, resolve_device, resolve_precision
from .raster_io import (AtomicGeoTiff, band_list, geotiff_profile, open_raster,
                        read_padded, scene_scaling)
from .scaling import BandScaling
from .tiling import Tile, TileGrid, TilingOptions

QUEUE_DEPTH = 2
#: largest GeoTIFF block side of engine outputs (blocks divide the output stride)
MAX_BLOCK = 1024
PROBABILITY_NODATA = -1.0
TILE_PROGRESS_SHARE = 90.0
# GDAL's block cache defaults to 5 % of RAM and would grow with the raster; blocks are written
# whole and read about once, so a small cache loses nothing.
GDAL_CACHE_BYTES = 64 * 2**20


@dataclass
class RasterInput:
    """One input raster: which bands (1-based, all when None) and how to scale them.

    With `scaling` None the statistics are computed from a decimated read of the scene with
    `scaling_mode` and the two percentiles (`low_percentile` None pins low to 0).
    """

    path: str | Path
    bands: list[int] | None = None
    scaling: BandScaling | None = None
    scaling_mode: str = "per_band"
    low_percentile: float | None = 1.0
    high_percentile: float = 99.0

    def resolve_scaling(self) -> BandScaling:
        """`scaling`, or statistics computed from the scene."""
        if self.scaling is not None:
            return self.scaling
        return scene_scaling(self.path, self.bands, self.scaling_mode,
                             self.low_percentile, self.high_percentile)


@dataclass
class OutputSpec:
    """The output raster.

    kind "continuous": `band_count` bands of the model output, denormalized with `scaling`
    (None: written as the model gives them), clipped and rounded for integer `dtype`s.
    kind "classes": the model gives `band_count` class scores; their softmax probabilities are
    blended and the arg-max is written as a 1-band uint8 class raster (nodata 255 unless set),
    plus, with `probabilities_path`, a float32 raster of the probabilities. Pixels whose top
    probability is below `min_confidence` get the class index `band_count` ("uncertain").
    `scale` is the number of output pixels per reference pixel along each axis; `compress`
    None picks ZSTD where GDAL has it, else DEFLATE. `mask` (continuous outputs) writes which
    pixels have data as the GeoTIFF's internal mask: for inputs masked by an alpha or mask band
    rather than a nodata value.
    """

    path: str | Path
    band_count: int
    dtype: str = "float32"
    nodata: float | None = None
    band_descriptions: list[str] | None = None
    kind: str = "continuous"
    scaling: BandScaling | None = None
    probabilities_path: str | Path | None = None
    overview_resampling: str | None = None
    scale: int = 1
    compress: str | None = None
    mask: bool = False
    min_confidence: float = 0.0

    def __post_init__(self):
        if self.kind not in ("continuous", "classes"):
            raise ValueError("output kind must be 'continuous' or 'classes'")
        if self.kind == "classes":
            self.dtype = "uint8"
            self.nodata = 255 if self.nodata is None else self.nodata
        if self.overview_resampling is None:
            self.overview_resampling = "nearest" if self.kind == "classes" else "average"


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
    path: Path
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
    reference = Path(inputs[0].path)
    sources = []
    for index, item in enumerate(inputs):
        path = Path(item.path)
        with open_raster(path) as dataset:
            bands = band_list(dataset, item.bands)
        grid = InputGrid(1, 0, 0) if index == 0 else input_grid(reference, path)
        if region is not None:  # tile windows are on the region's grid
            grid = InputGrid(grid.ratio, grid.row_offset + int(region.row_off) // grid.ratio,
                             grid.col_offset + int(region.col_off) // grid.ratio, grid.shift)
        scaling = item.resolve_scaling()
        if scaling.band_count != len(bands):
            raise InputError(f"The scaling of {path.name} has {scaling.band_count} band(s) but "
                             f"{len(bands)} band(s) are read; give one statistic per band.")
        sources.append(_Source(path, bands, scaling, grid))
    return sources


def _read_batches(sources: list[_Source], tiles: list[Tile], tile_size: int, batch_size: int,
                  channel: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: normalized, nodata-filled input tiles in batches (own dataset handles)."""
    datasets = [rasterio.open(s.path) for s in sources]
    try:
        for start in range(0, len(tiles), batch_size):
            batch_tiles = tiles[start:start + batch_size]
            # (B, bands, h, w) views of channels-last buffers: the layout models are fed in
            arrays = [np.empty((len(batch_tiles), tile_size // s.grid.ratio,
                                tile_size // s.grid.ratio, len(s.bands)), np.float32)
                      .transpose(0, 3, 1, 2) for s in sources]
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


def output_block_size(stride: int) -> int:
    """GeoTIFF block side for an output stride (a multiple of 16): the stride itself up to
    MAX_BLOCK, else its largest divisor that is a multiple of 16 and at most MAX_BLOCK, so
    that every finished stride x stride block of the accumulator covers whole file blocks."""
    if stride % 16:
        raise ValueError("the output stride must be a multiple of 16")
    return max(b for b in range(16, min(stride, MAX_BLOCK) + 1, 16) if stride % b == 0)


class _OutputWriter:
    """Writer side: blends predictions tile by tile and writes each block they finish."""

    def __init__(self, spec: OutputSpec, grid: TileGrid, height: int, width: int, crs,
                 transform: Affine):
        self.spec, self.grid, self.scale = spec, grid, spec.scale
        self.height, self.width = height * spec.scale, width * spec.scale
        out_transform = transform * Affine.scale(1 / spec.scale)
        count = 1 if spec.kind == "classes" else spec.band_count
        block = output_block_size(grid.stride * spec.scale)
        profile = geotiff_profile(self.height, self.width, count, spec.dtype, crs, out_transform,
                                  spec.nodata, spec.compress, block)
        self.files = [AtomicGeoTiff(spec.path, profile, spec.band_descriptions)]
        if spec.kind == "classes" and spec.probabilities_path:
            profile = geotiff_profile(self.height, self.width, spec.band_count, "float32", crs,
                                      out_transform, PROBABILITY_NODATA, spec.compress, block)
            self.files.append(AtomicGeoTiff(spec.probabilities_path, profile))
        s = spec.scale
        self.accumulator = SeamAccumulator(spec.band_count, self.height, self.width,
                                           grid.tile_size * s, grid.stride * s,
                                           len(grid.rows), len(grid.cols))

    def consume(self, channel: queue.Queue, stop: threading.Event) -> None:
        """Writer thread body: blend every (tiles, predictions, valid) item into blocks."""
        while (item := _get(channel, stop)) is not _DONE:
            tiles, predictions, valid = item
            s = self.scale
            for tile, prediction, ok in zip(tiles, predictions, valid):
                if s > 1:
                    ok = np.repeat(np.repeat(ok, s, axis=0), s, axis=1)
                self._write(self.accumulator.add(
                    tile.tile_row, tile.tile_col, tile.window.row * s, tile.window.col * s,
                    prediction, self.grid.weights(tile, s), ok))

    def _write(self, block: FinishedBlock) -> None:
        invalid = block.invalid
        if self.spec.kind == "classes":
            classes = np.argmax(block.values, axis=0).astype(np.uint8)[None]
            if self.spec.min_confidence > 0:
                classes[0][block.values.max(axis=0) < self.spec.min_confidence] = self.spec.band_count
            if invalid is not None:
                classes[:, invalid] = self.spec.nodata
                block.values[:, invalid] = PROBABILITY_NODATA
            self.files[0].write(classes, block.row, block.col)
            if len(self.files) > 1:
                self.files[1].write(block.values, block.row, block.col)
            return
        dtype = np.dtype(self.spec.dtype)
        values = block.values  # float32, the writer's own: converted in place
        if self.spec.scaling is not None:
            self.spec.scaling.denormalize(values, out=values)
        if np.issubdtype(dtype, np.integer):
            limits = np.iinfo(dtype)
            np.rint(values, out=values)
            np.clip(values, limits.min, limits.max, out=values)
        values = values.astype(dtype, copy=False)
        if invalid is not None and self.spec.nodata is not None:
            values[:, invalid] = self.spec.nodata
        self.files[0].write(values, block.row, block.col)
        if self.spec.mask:
            valid = np.ones(values.shape[1:], bool) if invalid is None else ~invalid
            self.files[0].write_mask(valid, block.row, block.col)

    def finish(self) -> None:
        """Build overviews and move every file to its final name."""
        # the model is done by now, so GDAL may use every core for the overviews
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            for file in self.files:
                resampling = Resampling.average if file is not self.files[0] else \
                    Resampling[self.spec.overview_resampling]
                file.build_overviews(resampling)
        for file in self.files:
            file.commit()

    def discard(self) -> None:
        """Delete every temporary file."""
        for file in self.files:
            file.discard()


def run_tiled(model: TileModel | torch.nn.Module, inputs: list[RasterInput], output: OutputSpec,
              options: TilingOptions | None = None, device: str = "auto", precision: str = "auto",
              progress: Callable[[float], None] | None = None,
              is_cancelled: Callable[[], bool] | None = None,
              region: Window | None = None) -> RunReport:
    """Run `model` over `inputs` tile by tile and write `output`; returns a RunReport.

    `inputs[0]` defines the reference (= output) grid; the others are read window-aligned.
    `region` (a window of the reference grid whose offsets are multiples of every input's
    ratio) limits the run and the output to that part; the model sees tile windows relative
    to it.
    `progress` receives floats 0-100, monotonic, ending at 100; `is_cancelled` is checked
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
    with open_raster(sources[0].path) as reference:
        height, width, crs, transform = reference.height, reference.width, reference.crs, reference.transform
        if region is not None:
            height, width = int(region.height), int(region.width)
            transform = reference.window_transform(region)
    align = math.lcm(*[s.grid.ratio for s in sources])
    # output blocks must divide the output stride and be multiples of 16 (GeoTIFF)
    grid = TileGrid(height, width, options, align=align,
                    stride_multiple=16 // math.gcd(16, output.scale))
    tiles = grid.tiles()
    torch_device = resolve_device(device)
    dtype = resolve_precision(torch_device, precision)
    predictor = TilePredictor(model, torch_device, dtype,
                              ratios=[s.grid.ratio for s in sources], overlap=grid.overlap,
                              align=grid.align, scale=output.scale,
                              softmax=output.kind == "classes", batch_size=options.batch_size)

    stop = threading.Event()
    to_model: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    to_writer: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    writer = _OutputWriter(output, grid, height, width, crs, transform)
    reader = _Stage(lambda: _read_batches(sources, tiles, grid.tile_size, options.batch_size,
                                          to_model, stop), "geodistill-reader")
    writer_stage = _Stage(lambda: writer.consume(to_writer, stop), "geodistill-writer")
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
    report_progress(100.0)
    seconds = time.perf_counter() - started
    return RunReport(
        output_path=Path(output.path),
        probabilities_path=Path(output.probabilities_path) if output.probabilities_path else None,
        device=str(predictor.device), device_description=describe_device(predictor.device),
        precision=precision_name(predictor.dtype), tiles=len(tiles), tile_size=grid.tile_size,
        overlap=grid.overlap, batch_size=predictor.batch_size, sub_tile=predictor.sub_tile,
        seconds=seconds, megapixels_per_second=height * width / 1e6 / seconds,
        scalings=[s.scaling for s in sources], backoff_events=list(predictor.events))
