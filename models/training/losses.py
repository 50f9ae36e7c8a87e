"""Losses for training and distilling nets; they work on output lists and feature dicts.

A net's `forward_features` returns `(outputs, features)`; these losses take those structures,
so one training loop serves every student/teacher pair. Teacher tensors are always detached:
distillation moves the student (and its adapter), never the teacher.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def stage_l1_loss(outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Sum over stages of the mean L1 error to `target` (PSDNet's loss; one term for 1 stage)."""
    return sum(F.l1_loss(output, target) for output in outputs)


def softened_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                temperature: float) -> torch.Tensor:
    """KL divergence from the detached teacher's temperature-softened class distribution to the
    student's, times temperature^2 (Hinton et al.), per sample (and pixel): the class axis
    (dim 1) is summed away."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    return (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1) * temperature ** 2


def logit_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                            temperature: float = 2.0) -> torch.Tensor:
    """`softened_kl` averaged over samples (and pixels)."""
    return softened_kl(student_logits, teacher_logits, temperature).mean()


def output_distillation_loss(student_output: torch.Tensor,
                             teacher_output: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the student's and the (detached) teacher's outputs."""
    return F.l1_loss(student_output, teacher_output.detach())


def feature_distillation_loss(student_features: dict[str, torch.Tensor],
                              teacher_features: dict[str, torch.Tensor],
                              keys: list[str] | None = None) -> torch.Tensor:
    """Sum over `keys` (default: the keys both dicts share) of the mean squared error between
    student and detached teacher features.

    Raises ValueError if no key is shared or a pair differs in shape: a silent zero would hide a
    mis-wired distillation.
    """
    keys = sorted(set(student_features) & set(teacher_features)) if keys is None else keys
    if not keys:
        raise ValueError("student and teacher share no feature to distill; "
                         "map the student's features with a FeatureAdapter")
    total = 0
    for key in keys:
        student, teacher = student_features[key], teacher_features[key]
        if student.shape != teacher.shape:
            raise ValueError(f"feature '{key}' is {tuple(student.shape)} in the student but "
                             f"{tuple(teacher.shape)} in the teacher")
        total = total + F.mse_loss(student, teacher.detach())
    return total


class FeatureAdapter(nn.Module):
    """1x1 convs mapping student features to the teacher's widths, for distillation only.

    `pairs` maps a student feature name to the teacher feature it imitates; the adapter's output
    dict uses the teacher's names, ready for `feature_distillation_loss`. It is trained with the
    student and dropped afterwards (the shipped student does not contain it).
    """

    def __init__(self, pairs: dict[str, str], student_channels: dict[str, int],
                 teacher_channels: dict[str, int]):
        super().__init__()
        self.pairs = dict(pairs)
        self.maps = nn.ModuleDict({
            student: nn.Conv2d(student_channels[student], teacher_channels[teacher], 1)
            for student, teacher in self.pairs.items()})

    def forward(self, student_features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {teacher: self.maps[student](student_features[student])
                for student, teacher in self.pairs.items()}
