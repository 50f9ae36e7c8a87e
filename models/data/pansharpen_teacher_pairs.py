"""Training samples for sensor-agnostic pansharpening students.

Two kinds, both `PansharpenSamples` from one normalized scene (MS (C, h, w), PAN (1, h*r, w*r)):
- `multi_sensor_pairs`: Wald-protocol patches degraded with the MTF tables of several sensors
  (one set per table), so a student does not learn one sensor's blur;
- `teacher_pairs`: the scene itself at full resolution, with a teacher's fused image as the
  target (no-reference distillation: the pair has no ground truth at this scale).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .wald import PansharpenSamples, make_training_pairs

AGNOSTIC_SENSORS = ("generic", "worldview2", "quickbird", "ikonos", "geoeye1")
"""MTF tables the sensor-agnostic samples are degraded with (band counts that differ from a
table's get its mean gain)."""


def multi_sensor_pairs(ms: np.ndarray, pan: np.ndarray, ratio: int, sensors: Sequence[str],
                       patch_size: int, count: int, rng: np.random.Generator) -> PansharpenSamples:
    """`count` Wald patches for each MTF table in `sensors`, in one set."""
    if not sensors:
        raise InputError("give at least one sensor MTF table to degrade the scene with")
    return PansharpenSamples.concatenate([make_training_pairs(ms, pan, ratio, sensor, patch_size,
                                                              count, rng) for sensor in sensors])


def fuse_scene(net: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int) -> np.ndarray:
    """`net`'s fused image (C, H, W) of a whole normalized scene, on the CPU in one pass
    (rows and columns beyond whole MS pixels are dropped)."""
    rows, cols = ms.shape[1], ms.shape[2]
    ms_t = torch.as_tensor(np.ascontiguousarray(ms, dtype=np.float32))[None]
    pan_t = torch.as_tensor(np.ascontiguousarray(pan[:, :rows * ratio, :cols * ratio],
                                                 dtype=np.float32))[None]
    was_training = net.training
    net.eval()
    with torch.no_grad():
        fused = net(ms_t, pan_t)[0].numpy()
    net.train(was_training)
    return fused


def teacher_pairs(teacher: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int,
                  patch_size: int, count: int, rng: np.random.Generator) -> PansharpenSamples:
    """`count` random full-resolution patches: the MS and PAN as inputs, the teacher's fused
    image of the whole scene (so patches have no border effects) as the target.

    `patch_size` is in PAN pixels and must be a multiple of the ratio.
    """
    if patch_size % ratio:
        raise InputError(f"patch size {patch_size} must be a multiple of the ratio {ratio}")
    cells = patch_size // ratio
    if ms.shape[1] < cells or ms.shape[2] < cells:
        raise InputError(f"the MS ({ms.shape[1]}x{ms.shape[2]}) is smaller than a "
                         f"{patch_size}-pixel patch at ratio {ratio}")
    fused = fuse_scene(teacher, ms, pan, ratio)
    tops = rng.integers(0, ms.shape[1] - cells + 1, size=count)
    lefts = rng.integers(0, ms.shape[2] - cells + 1, size=count)

    def cut(array: np.ndarray, scale: int) -> np.ndarray:
        size = cells * scale
        return np.ascontiguousarray(np.stack([
            array[:, top * scale:top * scale + size, left * scale:left * scale + size]
            for top, left in zip(tops, lefts)]), dtype=np.float32)

    return PansharpenSamples(cut(ms, 1), cut(pan, ratio), cut(fused, ratio))
