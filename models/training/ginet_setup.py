"""How a GINet training run starts and resumes: initial weights, frozen encoder layers, and a
checkpoint saved after every epoch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..nets.ginet import GINet, GINetConfig, GINetEfficientConfig


HEADS = ("local_head.", "global_head.")
"""Prefixes of the class heads, which a starting state may leave out (new classes)."""


def initial_model(net_config: GINetConfig, initial_state: dict[str, torch.Tensor] | None) -> GINet:
    """A GINet holding `initial_state` (fine-tuning; class heads it lacks keep their fresh
    weights), else ImageNet encoders where the architecture has them, else random weights."""
    model = GINet(net_config)
    if initial_state is not None:
        own = model.state_dict()
        wrong = [k for k in own if (k in initial_state and initial_state[k].shape != own[k].shape)
                 or (k not in initial_state and not k.startswith(HEADS))]
        if wrong:
            raise InputError(f"the starting model does not fit this net ({len(wrong)} tensors differ, "
                             f"e.g. {wrong[0]}); start from a model with the same bands and "
                             "architecture, or train from scratch")
        model.load_state_dict({**own, **initial_state})
    elif isinstance(net_config, GINetEfficientConfig):
        model.load_imagenet_encoders()
    return model


def freeze_encoder_start(model: GINet, layers: int) -> list[nn.Module]:
    """Freeze the stems and the first `layers` layers of both encoders of an EfficientNet-Lite
    GINet; returns the frozen modules (to be kept in eval mode: their BatchNorm statistics stay
    the pretrained ones). Other nets are left as they are (empty list)."""
    if not isinstance(model.config, GINetEfficientConfig):
        return []
    frozen = []
    for encoder in (model.local_encoder, model.global_encoder):
        frozen += [encoder.stem, *encoder.layers[:layers]]
    for module in frozen:
        module.requires_grad_(False)
    return frozen


@dataclass
class EpochCheckpoint:
    """Model, optimizer and schedule saved at `path` after every epoch (safetensors-free: a
    plain torch file of tensors and numbers, loaded with `weights_only=True`)."""

    path: Path
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler

    def save(self, epoch: int) -> None:
        """Write the current state as epoch `epoch` (atomically: a temp file, then a rename)."""
        partial = self.path.with_suffix(".partial")
        torch.save({"epoch": epoch, "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict()}, partial)
        partial.replace(self.path)

    def resume(self) -> int:
        """Load the saved state when there is one; the number of epochs it had done (0: none)."""
        if not self.path.exists():
            return 0
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return int(state["epoch"])
