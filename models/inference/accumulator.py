"""Streaming blend of overlapping tile predictions, one band of rows at a time.

Tiles arrive in row-major order. Weighted predictions are summed into a buffer that spans the
rows still touched by upcoming tiles (at most one tile plus one block high, full width), so
memory stays O(tile * width) whatever the raster height. When a tile of a new tile row arrives,
every row above it is final: those rows are divided by their summed weights and handed out one
output block row at a time, so that each GeoTIFF block is written once and whole.

Tile weights are outer products of a row ramp and a column ramp over a full grid of tile rows
and columns, so their sum is separable too: (sum of row ramps) x (sum of column ramps). The
accumulator therefore stores no weight buffer, only two vectors.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .blending import edge_ramp


@dataclass
class FinishedRows:
    """Blended rows [row, row + values.shape[1]) of the output grid and their valid mask
    (None when every pixel is valid)."""

    row: int
    values: np.ndarray
    valid: np.ndarray | None


def weight_profile(length: int, origins: list[int], tile: int, overlap: int) -> np.ndarray:
    """Sum along one axis of the ramps of tiles at `origins` (clipped to `length`)."""
    total = np.zeros(max(length, origins[-1] + tile), dtype=np.float32)
    for index, origin in enumerate(origins):
        total[origin:origin + tile] += edge_ramp(tile, overlap, index > 0, index < len(origins) - 1)
    if not np.all(total[:length] > 0):
        raise ValueError("tile weights leave pixels uncovered; use a larger overlap")
    return total[:length]


class RowAccumulator:
    """Sum of w * prediction over the not-yet-written rows of a (height, width) grid.

    The rows live in chunks of `block` rows (a deque): handing out a finished block row pops
    its chunk, which is zeroed and reused once a tile reaches below the last one, so nothing
    is shifted or copied and memory stays at (tile + block) rows of full width.
    """

    def __init__(self, bands: int, row_weights: np.ndarray, col_weights: np.ndarray,
                 tile: int, block: int):
        self.height, self.width = row_weights.size, col_weights.size
        self.row_weights, self.col_weights, self.block = row_weights, col_weights, block
        self.bands = bands
        self.sums: deque[np.ndarray] = deque()  # (bands, block, width) float32 each
        # (block, width) bool each, allocated only once a tile brings nodata into the chunk
        self.valid: deque[np.ndarray | None] = deque()
        self.top = 0  # first row of sums[0]
        self.spare: list[np.ndarray] = []  # handed-out chunks, reused once written

    def _extend_to(self, bottom: int) -> None:
        while self.top + len(self.sums) * self.block < bottom:
            if self.spare:
                chunk = self.spare.pop()
                chunk.fill(0.0)
            else:
                chunk = np.zeros((self.bands, self.block, self.width), dtype=np.float32)
            self.sums.append(chunk)
            self.valid.append(None)

    def add(self, row: int, col: int, prediction: np.ndarray, weights: np.ndarray,
            valid: np.ndarray) -> None:
        """Add a tile prediction (bands, h, w) at (row, col); parts past the raster are dropped."""
        height = min(prediction.shape[1], self.height - row)
        width = min(prediction.shape[2], self.width - col)
        if row < self.top:
            raise ValueError("tiles must arrive in row-major order")
        self._extend_to(row + height)
        cols = slice(col, col + width)
        start = row
        while start < row + height:
            index, offset = divmod(start - self.top, self.block)
            count = min(self.block - offset, row + height - start)
            source = slice(start - row, start - row + count)
            rows = slice(offset, offset + count)
            self.sums[index][:, rows, cols] += prediction[:, source, :width] * weights[source, :width]
            tile_valid = valid[source, :width]
            if not tile_valid.all():
                if self.valid[index] is None:
                    self.valid[index] = np.ones((self.block, self.width), dtype=bool)
                self.valid[index][rows, cols] &= tile_valid
            start += count

    def pop_final(self, below: int):
        """Yield the finished rows above `below`, one block row at a time (the last may be
        shorter when `below` is the raster end), divided by their summed weights in place."""
        end = self.height if below >= self.height else below // self.block * self.block
        while self.top < end and self.sums:
            count = min(self.block, end - self.top, self.height - self.top)
            chunk = self.sums.popleft()
            values = chunk[:, :count]
            values /= self.row_weights[self.top:self.top + count, None]
            values /= self.col_weights[None, :]
            valid = self.valid.popleft()
            yield FinishedRows(self.top, values, None if valid is None else valid[:count])
            self.spare.append(chunk)  # the consumer has written it by now
            self.top += count
