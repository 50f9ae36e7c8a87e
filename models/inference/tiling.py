"""The tile grid: overlapping tiles of fixed size covering a raster, in row-major order.

Tiles are laid out with stride `tile - overlap`; the last tile of a row or column is shifted
inward so that it ends on the raster border (no padding). Tile origins and sizes are kept
multiples of `align` (the resolution ratio of lower-resolution inputs, and the size multiple a
model needs); when the border cannot be met exactly (the last tile then reaches less than
`align` pixels past it), or the raster is smaller than one tile, the reader pads with reflection.
With `stride_multiple` the stride is also kept a multiple of that number (the overlap grows by
less than it), so that output blocks can line up with the stride. With `shrink_to_fit` the tile
size is only an upper bound: the grid uses the smallest tiles that cover the raster in as many
tiles, so a raster a little larger than one tile is not computed as four full tiles. Tiles are
never larger than the raster needs (its longer side plus one overlap of mirrored context,
rounded up to the alignment): a huge tile size on a small raster costs no more memory than the
raster itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .blending import tile_weights


@dataclass
class TilingOptions:
    """Tile size and overlap (reference pixels), tiles per batch, and a size multiple."""

    tile_size: int = 512
    overlap: int = 32
    batch_size: int = 4
    multiple_of: int = 1
    shrink_to_fit: bool = False
    """Use the smallest tiles (at most `tile_size`) that cover the raster in as many tiles: a
    600-pixel side then takes two 320-pixel tiles instead of two 512-pixel ones. For models whose
    output depends little on the size of the tile they see (not for one that learned a tile
    size, like the dehazing students)."""

    def __post_init__(self):
        if self.tile_size < 1 or self.batch_size < 1 or self.multiple_of < 1:
            raise ValueError("tile size, batch size and multiple_of must be positive")
        if not 0 <= self.overlap < self.tile_size:
            raise ValueError("the overlap must be at least 0 and smaller than the tile size")


@dataclass(frozen=True)
class TileWindow:
    """A tile on the reference grid; it may reach past the bottom/right raster border."""

    row: int
    col: int
    height: int
    width: int


@dataclass(frozen=True)
class Tile:
    """A tile of the grid: its window, its tile row and column, and which of its sides are
    inner. Its place in the regular grid is (tile_row, tile_col) * stride; the window of a
    last tile may start before it (shifted inward to end on the border)."""

    window: TileWindow
    tile_row: int
    tile_col: int
    top: bool
    bottom: bool
    left: bool
    right: bool


def round_up(value: int, multiple: int) -> int:
    """Smallest multiple of `multiple` that is >= value."""
    return -(-value // multiple) * multiple


def axis_origins(length: int, tile: int, stride: int, align: int) -> list[int]:
    """Tile origins along one axis: every `stride`, the last shifted inward (aligned down)."""
    if length <= tile:
        return [0]
    origins = list(range(0, length - tile, stride))
    # Aligned up, the last tile may reach past the border by less than `align` pixels.
    last = round_up(length - tile, align)
    if last > origins[-1]:
        origins.append(last)
    return origins


def fitted_stride(length: int, count: int, overlap: int, step: int) -> int:
    """The smallest stride, a multiple of `step`, with which `count` tiles of stride + overlap
    pixels cover `length` pixels."""
    return max(round_up(-(-(length - overlap) // count), step), step)


@lru_cache(maxsize=64)
def _weights(size: int, overlap: int, top: bool, bottom: bool, left: bool, right: bool) -> np.ndarray:
    weights = tile_weights(size, size, overlap, top, bottom, left, right)
    weights.setflags(write=False)
    return weights


class TileGrid:
    """Overlapping tiles covering a (height, width) raster, aligned to `align` pixels, with a
    stride that is a multiple of `align` and of `stride_multiple`."""

    def __init__(self, height: int, width: int, options: TilingOptions, align: int = 1,
                 stride_multiple: int = 1):
        self.height, self.width = height, width
        self.align = math.lcm(align, options.multiple_of)
        step = math.lcm(self.align, stride_multiple)
        requested = min(options.tile_size, round_up(max(height, width) + options.overlap, step))
        self.stride = max((requested - options.overlap) // step * step, step)
        # a stride rounded up to one step keeps at least the requested overlap
        self.tile_size = round_up(max(requested, self.stride + options.overlap), self.align)
        if options.shrink_to_fit:
            stride = max(fitted_stride(height, len(self._origins(height)), options.overlap, step),
                         fitted_stride(width, len(self._origins(width)), options.overlap, step))
            tile_size = round_up(stride + options.overlap, self.align)
            if tile_size < self.tile_size:
                self.stride, self.tile_size = stride, tile_size
        self.overlap = self.tile_size - self.stride
        self.rows = self._origins(height)
        self.cols = self._origins(width)

    def _origins(self, length: int) -> list[int]:
        return axis_origins(length, self.tile_size, self.stride, self.align)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def tiles(self) -> list[Tile]:
        """All tiles in row-major order."""
        size = self.tile_size
        return [Tile(TileWindow(row, col, size, size), tile_row=i, tile_col=j,
                     top=i > 0, bottom=i < len(self.rows) - 1,
                     left=j > 0, right=j < len(self.cols) - 1)
                for i, row in enumerate(self.rows) for j, col in enumerate(self.cols)]

    def weights(self, tile: Tile, scale: int = 1) -> np.ndarray:
        """Blend weights of `tile` on a grid `scale` times finer than the reference."""
        return _weights(self.tile_size * scale, self.overlap * scale,
                        tile.top, tile.bottom, tile.left, tile.right)
