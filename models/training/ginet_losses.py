"""Segmentation losses: weighted cross-entropy and Dice with an ignore index, GINet's local
affinity distillation, and logit / affinity distillation from a teacher.

Affinity matrices compare every pair of positions of one crop, so they do not depend on the
feature width: the same `affinity_distillation_loss` distils local features into the global
branch (LAD) and a wide teacher's features into a narrow student, without an adapter.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int,
                      class_weights: torch.Tensor | None = None,
                      dice_weight: float = 0.0) -> torch.Tensor:
    """Cross-entropy (+ dice_weight * soft Dice) of `logits` [B, K, H, W] against `labels`
    [B, H, W]; pixels equal to `ignore_index` count in neither term.

    A batch without a labelled pixel gives 0 (with a gradient), not NaN.
    """
    labels = labels.long()
    valid = labels != ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0
    loss = F.cross_entropy(logits, labels, weight=class_weights, ignore_index=ignore_index)
    if dice_weight:
        loss = loss + dice_weight * dice_loss(logits, labels, ignore_index)
    return loss


def dice_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int,
              smooth: float = 1.0) -> torch.Tensor:
    """1 - mean over the classes present (in labels or predictions) of the soft Dice score,
    computed over labelled pixels only."""
    classes = logits.shape[1]
    valid = (labels != ignore_index).unsqueeze(1).to(logits.dtype)
    probabilities = torch.softmax(logits, dim=1) * valid
    one_hot = F.one_hot(labels.clamp(0, classes - 1) * (labels != ignore_index), classes)
    one_hot = one_hot.permute(0, 3, 1, 2).to(logits.dtype) * valid
    intersection = (probabilities * one_hot).sum(dim=(0, 2, 3))
    total = probabilities.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    present = total > 0
    dice = (2 * intersection + smooth) / (total + smooth)
    return 1 - dice[present].mean()


def affinity_matrix(features: torch.Tensor, grid: int) -> torch.Tensor:
    """Pairwise cosine similarities [B, g*g, g*g] of the features [B, C, h, w] average-pooled
    to a g x g grid (g = min(grid, h, w)), so the matrix stays small for any crop size."""
    g = min(grid, features.shape[-2], features.shape[-1])
    pooled = F.adaptive_avg_pool2d(features, g).flatten(2)
    unit = F.normalize(pooled, dim=1, eps=1e-6)
    return unit.transpose(1, 2) @ unit


def affinity_distillation_loss(student: torch.Tensor, teacher: torch.Tensor,
                               grid: int = 16) -> torch.Tensor:
    """Mean squared difference between the affinity matrices of `student` and of the detached
    `teacher` features (both [B, *, h, w] over the same region; widths may differ)."""
    if student.shape[0] != teacher.shape[0] or student.shape[-2:] != teacher.shape[-2:]:
        raise ValueError(f"affinity distillation needs features of the same crops and size, got "
                         f"{tuple(student.shape)} and {tuple(teacher.shape)}")
    return F.mse_loss(affinity_matrix(student, grid), affinity_matrix(teacher.detach(), grid))


def local_affinity_distillation_loss(features: dict[str, torch.Tensor], grid: int = 16) -> torch.Tensor:
    """GINet's LAD: the local branch's pairwise affinities within each crop are distilled into
    the global branch's features of the same region (`features` from
    `GINet.forward_features`; the local side is the teacher and gets no gradient)."""
    return affinity_distillation_loss(features["global_region"], features["local"], grid)
