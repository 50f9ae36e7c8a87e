"""Training GINet on labelled patches, alone or distilled from a trained teacher GINet.

Loss of one batch (all cross-entropies weighted per class and blind to the ignore index):
- CE (+ dice_weight * Dice) of the local logits against the patch labels;
- global_weight * CE of the global branch's logits against each scene's coarse labels;
- lad_weight * local affinity distillation (the local branch's pairwise feature affinities
  within each patch, distilled into the global branch's features of the same region);
- with a teacher: kd_weight * KL divergence to the teacher's softened local logits, plus
  feature_weight * the affinity distillation of the teacher's local features into the
  student's (affinities do not depend on the widths, so no adapter is needed).

Samples come from `models.data.patches.sample_patches`. Augmentation flips/transposes a whole
batch together with its scenes' global views and the patch windows, so GINet's mapping from a
patch to its region of the global view stays right, then changes its colours, brightness, haze
and scale (`segmentation_augment`).

EfficientNet-Lite nets start from their ImageNet encoders (or from `initial_state`, e.g. a
bundled model to fine-tune); their stems and first `frozen_layers` encoder layers stay frozen.
With `checkpoint_path` the model, optimizer and schedule are saved after every epoch, and a run
started again with the same path goes on from the last saved epoch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.patches import median_frequency_weights
from ..errors import InputError
from ..inference.device import resolve_device
from ..metrics.segmentation import confusion_matrix, scores_from_confusion
from ..nets.ginet import GINet, GINetConfig, GINetEfficientConfig, GINetLiteConfig
from .ginet_losses import affinity_distillation_loss, local_affinity_distillation_loss, segmentation_loss
from .ginet_setup import EpochCheckpoint, freeze_encoder_start, initial_model
from .losses import logit_distillation_loss
from .segmentation_augment import AugmentRanges, augment_batch
from .training import CancelCheck, LogCallback, ProgressCallback, ProgressSpan, TrainResult, fit, \
    cosine_schedule, frozen_copy, split_train_validation

if TYPE_CHECKING:
    from ..data.patches import SegmentationSamples


def architecture_name(config: GINetConfig) -> str:
    """The registry name of a GINet config: "ginet_efficientnet", "ginet_lite" or "ginet"."""
    if isinstance(config, GINetEfficientConfig):
        return "ginet_efficientnet"
    return "ginet_lite" if isinstance(config, GINetLiteConfig) else "ginet"


@dataclass
class TrainConfig:
    """Settings of one segmentation training run (the same fields serve teacher and student)."""

    epochs: int = 40
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 10
    """Stop after this many epochs without a better validation loss."""
    validation_fraction: float = 0.15
    seed: int = 0
    device: str = "auto"
    class_weights: list[float] | None = None
    """Per-class loss weights; None = median-frequency weights of the training labels."""
    max_class_weight: float | None = None
    """Cap on the median-frequency weights (None = no cap): a class holding a fraction of a
    percent of the labels otherwise gets a weight of 20-30 and is over-predicted."""
    dice_weight: float = 0.0
    global_weight: float = 0.4
    lad_weight: float = 1.0
    affinity_grid: int = 16
    """Side of the pooled grid the affinity matrices are computed on."""
    kd_weight: float = 1.0
    kd_temperature: float = 2.0
    feature_weight: float = 1.0
    augment: bool = True
    """Random flips and transposition of each batch (with its global views and windows)."""
    augment_ranges: AugmentRanges | None = field(default_factory=AugmentRanges)
    """Colour, brightness, haze and scale augmentation (None = flips only)."""
    frozen_layers: int = 1
    """Encoder layers (after the stem, also frozen) left untrained in EfficientNet-Lite nets."""
    encoder_learning_rate: float | None = None
    """Learning rate of the encoders (None = learning_rate): pretrained encoders keep their
    general features better at a tenth of the decoder's rate."""
    checkpoint_path: str | None = None
    minutes: float | None = None
    """Time box: stop after the epoch that ends past this many minutes (None = no limit)."""


@dataclass
class SegmentationTrainResult(TrainResult):
    """A TrainResult plus the classes (model output i is classes[i]) for the model card."""

    classes: list[dict] = field(default_factory=list)
    ignore_index: int = 255


@dataclass
class Batch:
    """One batch on the device; `scene_index` points into this batch's `global_images`."""

    images: torch.Tensor
    labels: torch.Tensor
    windows: torch.Tensor
    scene_index: torch.Tensor
    global_images: torch.Tensor
    global_labels: torch.Tensor

    def flipped(self, horizontal: bool, vertical: bool, transpose: bool) -> "Batch":
        """The batch seen through a flip/transposition, windows moved to match."""
        batch = self
        top, left, bottom, right = batch.windows.unbind(dim=1)
        if transpose:
            batch = Batch(batch.images.transpose(2, 3), batch.labels.transpose(1, 2),
                          torch.stack([left, top, right, bottom], dim=1), batch.scene_index,
                          batch.global_images.transpose(2, 3), batch.global_labels.transpose(1, 2))
            top, left, bottom, right = batch.windows.unbind(dim=1)
        if horizontal:
            batch = Batch(batch.images.flip(3), batch.labels.flip(2),
                          torch.stack([top, 1 - right, bottom, 1 - left], dim=1), batch.scene_index,
                          batch.global_images.flip(3), batch.global_labels.flip(2))
            top, left, bottom, right = batch.windows.unbind(dim=1)
        if vertical:
            batch = Batch(batch.images.flip(2), batch.labels.flip(1),
                          torch.stack([1 - bottom, left, 1 - top, right], dim=1), batch.scene_index,
                          batch.global_images.flip(2), batch.global_labels.flip(1))
        return batch


class _SampleSet:
    """Samples as tensors, batched onto a device with only the scenes a batch needs."""

    def __init__(self, samples: "SegmentationSamples", device: torch.device, augment: bool, seed: int,
                 ranges: AugmentRanges | None = None, multiple: int = 32):
        self.images = torch.as_tensor(np.ascontiguousarray(samples.images, dtype=np.float32))
        self.labels = torch.as_tensor(samples.labels.astype(np.int64))
        self.windows = torch.as_tensor(np.asarray(samples.windows, dtype=np.float32))
        self.scene_index = torch.as_tensor(np.asarray(samples.scene_index, dtype=np.int64))
        self.global_images = torch.as_tensor(np.ascontiguousarray(samples.global_images, dtype=np.float32))
        self.global_labels = torch.as_tensor(samples.global_labels.astype(np.int64))
        self.ignore_index = samples.ignore_index
        self.classes = list(samples.classes)
        self.device, self.augment, self.ranges, self.multiple = device, augment, ranges, multiple
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, indices: torch.Tensor, augment: bool = False) -> Batch:
        """The samples at `indices` with their scenes' global views, on the device."""
        scenes, local_index = torch.unique(self.scene_index[indices], return_inverse=True)
        batch = Batch(*(t.to(self.device) for t in (
            self.images[indices], self.labels[indices], self.windows[indices], local_index,
            self.global_images[scenes], self.global_labels[scenes])))
        if augment and self.augment:
            flips = torch.randint(2, (3,), generator=self.generator).tolist()
            horizontal, vertical, transpose = (bool(b) for b in flips)
            batch = batch.flipped(horizontal, vertical, transpose)
            if self.ranges is not None:
                batch = augment_batch(batch, self.ranges, self.multiple, self.generator)
        return batch

    def check_fits(self, config: GINetConfig) -> None:
        """Raise InputError unless the samples fit a net with `config`."""
        bands, classes = self.images.shape[1], len(self.classes)
        if bands != config.bands:
            raise InputError(f"the training raster has {bands} bands but the model reads "
                             f"{config.bands}; choose a model made for {bands} bands")
        if classes > config.classes:
            raise InputError(f"the labels have {classes} classes but the model has only "
                             f"{config.classes}; train a new model or merge classes")
        multiple = config.multiple_of
        for what, size in (("patch", self.images.shape[2]), ("global view", self.global_images.shape[2])):
            if size % multiple:
                raise InputError(f"the {what} size {size} is not a multiple of {multiple} pixels; "
                                 "choose another size")


def parameter_groups(model: GINet, config: TrainConfig) -> list[dict]:
    """The trainable parameters, the encoders' at `encoder_learning_rate` when it is set."""
    encoders = {id(p) for e in (model.local_encoder, model.global_encoder) for p in e.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.encoder_learning_rate is None:
        return [{"params": trainable}]
    return [{"params": [p for p in trainable if id(p) not in encoders]},
            {"params": [p for p in trainable if id(p) in encoders], "lr": config.encoder_learning_rate}]


def _class_weights(samples: _SampleSet, config: TrainConfig, classes: int) -> torch.Tensor:
    if config.class_weights is not None:
        if len(config.class_weights) != classes:
            raise InputError(f"give one class weight per class ({classes}), got {len(config.class_weights)}")
        return torch.tensor(config.class_weights, dtype=torch.float32)
    weights = median_frequency_weights([samples.labels.numpy()], classes, samples.ignore_index,
                                       cap=config.max_class_weight)
    # A class no patch shows gets the median weight (1): it may still appear in the global
    # labels, where a zero weight could leave a batch with no weighted pixel (NaN loss).
    return torch.as_tensor(np.where(weights > 0, weights, 1.0).astype(np.float32))


def _validate(model: GINet, samples: _SampleSet, indices: torch.Tensor, batch_size: int,
              classes: int) -> tuple[float, np.ndarray]:
    """(mean unweighted CE of the local logits, confusion matrix) over the validation samples."""
    total, pixels = 0.0, 0
    matrix = np.zeros((classes, classes), dtype=np.int64)
    for start in range(0, len(indices), batch_size):
        batch = samples.batch(indices[start:start + batch_size])
        logits = model(batch.images, batch.global_images, batch.windows, batch.scene_index).float()
        labelled = int((batch.labels != samples.ignore_index).sum())
        if labelled:
            total += float(segmentation_loss(logits, batch.labels, samples.ignore_index)) * labelled
            pixels += labelled
        matrix += confusion_matrix(batch.labels.cpu().numpy(), logits.argmax(1).cpu().numpy(),
                                   classes, samples.ignore_index)
    return total / max(pixels, 1), matrix


def train_segmentation(samples: "SegmentationSamples", config: TrainConfig,
                       teacher: GINet | None = None, progress: ProgressCallback | None = None,
                       is_cancelled: CancelCheck | None = None, log: LogCallback | None = None, *,
                       net_config: GINetConfig | None = None,
                       validation: "SegmentationSamples | None" = None,
                       initial_state: dict[str, torch.Tensor] | None = None) -> SegmentationTrainResult:
    """Train a GINet on `samples`; distil from `teacher` (a trained GINet) when given.

    `net_config` defaults to the lite student (`GINetLiteConfig`) for the samples' bands and
    classes; pass a `GINetConfig` to train the paper-sized net (e.g. as a teacher). The result
    holds the best-validated model (CPU, eval mode) and its validation mIoU, per-class IoU,
    overall accuracy and kappa.

    `validation` (patches of a spatially held-out area, with the same classes) replaces the
    random split of `samples`: overlapping random patches of one area score too well.
    `initial_state` (a state dict of a net with `net_config`) is where training starts.
    """
    started = time.monotonic()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    classes = len(samples.classes)
    net_config = net_config or GINetLiteConfig(bands=samples.images.shape[1], classes=classes,
                                               global_size=samples.global_images.shape[2])
    data = _SampleSet(samples, device, config.augment, config.seed, config.augment_ranges,
                      net_config.multiple_of)
    data.check_fits(net_config)
    model = initial_model(net_config, initial_state).to(device)
    frozen = freeze_encoder_start(model, config.frozen_layers)
    weights = _class_weights(data, config, classes)
    weights = torch.cat([weights, torch.ones(net_config.classes - classes)]).to(device)
    if teacher is not None:
        data.check_fits(teacher.config)
        if teacher.config.classes != net_config.classes:
            raise InputError(f"the teacher has {teacher.config.classes} classes but the student "
                             f"{net_config.classes}; distil from a teacher trained on these classes")
        teacher = frozen_copy(teacher, device)

    def loss_of_batch(indices: torch.Tensor) -> torch.Tensor:
        for module in frozen:
            module.eval()
        batch = data.batch(indices, augment=True)
        inputs = (batch.images, batch.global_images, batch.windows, batch.scene_index)
        outputs, features = model.forward_features(*inputs)
        loss = (segmentation_loss(outputs["local"], batch.labels, data.ignore_index, weights,
                                  config.dice_weight)
                + config.global_weight * segmentation_loss(outputs["global"], batch.global_labels,
                                                           data.ignore_index, weights)
                + config.lad_weight * local_affinity_distillation_loss(features, config.affinity_grid))
        if teacher is not None:
            with torch.no_grad():
                teacher_outputs, teacher_features = teacher.forward_features(*inputs)
            loss = (loss + config.kd_weight * logit_distillation_loss(
                        outputs["local"], teacher_outputs["local"], config.kd_temperature)
                    + config.feature_weight * affinity_distillation_loss(
                        features["local"], teacher_features["local"], config.affinity_grid))
        return loss

    if validation is None:
        train_indices, val_indices = split_train_validation(len(data), config.validation_fraction,
                                                            config.seed)
        held_out = data
    else:
        if validation.classes != samples.classes:
            raise InputError("the validation patches are labelled with other classes than the "
                             "training patches; label both with one class list")
        held_out = _SampleSet(validation, device, augment=False, seed=config.seed)
        train_indices, val_indices = torch.arange(len(data)), torch.arange(len(held_out))
    optimizer = torch.optim.AdamW(parameter_groups(model, config), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    scheduler = cosine_schedule(optimizer, config.epochs)
    checkpoint = (EpochCheckpoint(Path(config.checkpoint_path), model, optimizer, scheduler)
                  if config.checkpoint_path else None)
    done = checkpoint.resume() if checkpoint else 0
    if done and log is not None:
        log(f"resumed from {config.checkpoint_path} after epoch {done}")
    validations = []

    def validation_loss() -> float:
        # fit validates once before training, then after every epoch: each later call ends one
        if checkpoint is not None and validations:
            checkpoint.save(done + len(validations))
        validations.append(None)
        return _validate(model, held_out, val_indices, config.batch_size, net_config.classes)[0]

    outcome = fit(model, optimizer, loss_of_batch, validation_loss,
                  train_indices, epochs=max(config.epochs - done, 1), batch_size=config.batch_size,
                  patience=config.patience, seed=config.seed, span=ProgressSpan(progress),
                  is_cancelled=is_cancelled, log=log, scheduler=scheduler,
                  phase="segmentation_student" if teacher is not None else "segmentation",
                  deadline=started + config.minutes * 60 if config.minutes else None)
    with torch.no_grad():
        _, matrix = _validate(model, held_out, val_indices, config.batch_size, net_config.classes)
    metrics = scores_from_confusion(matrix)
    metrics["validation_samples"] = len(val_indices)
    return SegmentationTrainResult.from_loop(
        model, outcome, metrics, architecture_name(net_config), net_config, config,
        architecture_name(teacher.config) if teacher is not None else None,
        classes=data.classes, ignore_index=data.ignore_index)
