"""Scene adaptation: fine-tune a pansharpening net on the user's own MS + PAN before sharpening.

No ground truth is needed (zero-shot / target-adaptive pansharpening): following Wald's
protocol the scene's MS and PAN are both degraded by the ratio with the sensor's MTF, and the
net learns to map the degraded pair back to the original MS. The net's weights then suit this
scene's radiometry and content when it sharpens the full-resolution pair.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..data.wald import degrade_tensor, make_training_pairs, sensor_gains
from ..errors import InputError
from ..inference.device import resolve_device
from .losses import stage_l1_loss
from .training import CancelCheck, ProgressCallback, ProgressSpan, raise_if_cancelled

ADAPTATION_SAMPLES = 256
"""Patches cut from the scene once; iterations cycle through them in shuffled batches."""


def _check_model_fits(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int) -> None:
    config = model.config
    if getattr(config, "teacher", False):
        raise InputError("a ground-truth teacher cannot be adapted to a scene (it needs the "
                         "reference image); adapt the PSDNet or lite model instead")
    if config.ratio != ratio or config.ms_bands != ms.shape[0]:
        raise InputError(f"the model sharpens {config.ms_bands} bands at ratio {config.ratio} but the "
                         f"scene has {ms.shape[0]} bands at ratio {ratio}; choose a matching model")
    if pan.ndim != 3 or pan.shape[0] != 1:
        raise InputError(f"the PAN must be a (1, H, W) array, got shape {pan.shape}")


def _patch_size(wanted: int, ms: np.ndarray, multiple_of: int) -> int:
    """`wanted`, or less on a small scene: the largest multiple of `multiple_of` that fits."""
    size = (min(wanted, ms.shape[1], ms.shape[2]) // multiple_of) * multiple_of
    if size < multiple_of:
        raise InputError(f"the scene ({ms.shape[1]}x{ms.shape[2]} MS pixels) is too small to adapt "
                         f"this model: it needs at least {multiple_of} MS pixels on each side")
    return size


def reduced_resolution_loss(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int,
                            sensor: str = "generic") -> float:
    """Mean L1 between the net's output on the degraded scene and the original MS.

    The whole scene (cropped to a size the net accepts) goes through the net at once: pass a
    crop of a large scene.
    """
    _check_model_fits(model, ms, pan, ratio)
    multiple = model.config.multiple_of
    _patch_size(multiple, ms, multiple)
    rows, cols = (ms.shape[1] // multiple) * multiple, (ms.shape[2] // multiple) * multiple
    device = next(model.parameters()).device
    target = torch.as_tensor(np.ascontiguousarray(ms[:, :rows, :cols], dtype=np.float32), device=device)[None]
    pan_crop = torch.as_tensor(np.ascontiguousarray(pan[:, :rows * ratio, :cols * ratio],
                                                    dtype=np.float32), device=device)[None]
    ms_gains, pan_gain = sensor_gains(sensor, ms.shape[0])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        fused = model(degrade_tensor(target, ratio, ms_gains), degrade_tensor(pan_crop, ratio, pan_gain))
    model.train(was_training)
    return float((fused - target).abs().mean())


#: fine-tuning rates; on the held-out SpaceNet pair, higher rates for the lite student
#: (1e-4, 1e-3) overfit the small degraded scene (reduced-resolution ERGAS 10.7, 13.1 vs 8.3)
ADAPT_LEARNING_RATES = {"PansharpenLite": 2e-5, "PSDNet": 5e-5}
DEFAULT_ADAPT_LEARNING_RATE = 5e-5


def adapt_to_scene(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int, iterations: int,
                   sensor: str = "generic", learning_rate: float | None = None,
                   progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                   *, patch_size: int = 64, batch_size: int = 4, seed: int = 0,
                   device: str | None = None) -> nn.Module:
    """A copy of `model` fine-tuned for `iterations` Adam steps on the scene at reduced resolution.

    `ms` (C, h, w) and `pan` (1, h*r, w*r) are the normalized scene (or a representative crop).
    The loss is the model's own (sum of stage L1 errors). `model` itself is left untouched; the
    copy comes back in eval mode on `device` (default: the model's device).
    """
    _check_model_fits(model, ms, pan, ratio)
    if iterations < 1:
        raise InputError(f"scene adaptation needs at least one iteration, got {iterations}")
    target_device = resolve_device(device) if device else next(model.parameters()).device
    adapted = copy.deepcopy(model).to(target_device)
    size = _patch_size(patch_size, ms, model.config.multiple_of)
    rng = np.random.default_rng(seed)
    samples = make_training_pairs(ms, pan, ratio, sensor, size, ADAPTATION_SAMPLES, rng)
    tensors = [torch.as_tensor(a).to(target_device) for a in (samples.ms_lr, samples.pan_lr, samples.target)]
    generator = torch.Generator().manual_seed(seed)
    if learning_rate is None:
        learning_rate = ADAPT_LEARNING_RATES.get(type(model).__name__, DEFAULT_ADAPT_LEARNING_RATE)
    optimizer = torch.optim.Adam(adapted.parameters(), lr=learning_rate)
    span = ProgressSpan(progress)
    order = torch.randperm(len(samples), generator=generator)
    position = 0
    adapted.train()
    for iteration in range(iterations):
        raise_if_cancelled(is_cancelled, "Scene adaptation was cancelled; nothing was sharpened. "
                           "Run it again, or sharpen without adaptation.")
        if position + batch_size > len(order):
            order, position = torch.randperm(len(samples), generator=generator), 0
        batch = order[position:position + batch_size].to(target_device)
        position += batch_size
        ms_lr, pan_lr, target = (t[batch] for t in tensors)
        outputs, _ = adapted.forward_features(ms_lr, pan_lr)
        loss = stage_l1_loss(outputs, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        span.report((iteration + 1) / iterations)
    return adapted.eval()
