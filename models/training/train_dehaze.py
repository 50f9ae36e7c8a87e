"""Training the dehazing nets with knowledge transfer (KTDN), and distilling the lite student.

Pipeline, each step returning a `TrainResult` (the model plus what its model card needs):
1. `train_teacher(clear, config)`: the "ktdn_teacher" autoencoder learns to reconstruct clear
   patches (L1 + Laplacian + colour).
2. `train_dehazer(pairs, config, teacher)`: the paper-sized "ktdn" learns hazy -> clear with
   L1 + 0.3 Laplacian pyramid + 0.5 Lab + 1.0 L1 between its bottleneck features and the
   frozen teacher's bottleneck features of the clear target (knowledge transfer). With
   `teacher=None` the transfer term is dropped (the ablation).
3. `train_student(pairs, config, teacher, big_net)`: the "dehaze_lite" student with the same
   loss, its 64-channel bottleneck mapped to the teacher's 1024 channels by a 1x1 adapter
   (trained alongside, never shipped), plus `kd_weight` x L1 to the trained big net's output.

Samples are `models.data.haze.DehazeSamples` (`make_dehaze_pairs`): hazy and clear patches
[N, bands, p, p] in the hazy patch's per-band scaling; the teacher is trained on `pairs.clear`
so that it sees the targets exactly as the dehazer's transfer loss shows them to it. The
validation loss is the mean L1 to the clear patches; metrics add PSNR/SSIM (data range 1 in
these units) of the net and of the untouched hazy input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.haze import DehazeSamples
from ..errors import InputError
from ..inference.device import resolve_device
from ..metrics.dehazing import dehazing_scores
from ..nets.ktdn import KTDN, DehazeLiteConfig, KTDNConfig, KTDNTeacherConfig
from .dehaze_losses import colour_loss, knowledge_transfer_loss, laplacian_pyramid_loss
from .losses import FeatureAdapter, output_distillation_loss
from .training import (CancelCheck, LogCallback, ProgressCallback, ProgressSpan, TrainResult,
                       fit_l1_validated, frozen_copy)

ARCHITECTURES = {KTDNConfig: "ktdn", KTDNTeacherConfig: "ktdn_teacher", DehazeLiteConfig: "dehaze_lite"}


@dataclass
class TrainConfig:
    """Settings of one dehazing training run; the loss weights default to KTDN's."""

    epochs: int = 60
    batch_size: int = 8
    learning_rate: float = 2e-4
    patience: int = 10
    """Stop after this many epochs without a better validation loss."""
    validation_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    laplacian_weight: float = 0.3
    colour_weight: float = 0.5
    """Lab L2 weight; only 3-band (RGB) nets have a colour term."""
    transfer_weight: float = 1.0
    """Weight of the L1 between student and teacher bottleneck features."""
    kd_weight: float = 0.5
    """Weight of the L1 to the big net's output when distilling the lite student."""
    augment: bool = True
    """Random flips and quarter turns of each batch."""


def _architecture(config: KTDNConfig) -> str:
    return ARCHITECTURES[type(config)]


class _PairSet:
    """(input, target) patch tensors, batched onto a device with optional random flips/turns."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, device: torch.device,
                 augment: bool, seed: int):
        self.inputs = torch.as_tensor(np.ascontiguousarray(inputs, dtype=np.float32))
        self.targets = torch.as_tensor(np.ascontiguousarray(targets, dtype=np.float32))
        if self.inputs.dim() != 4 or self.inputs.shape != self.targets.shape:
            raise InputError("training patches must be [N, bands, p, p] arrays of equal shape, got "
                             f"{tuple(self.inputs.shape)} and {tuple(self.targets.shape)}")
        self.device, self.augment = device, augment
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def bands(self) -> int:
        return self.inputs.shape[1]

    def batch(self, indices: torch.Tensor, augment: bool = False) -> list[torch.Tensor]:
        """[input, target] of the given samples on the device."""
        tensors = [t[indices].to(self.device) for t in (self.inputs, self.targets)]
        if augment and self.augment:
            turns = int(torch.randint(4, (1,), generator=self.generator))
            tensors = [torch.rot90(t, turns, (2, 3)) for t in tensors]
            if bool(torch.randint(2, (1,), generator=self.generator)):
                tensors = [t.flip(3) for t in tensors]
        return tensors

    def check_fits(self, config: KTDNConfig, role: str) -> None:
        """Raise InputError unless the patches fit a net with `config`."""
        if self.bands != config.bands:
            raise InputError(f"the samples have {self.bands} bands but the {role} is configured "
                             f"for {config.bands}; use samples and nets with the same bands")
        size = self.inputs.shape[2:]
        if size[0] % config.multiple_of or size[1] % config.multiple_of:
            raise InputError(f"training patches must be multiples of {config.multiple_of} pixels "
                             f"for the {role}, got {size[0]}x{size[1]}; choose another patch size")


class DehazingObjective:
    """The training loss of a KTDN-family net on (input, target) batches.

    `terms(x, target)` returns the unweighted terms: "l1", "laplacian", "colour" (0 unless
    3 bands), and "transfer" when a teacher is given (teacher bottleneck of the *target*),
    "distill" when a big net is given (its output on the *input*); calling the objective
    returns their weighted sum. Teacher and big net are frozen copies: no gradient reaches the
    originals. When the bottleneck widths differ a 1x1 `FeatureAdapter` (see `parameters`)
    maps the model's bottleneck onto the teacher's.
    """

    def __init__(self, model: KTDN, config: TrainConfig, device: torch.device,
                 teacher: KTDN | None = None, big_net: KTDN | None = None):
        self.model = model
        self.weights = {"l1": 1.0, "laplacian": config.laplacian_weight,
                        "colour": config.colour_weight, "transfer": config.transfer_weight,
                        "distill": config.kd_weight}
        self.teacher = frozen_copy(teacher, device) if teacher is not None else None
        self.big_net = frozen_copy(big_net, device) if big_net is not None else None
        self.adapter = None
        if self.teacher is not None:
            student, target = model.feature_channels, self.teacher.feature_channels
            if student != target:
                self.adapter = FeatureAdapter({"bottleneck": "bottleneck"}, student, target).to(device)

    @property
    def parameters(self) -> list[nn.Parameter]:
        """Trainable parameters besides the model's (the adapter's)."""
        return list(self.adapter.parameters()) if self.adapter is not None else []

    def terms(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted loss terms of one batch."""
        output, features = self.model.forward_features(x)
        terms = {"l1": (output - target).abs().mean(),
                 "laplacian": laplacian_pyramid_loss(output, target),
                 "colour": colour_loss(output, target)}
        if self.teacher is not None:
            with torch.no_grad():
                _, teacher_features = self.teacher.forward_features(target)
            if self.adapter is not None:
                features = self.adapter(features)
            terms["transfer"] = knowledge_transfer_loss(features, teacher_features)
        if self.big_net is not None:
            with torch.no_grad():
                reference = self.big_net(x)
            terms["distill"] = output_distillation_loss(output, reference)
        return terms

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(self.weights[name] * value for name, value in self.terms(x, target).items())


def _predict(model: nn.Module, pairs: _PairSet, indices: torch.Tensor,
             batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, target, input) of the given samples, on the CPU."""
    outputs, targets, inputs = [], [], []
    for start in range(0, len(indices), batch_size):
        x, target = pairs.batch(indices[start:start + batch_size])
        outputs.append(model(x).float().cpu())
        targets.append(target.cpu())
        inputs.append(x.cpu())
    return torch.cat(outputs), torch.cat(targets), torch.cat(inputs)


def _train(pairs: _PairSet, net_config: KTDNConfig, config: TrainConfig, *, teacher: KTDN | None,
           big_net: KTDN | None, progress: ProgressCallback | None,
           is_cancelled: CancelCheck | None, log: LogCallback | None, phase: str,
           distilled_from: str | None, input_metrics: bool = True) -> TrainResult:
    """Shared body: build the net, optimize the objective with `fit`, measure, package.

    With `input_metrics` the metrics also score the untouched input ("input_psnr",
    "input_ssim"), the do-nothing reference for a dehazer (meaningless for the autoencoder).
    """
    device = pairs.device
    pairs.check_fits(net_config, _architecture(net_config))
    for role, other in (("teacher", teacher), ("big net", big_net)):
        if other is not None:
            pairs.check_fits(other.config, role)
    model = KTDN(net_config).to(device)
    objective = DehazingObjective(model, config, device, teacher, big_net)
    outcome, val_indices = fit_l1_validated(
        model, objective.parameters, config.learning_rate, config,
        lambda idx: objective(*pairs.batch(idx, augment=True)),
        lambda idx: _predict(model, pairs, idx, config.batch_size), len(pairs),
        span=ProgressSpan(progress), is_cancelled=is_cancelled, log=log, phase=phase)
    with torch.no_grad():
        output, target, x = _predict(model, pairs, val_indices, config.batch_size)
    # patches are in the hazy scene's scaling, where clear values span more than [0, 1]
    data_range = float(target.max() - target.min()) or 1.0
    metrics = dehazing_scores(output, target, data_range)
    if input_metrics:
        metrics.update({f"input_{name}": value
                        for name, value in dehazing_scores(x, target, data_range).items()})
    metrics["l1"] = float((output - target).abs().mean())
    metrics["validation_samples"] = len(val_indices)
    return TrainResult.from_loop(model, outcome, metrics, _architecture(net_config), net_config,
                                 config, distilled_from)


def train_teacher(clear: np.ndarray, config: TrainConfig,
                  progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                  log: LogCallback | None = None, *,
                  net_config: KTDNTeacherConfig | None = None) -> TrainResult:
    """The clear-image autoencoder ("ktdn_teacher") trained to reconstruct `clear` patches
    [N, bands, p, p] (normally `pairs.clear`); its metrics are reconstruction PSNR/SSIM."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    patches = _PairSet(clear, clear, device, config.augment, config.seed)
    net_config = net_config or KTDNTeacherConfig(bands=patches.bands)
    return _train(patches, net_config, config, teacher=None, big_net=None, progress=progress,
                  is_cancelled=is_cancelled, log=log, phase="teacher", distilled_from=None,
                  input_metrics=False)


def train_dehazer(pairs: DehazeSamples, config: TrainConfig, teacher: KTDN | None = None,
                  progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                  log: LogCallback | None = None, *, net_config: KTDNConfig | None = None,
                  big_net: KTDN | None = None) -> TrainResult:
    """A dehazing net (default: the paper-sized "ktdn" for the samples' bands) trained on
    `pairs`, with knowledge transfer from `teacher` (a trained "ktdn_teacher") unless None,
    and output distillation from `big_net` when given."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    patches = _PairSet(pairs.hazy, pairs.clear, device, config.augment, config.seed)
    net_config = net_config or KTDNConfig(bands=patches.bands)
    sources = [name for name, net in (("ktdn_teacher (knowledge transfer)", teacher),
                                      ("ktdn (outputs)", big_net)) if net is not None]
    phase = _architecture(net_config) + ("" if teacher is not None else " (no transfer)")
    return _train(patches, net_config, config, teacher=teacher, big_net=big_net,
                  progress=progress, is_cancelled=is_cancelled, log=log, phase=phase,
                  distilled_from=" + ".join(sources) or None)


def train_student(pairs: DehazeSamples, config: TrainConfig, teacher: KTDN | None = None,
                  big_net: KTDN | None = None, progress: ProgressCallback | None = None,
                  is_cancelled: CancelCheck | None = None, log: LogCallback | None = None, *,
                  net_config: DehazeLiteConfig | None = None) -> TrainResult:
    """The lite student ("dehaze_lite"), distilled from `teacher` (bottleneck features, through
    an adapter) and `big_net` (outputs); with both None it is trained alone (the ablation)."""
    net_config = net_config or DehazeLiteConfig(bands=int(pairs.hazy.shape[1]))
    return train_dehazer(pairs, config, teacher, progress, is_cancelled, log,
                         net_config=net_config, big_net=big_net)
