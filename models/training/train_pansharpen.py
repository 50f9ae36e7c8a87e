"""Training the pansharpening nets: PSDNet (with its ground-truth teacher) and the lite student.

Pipeline, each step returning a `TrainResult` (the model plus what its model card needs):
1. `train_teacher`: PSDNet as in the paper, but for two things: its stages correct the lite
   student's local MTF-GLP injection rather than the bicubic MS (`glp_window`), and it sees
   the student's spectrally jittered patches (held-out ERGAS of PSDNet, no-data fill scored
   as then: SpaceNet 8.23 -> 7.96, WorldView-3 9.11 -> 7.89; README). First the privileged
   teacher (PSDNet with `teacher=True`, fed the ground truth at stage 2), then the normal
   PSDNet trained with the sum of stage L1 losses plus feature distillation (MSE on the
   stage-2 decoder and stage-3 features) from that teacher. The result is the inference-ready
   PSDNet.
2. `train_student`: the lite net, with L1 to the target plus, when a teacher is given, output
   distillation (L1 to the teacher's fused image) and feature distillation (a 1x1 adapter maps
   the student's last hidden features onto the teacher's stage-3 features; the adapter is
   discarded afterwards). `teacher=None` trains the plain student (the ablation).

Samples are Wald-protocol patches (`models.data.wald.make_training_pairs`): `ms_lr`
[N, C, p/r, p/r], `pan_lr` [N, 1, p, p] and `target` [N, C, p, p], float32, normalized.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.wald import PansharpenSamples
from ..errors import InputError
from ..inference.device import resolve_device
from ..metrics.pansharpening import ergas, q2n, sam
from ..nets.pansharpen_common import upsample_ms
from ..nets.pansharpen_lite import PansharpenLite, PansharpenLiteConfig
from ..nets.psdnet import PSDNet, PSDNetConfig
from .losses import FeatureAdapter, feature_distillation_loss, output_distillation_loss, \
    stage_l1_loss
from .training import (CancelCheck, LogCallback, ProgressCallback, ProgressSpan, TrainResult,
                       fit_l1_validated, frozen_copy)

PSDNET_FEATURE_WEIGHT = 1e-6
"""Feature-distillation weight of the PSDNet paper's official code."""
PSDNET_LEARNING_RATE = 2e-4
"""Adam's learning rate for PSDNet (the paper's)."""
LITE_LEARNING_RATE = 3e-3
"""Adam's learning rate for the lite student: its few thousand weights learn far faster at a
higher rate (on WorldView-2 patches, 30 epochs: ERGAS 6.0 at 2e-4, 4.2 at 1e-3, 3.7 at 3e-3)."""
GLP_WINDOW = 8
"""Window (MS pixels) of the local injection gains both nets start from: 32 PAN pixels at
ratio 4, within twice the engine's default overlap of 32 (on the held-out scenes this window
and one over the whole patch scored alike for the lite student)."""
LITE_FEATURE_WEIGHT = 0.1
"""Feature-distillation weight for the lite student (mean-squared features vs L1 images)."""


@dataclass
class TrainConfig:
    """Settings of one training run (the same fields serve teacher and student)."""

    epochs: int = 60
    batch_size: int = 8
    learning_rate: float | None = None
    """Adam's learning rate; None = PSDNET_LEARNING_RATE for PSDNet, LITE_LEARNING_RATE for
    the lite student."""
    patience: int = 10
    """Stop after this many epochs without a better validation loss."""
    time_limit: float | None = None
    """Seconds after which training stops at the end of the epoch (None: no time box)."""
    validation_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    kd_weight: float = 0.5
    """Weight of the output distillation (L1 to the teacher's image) for the lite student."""
    feature_weight: float | None = None
    """Weight of the feature-distillation MSE; None = PSDNET_FEATURE_WEIGHT when training
    PSDNet, LITE_FEATURE_WEIGHT when training the lite student."""
    augment: bool = True
    """Random flips and quarter turns of each batch."""
    spectral_jitter: float = 0.4
    """With `augment`: each patch's MS bands (input and target alike) and its PAN are scaled
    by random gains in [1 - j, 1 + j], so the net does not learn one sensor's fixed
    band-to-PAN relation (lite student, development runs with tile-wide gains, held-out
    ERGAS: SpaceNet 7.29 / 7.58 -> 7.27 / 7.03 for seeds 0 / 1, WorldView-3 8.21 -> 7.96).
    PSDNet trains on the same jittered patches the student distils on."""


class _PatchSet:
    """Wald samples as tensors, batched onto a device with optional random flips/turns."""

    def __init__(self, samples: PansharpenSamples, device: torch.device, augment: bool, seed: int,
                 spectral_jitter: float = 0.0):
        self.ms = torch.as_tensor(np.ascontiguousarray(samples.ms_lr, dtype=np.float32))
        self.pan = torch.as_tensor(np.ascontiguousarray(samples.pan_lr, dtype=np.float32))
        self.target = torch.as_tensor(np.ascontiguousarray(samples.target, dtype=np.float32))
        count = self.ms.shape[0]
        if self.pan.shape[0] != count or self.target.shape[0] != count:
            raise InputError("the training samples have different numbers of MS, PAN and target "
                             "patches; rebuild them with make_training_pairs")
        if self.ms.dim() != 4 or self.target.shape[2] % self.ms.shape[2]:
            raise InputError("the training targets must be whole multiples of the MS patch size")
        self.ratio = self.target.shape[2] // self.ms.shape[2]
        self.bands = self.ms.shape[1]
        self.device, self.augment, self.spectral_jitter = device, augment, spectral_jitter
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __len__(self) -> int:
        return self.ms.shape[0]

    def batch(self, indices: torch.Tensor, augment: bool = False) -> list[torch.Tensor]:
        """[ms, pan, target] of the given samples on the device."""
        tensors = [t[indices].to(self.device) for t in (self.ms, self.pan, self.target)]
        if augment and self.augment:
            turns = int(torch.randint(4, (1,), generator=self.generator))
            flip = bool(torch.randint(2, (1,), generator=self.generator))
            tensors = [torch.rot90(t, turns, (2, 3)) for t in tensors]
            if flip:
                tensors = [t.flip(3) for t in tensors]
            if self.spectral_jitter:
                tensors = self._jitter(*tensors)
        return tensors

    def _jitter(self, ms: torch.Tensor, pan: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
        """Random gains in [1 - j, 1 + j]: one per MS band of each patch (input and target
        alike) and one per PAN."""
        def gains(channels: int) -> torch.Tensor:
            draw = torch.rand(ms.shape[0], channels, 1, 1, generator=self.generator)
            return (1.0 + self.spectral_jitter * (2.0 * draw - 1.0)).to(ms.device)

        band_gains = gains(ms.shape[1])
        return [ms * band_gains, pan * gains(1), target * band_gains]

    def check_fits(self, bands: int, ratio: int, multiple_of: int) -> None:
        """Raise InputError unless the patches fit a net for `bands` at `ratio`."""
        if self.bands != bands or self.ratio != ratio:
            raise InputError(f"the samples have {self.bands} bands at ratio {self.ratio} but the "
                             f"net is configured for {bands} bands at ratio {ratio}")
        size = self.target.shape[2]
        if size % multiple_of or self.target.shape[3] % multiple_of:
            raise InputError(f"training patches must be multiples of {multiple_of} pixels for "
                             f"this net, got {size}; choose another patch size")


def _evaluate(model: nn.Module, patches: _PatchSet, indices: torch.Tensor, batch_size: int,
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(fused, target, bicubic) of the validation samples, on the CPU."""
    fused, target, bicubic = [], [], []
    for start in range(0, len(indices), batch_size):
        ms, pan, truth = patches.batch(indices[start:start + batch_size])
        outputs, _ = model.forward_features(ms, pan, truth)
        fused.append(outputs[-1].float().cpu())
        target.append(truth.cpu())
        bicubic.append(upsample_ms(ms, patches.ratio).cpu())
    return torch.cat(fused), torch.cat(target), torch.cat(bicubic)


def _mosaic(images: torch.Tensor) -> np.ndarray:
    """[N, C, p, p] patches -> one (C, p, N*p) image, the patches side by side."""
    count, bands, rows, cols = images.shape
    return images.permute(1, 2, 0, 3).reshape(bands, rows, count * cols).double().numpy()


def validation_metrics(fused: torch.Tensor, target: torch.Tensor, bicubic: torch.Tensor,
                       ratio: int) -> dict[str, float]:
    """Reduced-resolution quality of `fused` (and of the bicubic MS, for reference).

    L1 (normalized units), SAM (degrees), ERGAS and Q2n against the reference MS, computed on
    the validation patches laid side by side (Q2n on blocks of at most 32 pixels).
    """
    reference = _mosaic(target)
    block = min(32, target.shape[-1])
    metrics = {}
    for prefix, image in (("", fused), ("bicubic_", bicubic)):
        candidate = _mosaic(image)
        metrics[f"{prefix}l1"] = float((image - target).abs().mean())
        metrics[f"{prefix}sam_degrees"] = sam(reference, candidate)
        metrics[f"{prefix}ergas"] = ergas(reference, candidate, ratio)
        metrics[f"{prefix}q2n"] = q2n(reference, candidate, block_size=block, shift=block)
    return metrics


def _seeded_patches(samples: PansharpenSamples, config: TrainConfig) -> tuple[torch.device, _PatchSet]:
    """The training device, with torch seeded from the config, and the samples on it."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    return device, _PatchSet(samples, device, config.augment, config.seed, config.spectral_jitter)


def _new_net(net_class, net_config, patches: _PatchSet, device: torch.device) -> nn.Module:
    """A fresh net of `net_config`, checked to fit the samples, on `device`."""
    patches.check_fits(net_config.ms_bands, net_config.ratio, net_config.multiple_of)
    return net_class(net_config).to(device)


def _run(model: nn.Module, patches: _PatchSet, config: TrainConfig, loss_of_batch,
         extra_parameters: list[nn.Parameter], span: ProgressSpan, is_cancelled, log,
         phase: str, architecture: str, distilled_from: str | None) -> TrainResult:
    """Shared body of every training phase: split, optimize with `fit`, measure, package."""
    rate = config.learning_rate or (LITE_LEARNING_RATE if architecture == "pansharpen_lite"
                                    else PSDNET_LEARNING_RATE)
    outcome, val_indices = fit_l1_validated(
        model, extra_parameters, rate, config,
        lambda idx: loss_of_batch(*patches.batch(idx, augment=True)),
        lambda idx: _evaluate(model, patches, idx, config.batch_size), len(patches),
        span=span, is_cancelled=is_cancelled, log=log, phase=phase,
        deadline=None if config.time_limit is None else time.monotonic() + config.time_limit)
    with torch.no_grad():
        metrics = validation_metrics(*_evaluate(model, patches, val_indices, config.batch_size),
                                     ratio=patches.ratio)
    metrics["validation_samples"] = len(val_indices)
    return TrainResult.from_loop(model, outcome, metrics, architecture, model.config, config,
                                 distilled_from)


def train_psdnet(samples: PansharpenSamples, config: TrainConfig, *,
                 net_config: PSDNetConfig | None = None, teacher: PSDNet | None = None,
                 progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                 log: LogCallback | None = None, span: ProgressSpan | None = None) -> TrainResult:
    """One PSDNet training phase: sum of stage L1 losses, plus feature distillation from
    `teacher` (a trained privileged PSDNet) when given.

    `net_config` defaults to a PSDNet for the samples' band count and ratio; set its `teacher`
    flag to train the privileged teacher itself. `span` (instead of `progress`) places this
    phase inside a longer progress bar.
    """
    device, patches = _seeded_patches(samples, config)
    net_config = net_config or PSDNetConfig(ms_bands=patches.bands, ratio=patches.ratio,
                                            glp_window=GLP_WINDOW)
    model = _new_net(PSDNet, net_config, patches, device)
    weight = PSDNET_FEATURE_WEIGHT if config.feature_weight is None else config.feature_weight
    if teacher is not None:
        teacher = frozen_copy(teacher, device)

    def loss_of_batch(ms, pan, target):
        outputs, features = model.forward_features(ms, pan, target)
        loss = stage_l1_loss(outputs, target)
        if teacher is not None:
            with torch.no_grad():
                _, teacher_features = teacher.forward_features(ms, pan, target)
            loss = loss + weight * feature_distillation_loss(features, teacher_features)
        return loss

    phase = "psdnet_teacher" if net_config.teacher else "psdnet"
    return _run(model, patches, config, loss_of_batch, [], span or ProgressSpan(progress),
                is_cancelled, log, phase, "psdnet",
                "psdnet (ground-truth teacher)" if teacher is not None else None)


def train_teacher(samples: PansharpenSamples, config: TrainConfig,
                  progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                  log: LogCallback | None = None, *, net_config: PSDNetConfig | None = None,
                  privileged: bool = True) -> TrainResult:
    """The inference-ready PSDNet that the lite student learns from.

    With `privileged` (the paper's scheme) a ground-truth-fed PSDNet is trained first (first
    half of the progress bar) and distilled into the normal PSDNet (second half); the returned
    history holds both phases. Without it, PSDNet is trained on its stage losses alone.
    """
    net_config = net_config or PSDNetConfig(ms_bands=int(samples.ms_lr.shape[1]), ratio=samples.ratio,
                                            glp_window=GLP_WINDOW)
    span = ProgressSpan(progress)
    if not privileged:
        return train_psdnet(samples, config, net_config=dataclasses.replace(net_config, teacher=False),
                            is_cancelled=is_cancelled, log=log, span=span)
    oracle = train_psdnet(samples, config, net_config=dataclasses.replace(net_config, teacher=True),
                          is_cancelled=is_cancelled, log=log, span=span.part(0.0, 0.5))
    result = train_psdnet(samples, config, net_config=dataclasses.replace(net_config, teacher=False),
                          teacher=oracle.model, is_cancelled=is_cancelled, log=log,
                          span=span.part(0.5, 1.0))
    result.history = oracle.history + result.history
    return result


def train_student(samples: PansharpenSamples, config: TrainConfig, teacher: nn.Module | None = None,
                  progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                  log: LogCallback | None = None, *,
                  net_config: PansharpenLiteConfig | None = None) -> TrainResult:
    """The lite student, distilled from `teacher` (a trained PSDNet) or, with None, alone.

    Loss: L1 to the target + kd_weight * L1 to the teacher's fused image + feature_weight *
    MSE between the adapted student features and the teacher's stage-3 features.
    """
    device, patches = _seeded_patches(samples, config)
    net_config = net_config or PansharpenLiteConfig(ms_bands=patches.bands, ratio=patches.ratio,
                                                    glp_window=GLP_WINDOW)
    model = _new_net(PansharpenLite, net_config, patches, device)
    weight = LITE_FEATURE_WEIGHT if config.feature_weight is None else config.feature_weight
    adapter_parameters: list[nn.Parameter] = []
    if teacher is not None:
        teacher = frozen_copy(teacher, device)
        if "stage3" not in teacher.feature_channels:
            raise InputError("the lite student distils from a PSDNet teacher (it needs its "
                             "stage-3 features); pass a trained PSDNet or None")
        patches.check_fits(teacher.config.ms_bands, teacher.config.ratio, teacher.config.multiple_of)
        adapter = FeatureAdapter({"hidden": "stage3"}, model.feature_channels,
                                 teacher.feature_channels).to(device)
        adapter_parameters = list(adapter.parameters())

    def loss_of_batch(ms, pan, target):
        outputs, features = model.forward_features(ms, pan)
        loss = stage_l1_loss(outputs, target)
        if teacher is not None:
            with torch.no_grad():
                teacher_outputs, teacher_features = teacher.forward_features(ms, pan, target)
            loss = (loss + config.kd_weight * output_distillation_loss(outputs[-1], teacher_outputs[-1])
                    + weight * feature_distillation_loss(adapter(features),
                                                         {"stage3": teacher_features["stage3"]}))
        return loss

    return _run(model, patches, config, loss_of_batch, adapter_parameters, ProgressSpan(progress),
                is_cancelled, log, "student", "pansharpen_lite",
                "psdnet" if teacher is not None else None)


PUBLISHED_TEACHER_LEARNING_RATE = 1e-4
"""Adam's rate for fine-tuning a published teacher: its pretrained weights are kept close."""


def fine_tune_teacher(samples: PansharpenSamples, config: TrainConfig, teacher: nn.Module,
                      progress: ProgressCallback | None = None,
                      is_cancelled: CancelCheck | None = None,
                      log: LogCallback | None = None) -> TrainResult:
    """A copy of a published teacher (FusionNet, DiCNN) fine-tuned with L1 on the samples.

    It starts from the pretrained weights and learns the samples' scaling, MTF and sensors;
    `config.learning_rate` defaults to PUBLISHED_TEACHER_LEARNING_RATE.
    """
    device, patches = _seeded_patches(samples, config)
    patches.check_fits(teacher.config.ms_bands, teacher.config.ratio, teacher.config.multiple_of)
    model = copy.deepcopy(teacher).to(device).train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    config = dataclasses.replace(config, learning_rate=config.learning_rate
                                 or PUBLISHED_TEACHER_LEARNING_RATE)
    architecture = type(teacher).__name__.lower()

    def loss_of_batch(ms, pan, target):
        return stage_l1_loss(model.forward_features(ms, pan)[0], target)

    return _run(model, patches, config, loss_of_batch, [], ProgressSpan(progress), is_cancelled,
                log, "teacher", architecture, f"published {architecture} (pretrained)")
