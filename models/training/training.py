"""The generic training loop: epochs, progress, cancel, validation and early stopping.

Task-specific code (which net, which loss, how a batch is made) comes in as callables, so the
pansharpening, dehazing and segmentation trainers share this one loop. Nothing here prints;
messages go to the optional `log` callback and progress to `progress` (the fraction done, 0-1,
never backwards).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import Cancelled, InputError
from . import distributed

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
LogCallback = Callable[[str], None]


def raise_if_cancelled(is_cancelled: CancelCheck | None,
                       message: str = "Training was cancelled; no model was produced. "
                                      "Run it again to retrain.") -> None:
    """Raise Cancelled (with `message`) when the user asked to stop."""
    if is_cancelled is not None and is_cancelled():
        raise Cancelled(message)


class ProgressSpan:
    """Maps a sub-task's progress fraction (0-1) onto [start, end] of its callback's 0-1 (the
    contract of `models.tasks.callbacks`).

    Reports never go backwards, so phases can be chained (`span.part(0, 0.5)` then
    `span.part(0.5, 1)`) and still give a monotonic bar.
    """

    def __init__(self, progress: ProgressCallback | None, start: float = 0.0, end: float = 1.0,
                 _last: list[float] | None = None):
        self.progress, self.start, self.end = progress, start, end
        self._last = _last if _last is not None else [start]

    def report(self, fraction: float) -> None:
        """Report that `fraction` (0-1) of this span is done."""
        value = self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0)
        if value >= self._last[0]:
            self._last[0] = value
            if self.progress is not None:
                self.progress(value)

    def part(self, first: float, last: float) -> "ProgressSpan":
        """The sub-span covering fractions [first, last] of this one (sharing its monotonicity)."""
        width = self.end - self.start
        return ProgressSpan(self.progress, self.start + width * first, self.start + width * last,
                            self._last)


def split_train_validation(count: int, validation_fraction: float,
                           seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (train, validation) index tensors; each gets at least one sample."""
    if count < 2:
        raise InputError(f"training needs at least 2 samples (one for validation), got {count}; "
                         "use a larger image or more samples")
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(f"the validation fraction must lie between 0 and 1, got {validation_fraction}")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    held_out = min(max(round(count * validation_fraction), 1), count - 1)
    return order[held_out:], order[:held_out]


@dataclass
class LoopOutcome:
    """What `fit` found: the best validation loss, its epoch (0 = untrained) and every epoch."""

    best_val_loss: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)


def fit(model: nn.Module, optimizer: torch.optim.Optimizer,
        batch_loss: Callable[[torch.Tensor], torch.Tensor],
        validation_loss: Callable[[], float], train_indices: torch.Tensor, *,
        epochs: int, batch_size: int, patience: int, seed: int,
        span: ProgressSpan, is_cancelled: CancelCheck | None = None,
        log: LogCallback | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        phase: str = "train", deadline: float | None = None,
        checkpoint: str | Path | None = None) -> LoopOutcome:
    """Train `model` with early stopping and leave it holding its best-validated weights.

    `batch_loss(indices)` returns the loss of one batch of training samples (with gradients);
    `validation_loss()` returns the held-out loss (called under no_grad with the model in eval
    mode). Epoch 0 records the untrained model. Training stops after `patience` epochs without
    a better validation loss, or after the epoch that ends past `deadline` (a
    `time.monotonic()` value: a time box). Each history entry is
    {"phase", "epoch", "train_loss", "val_loss"}. With `checkpoint`, the loop's state is saved
    there after every epoch, and a run finding that file continues after its epoch.
    Under torchrun (see `distributed`) each process trains its share of every batch, the
    gradients and the logged train loss are averaged over the processes, and all of them stop
    together.
    """
    if epochs < 1 or batch_size < 1:
        raise InputError(f"epochs and batch size must be at least 1, got {epochs} and {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    batches_per_epoch = max(len(train_indices) // batch_size, 1)
    replicas = distributed.current()
    step_loss = batch_loss if replicas is None else distributed.replicated(model, batch_loss, replicas)

    def validate() -> float:
        model.eval()
        with torch.no_grad():
            return float(validation_loss())

    best = LoopOutcome(best_val_loss=validate(), best_epoch=0)
    best.history.append({"phase": phase, "epoch": 0, "train_loss": None,
                         "val_loss": best.best_val_loss})
    best_state = copy.deepcopy(model.state_dict())
    first_epoch = 1
    if checkpoint is not None and Path(checkpoint).exists():
        best, best_state, first_epoch = _resume(checkpoint, model, optimizer, scheduler, generator)
        if log is not None:
            log(f"{phase}: resumed after epoch {first_epoch - 1} from {checkpoint}")
    for epoch in range(first_epoch, epochs + 1):
        model.train()
        order = train_indices[torch.randperm(len(train_indices), generator=generator)]
        total = 0.0
        for step in range(batches_per_epoch):
            raise_if_cancelled(is_cancelled)
            loss = step_loss(order[step * batch_size:(step + 1) * batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            span.report((epoch - 1 + (step + 1) / batches_per_epoch) / epochs)
        if scheduler is not None:
            scheduler.step()
        if replicas is not None:
            total = distributed.mean_over_replicas(total, replicas)
        val_loss = validate()
        improved = val_loss < best.best_val_loss
        if improved:
            best.best_val_loss, best.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        best.history.append({"phase": phase, "epoch": epoch, "train_loss": total / batches_per_epoch,
                             "val_loss": val_loss})
        if checkpoint is not None:
            _save_loop_state(checkpoint, epoch, model, optimizer, scheduler, generator, best, best_state)
        if log is not None:
            log(f"{phase} epoch {epoch}/{epochs}: train loss {total / batches_per_epoch:.5f}, "
                f"validation loss {val_loss:.5f}{' (best)' if improved else ''}")
        out_of_time = deadline is not None and time.monotonic() > deadline
        if replicas is not None:
            out_of_time = distributed.any_replica(out_of_time, replicas)
        if out_of_time and epoch < epochs:
            if log is not None:
                log(f"{phase}: time limit reached after epoch {epoch}, stopping")
            break
        if epoch - best.best_epoch >= patience:
            if log is not None:
                log(f"{phase}: no improvement for {patience} epochs, stopping early")
            break
    span.report(1.0)
    model.load_state_dict(best_state)
    model.eval()
    return best


def _save_loop_state(path: str | Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler, generator: torch.Generator, best: LoopOutcome, best_state: dict) -> None:
    """Write the loop's state after `epoch` to `path` (a temporary file renamed into place, so a
    stop mid-write leaves the previous epoch's state)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "generator": generator.get_state(), "best_state": best_state,
                "best": dataclasses.asdict(best)}, partial)
    partial.replace(path)


def _resume(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
            generator: torch.Generator) -> tuple[LoopOutcome, dict, int]:
    """Restore what `_save_loop_state` wrote: (best outcome, best weights, next epoch)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    return LoopOutcome(**state["best"]), state["best_state"], state["epoch"] + 1


@dataclass
class TrainResult:
    """A trained model (on the CPU, eval mode) and what its model card records."""

    model: nn.Module
    best_val_loss: float
    history: list[dict]
    metrics: dict[str, float]
    architecture: str
    config: dict
    distilled_from: str | None = None
    train_config: dict = field(default_factory=dict)

    @classmethod
    def from_loop(cls, model: nn.Module, outcome: LoopOutcome, metrics: dict[str, float],
                  architecture: str, net_config, train_config, distilled_from: str | None,
                  **extra) -> "TrainResult":
        """The result of a `fit` run: the model moved to the CPU in eval mode, the loop's best
        loss and history, and the net and training configs as dicts."""
        return cls(model=model.cpu().eval(), best_val_loss=outcome.best_val_loss,
                   history=outcome.history, metrics=metrics, architecture=architecture,
                   config=dataclasses.asdict(net_config), distilled_from=distilled_from,
                   train_config=dataclasses.asdict(train_config), **extra)


def frozen_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A frozen eval-mode copy of `model` on `device` (a teacher; the caller's model is untouched)."""
    model = copy.deepcopy(model).to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def cosine_schedule(optimizer: torch.optim.Optimizer, epochs: int,
                    final_fraction: float = 1 / 20) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay over `epochs`, stepped once per epoch, from the optimizer's learning rate
    (its first group's) to `final_fraction` of it."""
    floor = optimizer.param_groups[0]["lr"] * final_fraction
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=floor)


def fit_l1_validated(model: nn.Module, extra_parameters: list[nn.Parameter], learning_rate: float,
                     config, batch_loss: Callable[[torch.Tensor], torch.Tensor],
                     predict: Callable[[torch.Tensor], tuple], sample_count: int, *,
                     span: ProgressSpan, is_cancelled: CancelCheck | None,
                     log: LogCallback | None, phase: str,
                     deadline: float | None = None) -> tuple[LoopOutcome, torch.Tensor]:
    """Split `sample_count` samples into training and validation, and `fit` the model (with
    `extra_parameters`, e.g. a feature adapter) by Adam at `learning_rate` on a cosine schedule,
    validated by the mean L1 between the outputs and targets `predict(indices)` returns first.
    `config` gives validation_fraction, seed, epochs, batch_size and patience. Returns the
    loop's outcome and the validation indices."""
    train_indices, val_indices = split_train_validation(sample_count, config.validation_fraction,
                                                        config.seed)
    optimizer = torch.optim.Adam(list(model.parameters()) + list(extra_parameters), lr=learning_rate)
    scheduler = cosine_schedule(optimizer, config.epochs)

    def validation_loss() -> float:
        output, target = predict(val_indices)[:2]
        return float((output - target).abs().mean())

    outcome = fit(model, optimizer, batch_loss, validation_loss, train_indices, epochs=config.epochs,
                  batch_size=config.batch_size, patience=config.patience, seed=config.seed,
                  span=span, is_cancelled=is_cancelled, log=log, scheduler=scheduler, phase=phase,
                  deadline=deadline)
    return outcome, val_indices
