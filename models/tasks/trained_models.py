"""What every training pipeline does around its training loop: load the TEACHER package, make
the trained model's card, and write the package with a log line."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..about import created_by
from ..onnx_export import save_trained_package
from ..package import ModelCard, load_model
from ..registry import resolve_model
from ..training.training import TrainResult
from .requests import TrainingRequest


def load_teacher(request: TrainingRequest, task: str):
    """The card and net of the request's TEACHER (a package name of `task`, or a path)."""
    return load_model(resolve_model(request.teacher, request.user_model_folder, task=task))


def validation_metrics(metrics: dict) -> dict[str, float]:
    """A training run's metrics as card metrics: each name starts with "validation_"."""
    return {k if k.startswith("validation") else f"validation_{k}": float(v)
            for k, v in metrics.items()}


def trained_card(result: TrainResult, request: TrainingRequest, task: str, **fields) -> ModelCard:
    """The card of a model trained as `request` says: named after its output file, with the
    run's architecture and net config, the request's licence, and the task's own `fields`."""
    return ModelCard(name=Path(request.output_model).stem, task=task,
                     architecture=result.architecture, config=result.config,
                     licence=request.licence, created_by=created_by(), **fields)


def _all_metrics(metrics: dict) -> str:
    return "validation: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


def write_trained_model(request: TrainingRequest, result: TrainResult, card: ModelCard,
                        log: Callable[[str], None],
                        summary: Callable[[dict], str] = _all_metrics) -> ModelCard:
    """Write the trained net with `card` to the request's output model; log where, with the
    `summary` of the card's metrics (default: all of them). Returns the written card."""
    card = save_trained_package(request.output_model, result.model.state_dict(), card, log)
    log(f"Model written to {request.output_model} ({summary(card.metrics)}).")
    return card
