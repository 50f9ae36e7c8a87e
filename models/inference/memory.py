"""Memory of a run: the estimate checked before it starts, and what a finished run gives back.

`tiled_run_bytes` estimates the peak memory the tiled engine adds for a run (input and output
tiles in flight, the seam accumulator's rows, and, on the CPU, the model's activations); a run
whose estimate exceeds what the machine has available is refused before any work with
`MemoryBudgetError`, naming the largest tile size that fits. `release_memory` drops what a
failed or cancelled run left behind (cyclic garbage holding tensors, the CUDA cache).
"""
from __future__ import annotations

import gc
import math
import sys
import traceback
from dataclasses import dataclass

from ..errors import MemoryBudgetError

#: share of the available memory a run may plan to use (the rest is QGIS's and the system's)
USABLE_SHARE = 0.8
#: tiles alive at once per batch slot: in the reader's queue, being read, in the model, being blended
TILES_IN_FLIGHT = 5
#: activations alive at once during a forward pass, in units of the widest layer's output
ACTIVATION_LAYERS = 3
FLOAT_BYTES = 4


@dataclass
class TiledRunShape:
    """What sizes a tiled run: tile side, batch, bands in and out, and the widths involved."""

    tile_size: int
    batch_size: int
    input_bands: int
    output_bands: int
    output_width: int
    """output raster width in pixels (the seam accumulator keeps about a tile row of it)"""
    scale: int = 1
    activation_channels: int = 0
    """widest layer of the model (0 when unknown or the model runs off the CPU)"""


def tiled_run_bytes(shape: TiledRunShape) -> int:
    """Estimated peak memory (bytes) a tiled run adds on top of the loaded model."""
    tile_pixels = shape.tile_size ** 2
    out_pixels = tile_pixels * shape.scale ** 2
    tiles = shape.batch_size * TILES_IN_FLIGHT * FLOAT_BYTES * (
        tile_pixels * shape.input_bands + out_pixels * shape.output_bands)
    rows = 2 * FLOAT_BYTES * (shape.output_bands + 1) * shape.tile_size * shape.scale * shape.output_width
    activations = (shape.batch_size * out_pixels * FLOAT_BYTES * ACTIVATION_LAYERS
                   * shape.activation_channels)
    return tiles + rows + activations


def widest_layer(model) -> int:
    """The largest channel count among the convolution outputs of a torch model, or of the
    torch modules a wrapper object holds (0 when there are none)."""
    holders = [model, *getattr(model, "__dict__", {}).values()]
    widths = [getattr(module, "out_channels", 0) for holder in holders
              if callable(getattr(holder, "modules", None)) for module in holder.modules()]
    return max([w for w in widths if isinstance(w, int)], default=0)


def available_memory() -> int | None:
    """Bytes the system can still give this process without swapping, or None when unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def largest_fitting_tile(shape: TiledRunShape, budget: int) -> int:
    """The largest tile side (a multiple of 32, at least 32) whose run fits in `budget` bytes."""
    def fits(steps: int) -> bool:
        return tiled_run_bytes(TiledRunShape(**{**shape.__dict__, "tile_size": 32 * steps})) <= budget

    low, high = 1, max(1, shape.tile_size // 32)  # fits(low) is assumed, the answer <= high
    if fits(high):
        return 32 * high
    while high - low > 1:  # fits(low) and not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return 32 * low


def check_tiled_run(shape: TiledRunShape, available: int | None = None) -> None:
    """Refuse (MemoryBudgetError) a run whose estimate exceeds the usable share of memory."""
    available = available_memory() if available is None else available
    if available is None or tiled_run_bytes(shape) <= int(available * USABLE_SHARE):
        return
    advice = (f"use TILE_SIZE {largest_fitting_tile(shape, int(available * USABLE_SHARE))} or "
              "less" if shape.tile_size > 32 else "process a smaller area (EXTENT)")
    check_memory(tiled_run_bytes(shape), f"This run with TILE_SIZE {shape.tile_size}", advice,
                 available)


def check_memory(needed: int, what: str, advice: str, available: int | None = None) -> None:
    """Refuse (MemoryBudgetError) work that needs `needed` bytes when more than the usable
    share of the available memory; `what` names the work and `advice` says what to lower."""
    available = available_memory() if available is None else available
    if available is None or needed <= int(available * USABLE_SHARE):
        return
    raise MemoryBudgetError(f"{what} would need about {_gib(needed)} of memory but only "
                            f"{_gib(available)} are free: {advice}, or close other programs.")


def _gib(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**28 else f"{math.ceil(count / 2**20)} MiB"


def forget_traceback(error: BaseException) -> None:
    """Clear the frames of `error`'s traceback and of the errors chained to it, so the arrays,
    models and datasets their local variables held can be freed."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__


def release_memory() -> None:
    """Collect cyclic garbage (e.g. tensors held by a failed run's objects) and return the
    CUDA cache, when torch is loaded, to the driver."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
