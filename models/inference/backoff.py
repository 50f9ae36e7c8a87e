"""Running a model on batches of tiles with out-of-memory back-off.

On an out-of-memory error (the backend's own: `TileModel.is_out_of_memory`) the batch is split
in halves; at one tile per batch the tile is split into overlapping sub-tiles, blended with the same weights as
tiles; if even the smallest sub-tile does not fit, the run moves to the CPU. The smallest
batch and sub-tile that worked are kept for the rest of the run, and every step is recorded.
"""
from __future__ import annotations

import abc
from dataclasses import replace

import numpy as np

from ..errors import DeviceError
from .tiling import TileGrid, TileWindow, TilingOptions

MIN_SUB_TILE = 32


class TileModel(abc.ABC):
    """What the engine runs: numpy batches of tiles (+ their windows) -> numpy predictions.

    `arrays[i]` is input i as float32 (B, C_i, T / r_i, T / r_i) (normalized, nodata filled);
    `windows[b]` is tile b's window on the reference grid (it may reach past the raster border,
    which is reflection-padded). The result is float32 (B, C_out, T * s, T * s) for output
    scale s. Backends subclass it (ONNX Runtime in `models.runtime.onnx_models`, torch in
    `models.runtime.torch_models`); plain `nn.Module`s are wrapped by the torch one.
    """

    device = "cpu"
    """Where it runs, as the run report names it ("cpu", "cuda:0", ...)."""
    precision = "fp32"
    channels_last = False
    """Whether the model takes its (B, C, h, w) inputs as views of channels-last buffers."""

    @abc.abstractmethod
    def predict(self, arrays: list[np.ndarray], windows: list[TileWindow]) -> np.ndarray:
        """Predictions for a batch of tiles."""

    def prepare(self, device: str, precision: str) -> None:
        """Place the model on the run's `device` (backends placed when built ignore this)."""

    def describe(self) -> str:
        """One line for the user: backend, provider or device."""
        return self.device

    def is_out_of_memory(self, error: BaseException) -> bool:
        """True when `error` is the backend's out-of-memory error."""
        return False

    def move_to_cpu(self) -> None:
        """Run on the CPU from now on (after out-of-memory even for the smallest sub-tile)."""
        raise DeviceError("Out of memory even for the smallest sub-tile; close other programs "
                          "or choose a smaller tile size.")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over axis 1, in place on float32 `logits` (max-subtracted, so it never overflows)."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


class TilePredictor:
    """Runs a TileModel on numpy batches with softmax (classes) and out-of-memory back-off."""

    def __init__(self, model: TileModel, ratios: list[int], overlap: int, align: int, scale: int,
                 softmax: bool, batch_size: int):
        self.model = model
        self.ratios, self.overlap, self.align, self.scale = ratios, overlap, align, scale
        self.softmax = softmax
        self.batch_size = batch_size
        self.sub_tile: int | None = None
        self.events: list[str] = []

    def predict(self, arrays: list[np.ndarray], windows: list[TileWindow]) -> np.ndarray:
        """Predictions (B, C_out, T*s, T*s) float32 for inputs `arrays[i]` (B, C_i, h_i, w_i)."""
        parts = []
        for start in range(0, len(windows), self.batch_size):
            stop = start + self.batch_size
            parts.append(self._predict_split([a[start:stop] for a in arrays], windows[start:stop]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _predict_split(self, arrays, windows) -> np.ndarray:
        if self.sub_tile is not None:
            return np.concatenate([self._predict_sub_tiled([a[i:i + 1] for a in arrays], windows[i:i + 1])
                                   for i in range(len(windows))])
        try:
            return self._run(arrays, windows)
        except Exception as error:
            if not self.model.is_out_of_memory(error):
                raise
        if len(windows) > 1:
            half = (len(windows) + 1) // 2
            self.batch_size = min(self.batch_size, half)
            self.events.append(f"out of memory: batch size lowered to {self.batch_size}")
            return np.concatenate([self._predict_split([a[:half] for a in arrays], windows[:half]),
                                   self._predict_split([a[half:] for a in arrays], windows[half:])])
        self.batch_size = 1
        self.sub_tile = windows[0].height
        self._back_off()
        return self._predict_sub_tiled(arrays, windows)

    def _run(self, arrays, windows) -> np.ndarray:
        output = np.asarray(self.model.predict(arrays, windows), dtype=np.float32)
        return softmax(output) if self.softmax else output

    def _predict_sub_tiled(self, arrays, windows) -> np.ndarray:
        """One tile through overlapping sub-tiles, backing off on each out-of-memory error."""
        while True:
            try:
                if self.sub_tile < windows[0].height:
                    return self._blend_sub_tiles(arrays, windows[0])
                return self._run(arrays, windows)
            except Exception as error:
                if not self.model.is_out_of_memory(error):
                    raise
                self._back_off()

    def _back_off(self) -> None:
        """Halve the sub-tile; below the smallest useful size, move to the CPU or give up."""
        smaller = self.sub_tile // 2 // self.align * self.align
        if smaller > self.overlap and smaller >= MIN_SUB_TILE:
            self.sub_tile = smaller
            self.events.append(f"out of memory: tiles split into sub-tiles of {smaller} pixels")
        else:
            device = self.model.device
            self.model.move_to_cpu()  # raises DeviceError where the model is on the CPU already
            self.events.append(f"out of memory on {device} even with sub-tiles: moved to the CPU")

    def _blend_sub_tiles(self, arrays, window: TileWindow) -> np.ndarray:
        grid = TileGrid(window.height, window.width,
                        TilingOptions(tile_size=self.sub_tile, overlap=self.overlap), align=self.align)
        sums = weights_sum = None
        for sub in grid.tiles():
            w = sub.window
            inputs = [a[:, :, w.row // r:(w.row + w.height) // r, w.col // r:(w.col + w.width) // r]
                      for a, r in zip(arrays, self.ratios)]
            sub_window = replace(window, row=window.row + w.row, col=window.col + w.col,
                                 height=w.height, width=w.width)
            prediction = self._run(inputs, [sub_window])[0]
            if sums is None:
                size = window.height * self.scale
                sums = np.zeros((prediction.shape[0], size, size), np.float32)
                weights_sum = np.zeros((size, size), np.float32)
            s = self.scale
            region = (slice(w.row * s, (w.row + w.height) * s), slice(w.col * s, (w.col + w.width) * s))
            weights = grid.weights(sub, s)
            sums[(slice(None),) + region] += prediction * weights
            weights_sum[region] += weights
        return (sums / weights_sum)[None]
