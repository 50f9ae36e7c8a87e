"""Running a model on batches of tiles with out-of-memory back-off.

On a CUDA out-of-memory error the cache is emptied and the batch is split in halves; at one
tile per batch the tile is split into overlapping sub-tiles, blended with the same weights as
tiles; if even the smallest sub-tile does not fit, the run moves to the CPU. The smallest
batch and sub-tile that worked are kept for the rest of the run, and every step is recorded.
"""
from __future__ import annotations

import abc
from dataclasses import replace

import numpy as np
import torch

from ..errors import DeviceError
from .device import autocast, empty_cache
from .tiling import TileGrid, TileWindow, TilingOptions

MIN_SUB_TILE = 32


class TileModel(abc.ABC):
    """What the engine runs: tensors of a batch of tiles (+ their windows) -> predictions.

    `tensors[i]` is input i as float32 [B, C_i, T / r_i, T / r_i] (normalized, nodata filled);
    `windows[b]` is tile b's window on the reference grid (it may reach past the raster border,
    which is reflection-padded). The result is [B, C_out, T * s, T * s] for output scale s.
    Subclass it when a model needs the windows (e.g. to crop a global context map); plain
    `nn.Module`s are wrapped by `ModuleTileModel`.
    """

    @abc.abstractmethod
    def predict(self, tensors: list[torch.Tensor], windows: list[TileWindow]) -> torch.Tensor:
        """Predictions for a batch of tiles."""

    def to(self, device: torch.device) -> "TileModel":
        """Move the weights to `device` (no-op by default)."""
        return self


class ModuleTileModel(TileModel):
    """Adapter for an `nn.Module` called as `module(*tensors)`."""

    def __init__(self, module: torch.nn.Module):
        self.module = module.eval()

    def predict(self, tensors, windows):
        return self.module(*tensors)

    def to(self, device):
        self.module.to(device)
        return self


def as_tile_model(model) -> TileModel:
    """`model` itself if it is a TileModel, else a ModuleTileModel around it."""
    if isinstance(model, TileModel):
        return model
    if isinstance(model, torch.nn.Module):
        return ModuleTileModel(model)
    raise TypeError("the model must be a torch.nn.Module or a TileModel")


class TilePredictor:
    """Runs a TileModel on numpy batches with autocast, softmax (classes) and OOM back-off."""

    def __init__(self, model: TileModel, device: torch.device, dtype: torch.dtype | None,
                 ratios: list[int], overlap: int, align: int, scale: int, softmax: bool,
                 batch_size: int):
        self.model = model.to(device)
        self.device, self.dtype = device, dtype
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
        except torch.OutOfMemoryError:
            empty_cache(self.device)
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
        # channels-last input (the reader's layout, so no copy here): oneDNN runs the narrow
        # convs of the lite students 2-3x faster; the output keeps the model's layout
        tensors = [torch.from_numpy(a).to(self.device, non_blocking=True)
                   .contiguous(memory_format=torch.channels_last) for a in arrays]
        with torch.inference_mode(), autocast(self.device, self.dtype):
            output = self.model.predict(tensors, windows)
        output = output.float()
        if self.softmax:
            output = torch.softmax(output, dim=1)
        return output.cpu().numpy()

    def _predict_sub_tiled(self, arrays, windows) -> np.ndarray:
        """One tile through overlapping sub-tiles, backing off on each out-of-memory error."""
        while True:
            try:
                if self.sub_tile < windows[0].height:
                    return self._blend_sub_tiles(arrays, windows[0])
                return self._run(arrays, windows)
            except torch.OutOfMemoryError:
                empty_cache(self.device)
                self._back_off()

    def _back_off(self) -> None:
        """Halve the sub-tile; below the smallest useful size, move to the CPU or give up."""
        smaller = self.sub_tile // 2 // self.align * self.align
        if smaller > self.overlap and smaller >= MIN_SUB_TILE:
            self.sub_tile = smaller
            self.events.append(f"out of memory: tiles split into sub-tiles of {smaller} pixels")
        elif self.device.type != "cpu":
            self.events.append(f"out of memory on {self.device} even with sub-tiles: moved to the CPU")
            self.device, self.dtype = torch.device("cpu"), None
            self.model = self.model.to(self.device)
        else:
            raise DeviceError("Out of memory even for the smallest sub-tile; close other programs "
                              "or choose a smaller tile size.")

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
