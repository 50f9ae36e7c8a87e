"""Scene adaptation: fine-tune a pansharpening net on the user's own MS + PAN before sharpening.

No ground truth is needed (zero-shot / target-adaptive pansharpening): following Wald's
protocol the scene's MS and PAN are both degraded by the ratio with the sensor's MTF, and the
net learns to map the degraded pair back to the original MS. The net's weights then suit this
scene's radiometry and content when it sharpens the full-resolution pair. A part of the scene
is held back from the fine-tuning and decides when to stop, at the degraded scale and, through
Wald's consistency property, at the scene's own scale, so adaptation does not make that part
worse than the model it started from.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

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


def _scene_tensors(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The MS and PAN cropped to a size the net accepts, as [1, C, H, W] tensors on its device."""
    _check_model_fits(model, ms, pan, ratio)
    multiple = model.config.multiple_of
    _patch_size(multiple, ms, multiple)
    rows, cols = (ms.shape[1] // multiple) * multiple, (ms.shape[2] // multiple) * multiple
    device = next(model.parameters()).device
    target = torch.as_tensor(np.ascontiguousarray(ms[:, :rows, :cols], dtype=np.float32), device=device)[None]
    pan_crop = torch.as_tensor(np.ascontiguousarray(pan[:, :rows * ratio, :cols * ratio],
                                                    dtype=np.float32), device=device)[None]
    return target, pan_crop


def reduced_resolution_loss(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int,
                            sensor: str = "generic") -> float:
    """Mean L1 between the net's output on the degraded scene and the original MS.

    The whole scene (cropped to a size the net accepts) goes through the net at once: pass a
    crop of a large scene.
    """
    target, pan_crop = _scene_tensors(model, ms, pan, ratio)
    ms_gains, pan_gain = sensor_gains(sensor, ms.shape[0])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        fused = model(degrade_tensor(target, ratio, ms_gains), degrade_tensor(pan_crop, ratio, pan_gain))
    model.train(was_training)
    return float((fused - target).abs().mean())


def consistency_loss(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int,
                     sensor: str = "generic") -> float:
    """Mean L1 between the net's output on the scene itself, degraded by the ratio with the
    sensor's MS MTF, and the MS (Wald's consistency property, at the scale the net is used).

    A fine-tuned net that lowers the reduced-resolution loss while this grows has learned
    something of the lower scale only (on small scenes that happened within 30 iterations).
    """
    target, pan_crop = _scene_tensors(model, ms, pan, ratio)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        fused = model(target, pan_crop)
    model.train(was_training)
    return float((degrade_tensor(fused, ratio, sensor_gains(sensor, ms.shape[0])[0]) - target).abs().mean())


ADAPT_LEARNING_RATES = {"PansharpenLite": 1e-3, "PSDNet": 1e-4}
"""Adam's starting rates (cosine decay to 1/20 over the iterations); early stopping on the
held-back part of the scene keeps a rate that overshoots from doing harm."""
DEFAULT_ADAPT_LEARNING_RATE = 1e-4
HELD_BACK_FRACTION = 0.25
"""Share of the scene's columns (its right side) never trained on: early stopping scores there."""
CHECK_EVERY = 20
"""Iterations between two scores of the held-back part."""
PATIENCE_CHECKS = 5
"""Stop after this many scores without a better held-back loss."""
CONSISTENCY_TOLERANCE = 0.05
"""A candidate's held-back consistency loss may exceed the starting model's by this fraction."""


@dataclass
class AdaptationReport:
    """How an adaptation went: held-back L1 before and at its best, and where it stopped."""

    initial_loss: float
    best_loss: float
    initial_consistency: float
    best_consistency: float
    best_iteration: int
    iterations_run: int
    seconds: float

    def sentence(self) -> str:
        """One line for the log."""
        if self.best_iteration == 0:
            return (f"Scene adaptation did not improve the held-back part of the scene in "
                    f"{self.iterations_run} iterations ({self.seconds:.1f} s): the model is "
                    f"used as it was.")
        return (f"Scene adaptation: held-back L1 {self.initial_loss:.5f} -> {self.best_loss:.5f}, "
                f"consistency {self.initial_consistency:.5f} -> {self.best_consistency:.5f} "
                f"(best at iteration {self.best_iteration} of {self.iterations_run}, "
                f"{self.seconds:.1f} s).")


def split_held_back(ms: np.ndarray, pan: np.ndarray, ratio: int, multiple_of: int
                    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((ms, pan) to train on, (ms, pan) held back): the scene's right HELD_BACK_FRACTION of
    columns, a multiple of `multiple_of` MS pixels wide, is held back. A scene too narrow to
    give both parts `2 * multiple_of` MS columns is used whole for both (early stopping then
    scores the training data, which still never lets the loss there grow)."""
    columns = ms.shape[2]
    held = int(columns * HELD_BACK_FRACTION) // multiple_of * multiple_of
    if held < 2 * multiple_of or columns - held < 2 * multiple_of:
        return (ms, pan), (ms, pan)
    cut = columns - held
    return (ms[:, :, :cut], pan[:, :, :cut * ratio]), (ms[:, :, cut:], pan[:, :, cut * ratio:])


def _own_scale_patches(ms: np.ndarray, pan: np.ndarray, ratio: int, size: int,
                       rng: np.random.Generator, device: torch.device
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """ADAPTATION_SAMPLES random (MS, PAN) patches of the scene at its own scale, MS patches
    of `size // 2` pixels (rounded to a multiple of 4): one of them costs about as much as a
    batch of reduced-resolution patches."""
    cells = max(4, size // 2 // 4 * 4)
    cells = min(cells, ms.shape[1] // 4 * 4, ms.shape[2] // 4 * 4)
    tops = rng.integers(0, ms.shape[1] - cells + 1, size=ADAPTATION_SAMPLES)
    lefts = rng.integers(0, ms.shape[2] - cells + 1, size=ADAPTATION_SAMPLES)
    ms_patches = np.stack([ms[:, t:t + cells, l:l + cells] for t, l in zip(tops, lefts)])
    pan_patches = np.stack([pan[:, t * ratio:(t + cells) * ratio, l * ratio:(l + cells) * ratio]
                            for t, l in zip(tops, lefts)])
    return (torch.as_tensor(np.ascontiguousarray(ms_patches, dtype=np.float32), device=device),
            torch.as_tensor(np.ascontiguousarray(pan_patches, dtype=np.float32), device=device))


def adapt_to_scene(model: nn.Module, ms: np.ndarray, pan: np.ndarray, ratio: int, iterations: int,
                   sensor: str = "generic", learning_rate: float | None = None,
                   progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                   *, patch_size: int = 64, batch_size: int = 4, seed: int = 0,
                   device: str | None = None, time_limit: float | None = None,
                   log: Callable[[str], None] | None = None) -> nn.Module:
    """A copy of `model` fine-tuned for at most `iterations` Adam steps on the scene at reduced
    resolution, returned with the weights that scored best on a held-back part of the scene.

    `ms` (C, h, w) and `pan` (1, h*r, w*r) are the normalized scene (or a representative crop).
    Patches come from the left part of the scene (`split_held_back`). Each step's loss is the
    model's own on a batch of reduced-resolution patches (sum of stage L1 errors) plus the
    consistency loss of one patch at the scene's own scale (its output, degraded, against its
    MS). Every CHECK_EVERY iterations the held-back part is scored (`reduced_resolution_loss`,
    `consistency_loss`); a better reduced-resolution loss becomes the new best only if the
    consistency loss stays within CONSISTENCY_TOLERANCE of the start. The run stops after
    PATIENCE_CHECKS scores without a new best or past `time_limit` seconds. The unadapted
    model is the first candidate, so neither held-back loss ends (noticeably) higher than it
    started. `model`
    itself is left untouched; the copy comes back in eval mode on `device` (default: the
    model's device); `log` gets an `AdaptationReport` sentence.
    """
    _check_model_fits(model, ms, pan, ratio)
    if iterations < 1:
        raise InputError(f"scene adaptation needs at least one iteration, got {iterations}")
    started = time.monotonic()
    target_device = resolve_device(device) if device else next(model.parameters()).device
    adapted = copy.deepcopy(model).to(target_device)
    (train_ms, train_pan), (held_ms, held_pan) = split_held_back(ms, pan, ratio,
                                                                 model.config.multiple_of)
    size = _patch_size(patch_size, train_ms, model.config.multiple_of)
    rng = np.random.default_rng(seed)
    samples = make_training_pairs(train_ms, train_pan, ratio, sensor, size, ADAPTATION_SAMPLES, rng)
    tensors = [torch.as_tensor(a).to(target_device) for a in (samples.ms_lr, samples.pan_lr, samples.target)]
    generator = torch.Generator().manual_seed(seed)
    if learning_rate is None:
        learning_rate = ADAPT_LEARNING_RATES.get(type(model).__name__, DEFAULT_ADAPT_LEARNING_RATE)
    optimizer = torch.optim.Adam(adapted.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations,
                                                          eta_min=learning_rate / 20)
    span = ProgressSpan(progress)
    initial = best_loss = reduced_resolution_loss(adapted, held_ms, held_pan, ratio, sensor)
    initial_consistency = best_consistency = consistency_loss(adapted, held_ms, held_pan, ratio, sensor)
    best_state, best_iteration, stale = copy.deepcopy(adapted.state_dict()), 0, 0
    own_scale = _own_scale_patches(train_ms, train_pan, ratio, size, rng, target_device)
    ms_gains = sensor_gains(sensor, ms.shape[0])[0]
    order = torch.randperm(len(samples), generator=generator)
    position, iteration = 0, 0
    adapted.train()
    while iteration < iterations:
        raise_if_cancelled(is_cancelled, "Scene adaptation was cancelled; nothing was sharpened. "
                           "Run it again, or sharpen without adaptation.")
        if position + batch_size > len(order):
            order, position = torch.randperm(len(samples), generator=generator), 0
        batch = order[position:position + batch_size].to(target_device)
        position += batch_size
        ms_lr, pan_lr, target = (t[batch] for t in tensors)
        outputs, _ = adapted.forward_features(ms_lr, pan_lr)
        loss = stage_l1_loss(outputs, target)
        pick = int(torch.randint(len(own_scale[0]), (1,), generator=generator))
        own_ms, own_pan = own_scale[0][pick:pick + 1], own_scale[1][pick:pick + 1]
        loss = loss + (degrade_tensor(adapted(own_ms, own_pan), ratio, ms_gains) - own_ms).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        iteration += 1
        out_of_time = time_limit is not None and time.monotonic() - started > time_limit
        if iteration % CHECK_EVERY == 0 or iteration == iterations or out_of_time:
            held_loss = reduced_resolution_loss(adapted, held_ms, held_pan, ratio, sensor)
            held_consistency = consistency_loss(adapted, held_ms, held_pan, ratio, sensor)
            if (held_loss < best_loss and held_consistency
                    <= initial_consistency * (1.0 + CONSISTENCY_TOLERANCE)):
                best_loss, best_consistency, best_iteration, stale = \
                    held_loss, held_consistency, iteration, 0
                best_state = copy.deepcopy(adapted.state_dict())
            else:
                stale += 1
            if stale >= PATIENCE_CHECKS or out_of_time:
                break
        span.report(iteration / iterations)
    span.report(1.0)
    adapted.load_state_dict(best_state)
    if log:
        log(AdaptationReport(initial, best_loss, initial_consistency, best_consistency,
                             best_iteration, iteration, time.monotonic() - started).sentence())
    return adapted.eval()
