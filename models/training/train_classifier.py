"""Training scene classifiers on a `ChipSet`: plain CE, class-centric KD or class-aware
self-distillation (CASD), all through the shared `fit` loop.

Every method sees `batch_size` chips per step and as many chips per epoch as the training
split holds, so their epochs cost the same:
- "plain": random chips, cross-entropy (the ablation);
- "class_centric": `batch_size / per_class` random anchors, each with `per_class - 1` other
  chips of its class; CE + centre_weight * `ClassCentreLoss` to a teacher's class centres
  + kd_weight * the KL divergence to the teacher's softened class distribution;
- "class_aware": `batch_size / 3` anchors, each with a same-class chip and a chip of a class
  the model currently confuses with it; CE on all three + margin_weight * the CASD hinge.
Batches are normalized with the set's band scaling, resized to the net's input size and
augmented with the eight flips/rotations of the square (overhead scenes have no "up"), and
optionally with random crops (scale) and brightness / contrast / saturation jitter.
Validation (for early stopping) is the cross-entropy of a held-out split; the card gets its
overall accuracy and kappa. A net can start from a pretrained encoder (`backbone`) and keep
its first blocks frozen (`frozen_until`); `checkpoint` makes a run resumable after each epoch.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..catalogue import CLASSIFIER_METHODS
from ..data.chips import ChipSet, chip_scaling, resize_chips
from ..errors import InputError
from ..inference.device import resolve_device
from ..inference.scaling import BandScaling
from ..metrics.classification import classification_scores
from ..nets import build
from .class_aware import ClassAwareMarginLoss, TripletSampler
from .class_centric import ClassCentreLoss, balanced_batch, teacher_centres, teacher_logit_table
from .losses import logit_distillation_loss
from .training import (CancelCheck, LogCallback, ProgressCallback, ProgressSpan, TrainResult, fit,
                       split_train_validation)

SYMMETRIES = 8
"""The turns and flips of the square (`dihedral` codes 0-7)."""


@dataclass
class ClassifierTrainConfig:
    """Settings of one classifier training run."""

    method: str = "plain"
    epochs: int = 30
    batch_size: int = 32
    """Chips per step (anchors and their partners together)."""
    per_class: int = 1
    """class_centric: chips of each class in a batch (1 = random batches). On AID (60 epochs,
    teacher at 0.60 validation accuracy) batches of 4 chips per class cost the student 6
    points (0.547 against 0.614 with random batches): a batch then spans 8 classes, not ~20."""
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    patience: int = 10
    validation_fraction: float = 0.15
    seed: int = 0
    device: str = "auto"
    augment: bool = True
    label_smoothing: float = 0.1
    centre_weight: float = 1.0
    kd_weight: float = 1.0
    """class_centric: weight of the soft-label KD term (0 = the centre loss alone)."""
    margin_weight: float = 1.0
    initial_margin: float = 1.0
    temperature: float = 4.0
    """Softens the class distributions compared by KD (class_centric) and the CASD hinge."""
    minutes: float | None = None
    """Time box: stop after the epoch that ends past this many minutes (None = no limit)."""
    split_seed: int | None = None
    """Seed of the stratified validation split (None = `seed`): runs that share it (a teacher
    and its students) hold out the same chips."""
    frozen_until: str | None = None
    """EfficientNet-Lite nets: keep the stem and the blocks up to this output stride ("stride4",
    "stride8", ...) fixed, BatchNorm statistics included (None = train everything)."""
    scale_jitter: float = 0.0
    """Random crops whose side is between 1 - scale_jitter and 1 of the chip's."""
    colour_jitter: float = 0.0
    """Brightness, contrast and saturation each scaled by a random factor in 1 +- this."""

    def __post_init__(self):
        if self.method not in CLASSIFIER_METHODS:
            raise InputError(f"Unknown METHOD '{self.method}': use one of "
                             f"{', '.join(CLASSIFIER_METHODS)}.")
        if self.per_class < 1 or self.kd_weight < 0 or self.temperature <= 0:
            raise InputError(f"per_class must be at least 1 (got {self.per_class}), kd_weight at "
                             f"least 0 (got {self.kd_weight}) and temperature above 0 (got "
                             f"{self.temperature})")


@dataclass
class ClassifierTrainResult(TrainResult):
    """A TrainResult plus what a classification card needs."""

    classes: list[dict] = field(default_factory=list)
    scaling: BandScaling | None = None
    seconds: float = 0.0


class ChipBatches:
    """A ChipSet as tensors: normalized, resized, augmented batches on a device."""

    def __init__(self, chips: ChipSet, scaling: BandScaling, device: torch.device, seed: int):
        self.images = torch.as_tensor(chips.images)
        self.labels = torch.as_tensor(chips.labels)
        low, high = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1)
                     for v in (scaling.low, scaling.high))
        self.low, self.span = low.to(device), (high - low).to(device)
        self.device = device
        self.generator = torch.Generator().manual_seed(seed + 1)

    def batch(self, indices: torch.Tensor, size: int,
              transforms: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized float32 [B, bands, size, size] of the chips at `indices`, each turned by
        its code in `transforms` (see `dihedral`; None: as they are)."""
        images = self.images[indices].to(self.device).float()
        images = resize_chips((images - self.low) / self.span, size)
        return images if transforms is None else dihedral(images, transforms)

    def augmented(self, indices: torch.Tensor, size: int, scale_jitter: float,
                  colour_jitter: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, symmetry codes): the chips at `indices` randomly cropped to a side of
        1 - scale_jitter .. 1 of theirs, resized to `size`, colour-jittered and turned."""
        views = self.random_transforms(len(indices))
        images = self.images[indices].to(self.device).float()
        images = (images - self.low) / self.span
        if scale_jitter > 0:
            images = random_crops(images, size, scale_jitter, self.generator)
        else:
            images = resize_chips(images, size)
        if colour_jitter > 0:
            images = jitter_colours(images, colour_jitter, self.generator)
        return dihedral(images, views), views

    def random_transforms(self, count: int) -> torch.Tensor:
        """`count` random symmetry codes for `batch` (augmentation)."""
        return torch.randint(SYMMETRIES, (count,), generator=self.generator)

    def labels_of(self, indices: torch.Tensor) -> torch.Tensor:
        return self.labels[indices].to(self.device)


def random_crops(images: torch.Tensor, size: int, scale_jitter: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Each image cropped to a random square of 1 - scale_jitter .. 1 of its side, at a random
    place, and resampled (bilinear) to size x size."""
    count = len(images)
    scale = 1.0 - scale_jitter * torch.rand(count, generator=generator)
    shift = (1.0 - scale)[:, None] * (2.0 * torch.rand(count, 2, generator=generator) - 1.0)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(images.device), [count, images.shape[1], size, size],
                         align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def jitter_colours(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation of each image scaled by factors in 1 +- strength
    (contrast around the image mean, saturation around the pixel's band mean)."""
    factors = (1.0 + strength * (2.0 * torch.rand(3, len(images), 1, 1, 1, generator=generator) - 1.0)
               ).to(images.device)
    images = images * factors[0]
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * factors[1] + mean
    grey = images.mean(dim=1, keepdim=True)
    return (images - grey) * factors[2] + grey


def dihedral(images: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Each image turned by one of the 8 symmetries of the square (0-3: k quarter turns, 4-7:
    the same after a horizontal flip)."""
    out = images.clone()
    for code in transforms.unique().tolist():
        chosen = transforms.to(images.device) == code
        turned = images[chosen].flip(3) if code >= 4 else images[chosen]
        out[chosen] = torch.rot90(turned, code % 4, dims=(2, 3))
    return out


@torch.no_grad()
def predict_chips(model: torch.nn.Module, batches: ChipBatches, indices: torch.Tensor,
                  size: int, batch_size: int = 64) -> torch.Tensor:
    """Logits [N, classes] of the chips at `indices` (CPU, eval mode, no augmentation)."""
    model.eval()
    return torch.cat([model(batches.batch(indices[s:s + batch_size], size)).float().cpu()
                      for s in range(0, len(indices), batch_size)])


def _check_chips(chips: ChipSet, config, validation_fraction: float) -> None:
    if chips.bands != config.bands:
        raise InputError(f"the chips have {chips.bands} band(s) but the model reads "
                         f"{config.bands}; choose a model made for {chips.bands} bands")
    if len(chips.classes) != config.classes:
        raise InputError(f"the chips have {len(chips.classes)} classes but the model has "
                         f"{config.classes}")
    counts = np.bincount(chips.labels, minlength=len(chips.classes))
    if (counts < 2).any():
        thin = [c["name"] for c, n in zip(chips.classes, counts) if n < 2]
        raise InputError(f"class(es) {', '.join(thin)} have fewer than 2 chips; training needs at "
                         "least 2 per class (one to learn from, one to check)")
    if len(chips) * validation_fraction < 1:
        raise InputError(f"{len(chips)} chips are too few to hold some out for validation")


def _stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training / validation indices with `fraction` of every class held out (at least one)."""
    train, validation = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        picked, held = split_train_validation(len(members), fraction, seed + int(label))
        train.append(torch.as_tensor(members)[picked])
        validation.append(torch.as_tensor(members)[held])
    return torch.cat(train), torch.cat(validation)


@dataclass
class TeacherTargets:
    """What class-centric KD takes from a teacher, computed once: its class centres [classes, D]
    over the training chips and, when KD is on, its logits of every chip in every symmetry
    ([chips, views, classes]; rows of chips outside the training split stay 0)."""

    centres: torch.Tensor
    soft_targets: torch.Tensor | None = None


def teacher_targets(teacher: torch.nn.Module, batches: ChipBatches, train_index: torch.Tensor,
                    classes: int, config: ClassifierTrainConfig) -> TeacherTargets:
    """The teacher's `TeacherTargets` on the chips of `train_index` (no augmentation but the
    symmetries, which the table is indexed by)."""
    teacher = teacher.to(batches.device).eval()
    size = teacher.config.input_size
    centres = teacher_centres(lambda batch: teacher.forward_features(batch)[1]["embedding"],
                              lambda i: batches.batch(train_index[i], size),
                              batches.labels[train_index], classes)
    soft_targets = None
    if config.kd_weight > 0:
        views = SYMMETRIES if config.augment else 1
        table = teacher_logit_table(
            lambda i, view: teacher(batches.batch(train_index[i], size, torch.full((len(i),), view))),
            len(train_index), views)
        soft_targets = torch.zeros(len(batches.labels), views, table.shape[2])
        soft_targets[train_index] = table
    teacher.cpu()
    return TeacherTargets(centres, soft_targets)


def freeze_prefix(model: torch.nn.Module, stride: str | None) -> list[torch.nn.Module]:
    """Stop gradients in the model's blocks up to `stride` (see `frozen_until`); returns those
    modules, which the training loop keeps in eval mode."""
    if stride is None:
        return []
    if not hasattr(model, "frozen_blocks"):
        raise InputError("only EfficientNet-Lite classifiers can keep their first blocks frozen")
    modules = model.frozen_blocks(stride)
    for module in modules:
        module.requires_grad_(False)
    return modules


def train_classifier(chips: ChipSet, architecture: str, net_config: dict,
                     config: ClassifierTrainConfig, teacher: torch.nn.Module | None = None,
                     teacher_name: str | None = None, progress: ProgressCallback | None = None,
                     is_cancelled: CancelCheck | None = None,
                     log: LogCallback | None = None, targets: TeacherTargets | None = None,
                     backbone: dict[str, torch.Tensor] | None = None,
                     checkpoint: str | Path | None = None) -> ClassifierTrainResult:
    """Train architecture `architecture` (a registered classifier) on `chips` with `config`.

    `net_config` gives the net's config fields (bands and classes are filled in from the chips
    when missing). "class_centric" needs a `teacher`, or its precomputed `targets` (same chips
    and validation split). `backbone`: encoder weights to start from (EfficientNet-Lite nets);
    `checkpoint`: a file the run saves after each epoch and resumes from.
    """
    started = time.monotonic()
    torch.manual_seed(config.seed)
    net_config = {"bands": chips.bands, "classes": len(chips.classes), **net_config}
    model = build(architecture, net_config)
    _check_chips(chips, model.config, config.validation_fraction)
    if backbone is not None:
        model.init_from_backbone(backbone)
    frozen = freeze_prefix(model, config.frozen_until)
    if config.method == "class_centric" and teacher is None and targets is None:
        raise InputError("METHOD class_centric distils a teacher: give a TEACHER model package "
                         "(train one with ARCHITECTURE teacher first), or choose METHOD plain.")
    device = resolve_device(config.device)
    model.to(device)
    scaling = chip_scaling(chips.images, seed=config.seed)
    batches = ChipBatches(chips, scaling, device, config.seed)
    split_seed = config.seed if config.split_seed is None else config.split_seed
    train_index, validation_index = _stratified_split(chips.labels, config.validation_fraction,
                                                      split_seed)
    train_labels = torch.full_like(batches.labels, -1)
    train_labels[train_index] = batches.labels[train_index]
    size = model.config.input_size
    span = ProgressSpan(progress)
    generator = torch.Generator().manual_seed(config.seed + 2)

    extra_loss = soft_targets = None
    if config.method == "class_centric":
        targets = targets or teacher_targets(teacher, batches, train_index, len(chips.classes), config)
        soft_targets = targets.soft_targets if config.kd_weight > 0 else None
        extra_loss = ClassCentreLoss(targets.centres.to(device), model.embedding_channels).to(device)
    elif config.method == "class_aware":
        extra_loss = ClassAwareMarginLoss(config.initial_margin, temperature=config.temperature).to(device)
        sampler = TripletSampler(train_labels, len(chips.classes), seed=config.seed)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad],
               "weight_decay": config.weight_decay}]
    if extra_loss is not None:
        groups.append({"params": extra_loss.parameters(), "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)

    def batch_loss(indices: torch.Tensor) -> torch.Tensor:
        if config.method == "plain":
            chosen = indices
        elif config.method == "class_centric":
            # at least two anchors: a one-class batch would teach CE (and BatchNorm) nothing
            anchors = indices[:max(len(indices) // config.per_class, 2)]
            chosen = balanced_batch(anchors, train_labels, config.per_class, generator)
        else:
            anchors = indices[:max(len(indices) // 3, 1)]
            same, other = sampler.sample(anchors)
            chosen = torch.cat([anchors, same, other])
        labels = batches.labels_of(chosen)
        for module in frozen:
            module.eval()
        if config.augment:
            images, views = batches.augmented(chosen, size, config.scale_jitter, config.colour_jitter)
        else:
            images, views = batches.batch(chosen, size), None
        logits, features = model.forward_features(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
        if config.method == "class_centric":
            loss = loss + config.centre_weight * extra_loss(features["embedding"], labels)
            if soft_targets is not None:
                view = torch.zeros(len(chosen), dtype=torch.long) if views is None else views
                loss = loss + config.kd_weight * logit_distillation_loss(
                    logits, soft_targets[chosen, view].to(batches.device), config.temperature)
        elif config.method == "class_aware":
            sampler.record(labels, logits.detach().argmax(dim=1))
            loss = loss + config.margin_weight * extra_loss(*logits.chunk(3))
        return loss

    def validation_loss() -> float:
        logits = predict_chips(model, batches, validation_index, size)
        return F.cross_entropy(logits, batches.labels[validation_index]).item()

    deadline = started + config.minutes * 60 if config.minutes else None
    outcome = fit(model, optimizer, batch_loss, validation_loss, train_index, epochs=config.epochs,
                  batch_size=config.batch_size, patience=config.patience, seed=config.seed,
                  span=span, is_cancelled=is_cancelled, log=log, scheduler=scheduler,
                  phase=config.method, deadline=deadline, checkpoint=checkpoint)
    predicted = predict_chips(model, batches, validation_index, size).argmax(dim=1).numpy()
    scores = classification_scores(chips.labels[validation_index.numpy()], predicted,
                                   len(chips.classes))
    train_config = dataclasses.asdict(config)
    if config.method == "class_aware":
        train_config["final_margin"] = float(extra_loss.alpha.detach())
    return ClassifierTrainResult(
        model=model.cpu().eval(), best_val_loss=outcome.best_val_loss, history=outcome.history,
        metrics={"overall_accuracy": scores["overall_accuracy"], "kappa": scores["kappa"],
                 "cross_entropy": outcome.best_val_loss},
        architecture=architecture,
        config={k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(model.config).items()},
        distilled_from=teacher_name if config.method == "class_centric" else None,
        train_config=train_config, classes=list(chips.classes), scaling=scaling,
        seconds=time.monotonic() - started)

