"""Streaming blend of overlapping tile predictions, finished one output block per tile.

Blending uses a regular grid of *virtual* tiles: tile (i, j) of the grid starts at
(i * stride, j * stride). The tile grid shifts the last tile of a row or column inward so that it
ends on the raster border (`tiling.axis_origins`); its prediction is read from its virtual origin
on, so the rows and columns it has in front of that origin get no weight (they are covered by the
tiles before it anyway).

Block (i, j) of the output, rows [i * stride, (i + 1) * stride) and columns
[j * stride, (j + 1) * stride) (the last row and column of blocks reach to the raster border), is
touched only by tiles (<= i, <= j). Tiles arrive in row-major order, so the block is final as
soon as tile (i, j) has been added, and the output file, whose blocks divide the stride, gets
each of its blocks written once and whole. The accumulator keeps just the overlap seams: what
earlier tile rows add to the first `overlap` rows of the current one, what the current tile row
adds to the next, and what the previous tile adds to the first `overlap` columns of the current
one. Memory is O(overlap * width + tile * tile), whatever the raster size.

Pixels marked invalid (nodata) are carried as one more plane of weighted flags: a pixel is
invalid when a tile that gives it weight had it invalid. Tile weights are outer products of a
row ramp and a column ramp, so their sum is separable: (sum of row ramps) x (sum of column
ramps), two vectors that finished blocks are divided by.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blending import edge_ramp


@dataclass
class FinishedBlock:
    """Blended pixels of the output grid with their top-left at (row, col), and their invalid
    (nodata) mask (None when every pixel is valid)."""

    row: int
    col: int
    values: np.ndarray
    invalid: np.ndarray | None


def weight_profile(length: int, origins: list[int], tile: int, overlap: int) -> np.ndarray:
    """Sum along one axis of the ramps of tiles at `origins` (clipped to `length`)."""
    total = np.zeros(max(length, origins[-1] + tile), dtype=np.float32)
    for index, origin in enumerate(origins):
        total[origin:origin + tile] += edge_ramp(tile, overlap, index > 0, index < len(origins) - 1)
    if not np.all(total[:length] > 0):
        raise ValueError("tile weights leave pixels uncovered; use a larger overlap")
    return total[:length]


class SeamAccumulator:
    """Blends (bands, tile, tile) predictions of a row-major tile grid over a (height, width)
    output; `add` returns the block each tile finishes. Sizes are output pixels."""

    def __init__(self, bands: int, height: int, width: int, tile: int, stride: int,
                 tile_rows: int, tile_cols: int):
        if not 0 < stride <= tile:
            raise ValueError("the stride must be positive and at most the tile size")
        self.height, self.width, self.tile, self.stride = height, width, tile, stride
        overlap = tile - stride
        self.row_weights = weight_profile(height, [i * stride for i in range(tile_rows)], tile, overlap)
        self.col_weights = weight_profile(width, [j * stride for j in range(tile_cols)], tile, overlap)
        planes = bands + 1  # the last plane sums the weights of invalid pixels
        # what earlier tile rows add to rows [r * stride, r * stride + overlap), and what the
        # current tile row adds to the first `overlap` rows of the next one
        self.above = np.zeros((planes, overlap, width), dtype=np.float32)
        self.below = np.zeros((planes, overlap, width), dtype=np.float32)
        self.left: np.ndarray | None = None  # previous tile's part in columns past its block
        self.tile_row = 0

    def add(self, tile_row: int, tile_col: int, row: int, col: int, prediction: np.ndarray,
            weights: np.ndarray, valid: np.ndarray) -> FinishedBlock:
        """Add the prediction of tile (tile_row, tile_col), whose window starts at (row, col)
        (before its virtual origin for a shifted last tile), with its `weights` (tile, tile)
        and `valid` mask; returns the block it finishes."""
        if tile_row != self.tile_row:
            if tile_row != self.tile_row + 1:
                raise ValueError("tiles must arrive in row-major order")
            self.above, self.below = self.below, self.above
            self.tile_row = tile_row
        s, overlap = self.stride, self.tile - self.stride
        top, left = tile_row * s, tile_col * s
        shift_rows, shift_cols = top - row, left - col
        if shift_rows < 0 or shift_cols < 0:
            raise ValueError("a tile window must start at or before its place in the grid")
        height, width = min(self.tile, self.height - top), min(self.tile, self.width - left)
        last_row, last_col = top + self.tile >= self.height, left + self.tile >= self.width
        block_height = height if last_row else s
        block_width = width if last_col else s
        rows = slice(shift_rows, shift_rows + height)
        cols = slice(shift_cols, shift_cols + width)
        ramp = weights[:height, :width]
        planes = np.empty((self.above.shape[0], height, width), dtype=np.float32)
        np.multiply(prediction[:, rows, cols], ramp, out=planes[:-1])
        np.multiply(~valid[rows, cols], ramp, out=planes[-1])
        if tile_row > 0:
            planes[:, :overlap, :block_width] += self.above[:, :, left:left + block_width]
        if tile_col > 0:
            planes[:, :, :overlap] += self.left
        if not last_col:
            self.left = planes[:, :, s:].copy()
        if not last_row:
            self.below[:, :, left:left + block_width] = planes[:, s:, :block_width]
        return self._finish(top, left, planes[:, :block_height, :block_width])

    def _finish(self, top: int, left: int, planes: np.ndarray) -> FinishedBlock:
        values = planes[:-1]
        values /= self.row_weights[top:top + values.shape[1], None]
        values /= self.col_weights[None, left:left + values.shape[2]]
        invalid = planes[-1] > 0
        return FinishedBlock(top, left, values, invalid if invalid.any() else None)
