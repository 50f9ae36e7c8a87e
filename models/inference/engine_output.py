"""The engine's output side: what the output raster is (`OutputSpec`), and the writer that
blends tile predictions with smooth weights and writes each block they finish through the
GeoTIFF writer (class rasters with their legend, optional probabilities raster).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from .accumulator import FinishedBlock, SeamAccumulator
from .raster_style import ClassEntry
from .raster_writer import RasterDescription, RasterWriter, geotiff_profile
from .scaling import BandScaling
from .tiling import TileGrid

#: largest GeoTIFF block side of engine outputs (blocks divide the output stride)
MAX_BLOCK = 1024
PROBABILITY_NODATA = -1.0


@dataclass
class OutputSpec:
    """The output raster.

    kind "continuous": `band_count` bands of the model output, denormalized with `scaling`
    (None: written as the model gives them), clipped and rounded for integer `dtype`s.
    kind "classes": the model gives `band_count` class scores; their softmax probabilities are
    blended and the arg-max is written as a 1-band uint8 class raster (nodata 255 unless set),
    plus, with `probabilities_path`, a float32 raster of the probabilities.
    `scale` is the number of output pixels per reference pixel along each axis; `compress`
    None picks ZSTD where GDAL has it, else DEFLATE. `mask` (continuous outputs) writes which
    pixels have data as the GeoTIFF's internal mask: for inputs masked by an alpha or mask band
    rather than a nodata value. `classes` (kind "classes", in the model's output order) turn
    each arg-max index into its class value and give the class raster its legend; `tags` are
    written into the output's metadata.
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
    classes: list[ClassEntry] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    min_confidence: float = 0.0
    """kind "classes": pixels whose top probability is below it get class index `band_count`
    (`classes[band_count]`, e.g. an "uncertain" class) instead of a class the model is unsure of."""

    def __post_init__(self):
        if self.kind not in ("continuous", "classes"):
            raise ValueError("output kind must be 'continuous' or 'classes'")
        if self.kind == "classes":
            self.dtype = "uint8"
            self.nodata = 255 if self.nodata is None else self.nodata
        if self.overview_resampling is None:
            self.overview_resampling = "nearest" if self.kind == "classes" else "average"


def output_block_size(stride: int) -> int:
    """GeoTIFF block side for an output stride (a multiple of 16): the stride itself up to
    MAX_BLOCK, else its largest divisor that is a multiple of 16 and at most MAX_BLOCK, so
    that every finished stride x stride block of the accumulator covers whole file blocks."""
    if stride % 16:
        raise ValueError("the output stride must be a multiple of 16")
    return max(b for b in range(16, min(stride, MAX_BLOCK) + 1, 16) if stride % b == 0)


class OutputWriter:
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
        names = list(spec.band_descriptions or [])
        self.files = [RasterWriter(spec.path, profile, RasterDescription(
            names, spec.classes, spec.tags, spec.mask))]
        self.class_values = np.arange(256, dtype=np.uint8)
        self.class_values[:len(spec.classes)] = [c.value for c in spec.classes]
        if spec.kind == "classes" and spec.probabilities_path:
            profile = geotiff_profile(self.height, self.width, spec.band_count, "float32", crs,
                                      out_transform, PROBABILITY_NODATA, spec.compress, block)
            try:
                self.files.append(RasterWriter(spec.probabilities_path, profile, RasterDescription(
                    [c.name for c in spec.classes[:spec.band_count]])))
            except BaseException:
                self.discard()
                raise
        s = spec.scale
        self.accumulator = SeamAccumulator(spec.band_count, self.height, self.width,
                                           grid.tile_size * s, grid.stride * s,
                                           len(grid.rows), len(grid.cols))

    def add(self, tiles, predictions, valid) -> None:
        """Blend a batch of predictions (with their valid masks) and write the blocks they
        finish."""
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
            index = np.argmax(block.values, axis=0)
            if self.spec.min_confidence > 0:
                index[block.values.max(axis=0) < self.spec.min_confidence] = self.spec.band_count
            classes = self.class_values[index][None]
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
            file.finish()
        for file in self.files:
            file.move_into_place()

    def discard(self) -> None:
        """Delete every temporary file."""
        for file in self.files:
            file.discard()
