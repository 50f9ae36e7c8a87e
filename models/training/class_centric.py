"""Class-centric knowledge distillation for scene classification (design section 6).

The student learns with cross-entropy plus a loss pulling the centre (mean feature) of each
class's student embeddings in a batch to the teacher's centre for that class. Batches sample
several images per class (`balanced_batch`), so every class present has a meaningful centre.
Teacher centres are the means of the teacher's embeddings over each class's training chips,
computed once (`teacher_centres`): the teacher is not run at every step, which keeps
distillation as cheap as plain training. Student and teacher embeddings may differ in width:
a linear projection (trained with the student, dropped afterwards) maps the student's into the
teacher's space.

The centre loss alone says little: the projection can map almost any set of student centres
onto the teacher's. So the student also learns the teacher's soft class distributions (Hinton
et al.'s KD, `kd_weight` in the training config): the teacher's logits of every training chip
under each of the eight turns and flips the batches draw from are computed once
(`teacher_logit_table`), and a batch looks its targets up.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class ClassCentreLoss(nn.Module):
    """Mean squared distance between each batch class's student centre and the teacher's.

    `teacher_centres` is [classes, teacher_dim] (a buffer: never trained); with
    `student_dim == teacher_dim` no projection is used, so identical centres give exactly 0.
    """

    def __init__(self, teacher_centres: torch.Tensor, student_dim: int):
        super().__init__()
        self.register_buffer("teacher_centres", teacher_centres.detach().clone().float())
        teacher_dim = teacher_centres.shape[1]
        self.projection = (nn.Identity() if student_dim == teacher_dim
                           else nn.Linear(student_dim, teacher_dim))

    def forward(self, student_embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        projected = self.projection(student_embedding)
        present, index = torch.unique(labels, return_inverse=True)
        sums = torch.zeros(len(present), projected.shape[1], device=projected.device,
                           dtype=projected.dtype).index_add_(0, index, projected)
        counts = torch.bincount(index, minlength=len(present)).to(projected.dtype)[:, None]
        return F.mse_loss(sums / counts, self.teacher_centres[present].to(projected.dtype))


@torch.no_grad()
def teacher_centres(embed: Callable[[torch.Tensor], torch.Tensor], images: Callable[[torch.Tensor], torch.Tensor],
                    labels: torch.Tensor, classes: int, batch_size: int = 64) -> torch.Tensor:
    """[classes, D] mean teacher embedding of each class over the samples `labels` indexes.

    `images(indices)` returns the (normalized) batch of those samples, `embed(batch)` the
    teacher's embeddings. A class without samples gets a zero centre (it never appears in a
    batch, so it is never used).
    """
    sums, counts = None, torch.zeros(classes)
    order = torch.arange(len(labels))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        embedding = embed(images(chunk)).float().cpu()
        if sums is None:
            sums = torch.zeros(classes, embedding.shape[1])
        sums.index_add_(0, labels[chunk], embedding)
        counts += torch.bincount(labels[chunk], minlength=classes).float()
    return sums / counts.clamp(min=1)[:, None]


def balanced_batch(anchors: torch.Tensor, labels: torch.Tensor, per_class: int,
                   generator: torch.Generator) -> torch.Tensor:
    """Indices of a class-balanced batch: each anchor plus `per_class - 1` other random samples
    of its class; samples labelled -1 (held out) are never picked, and samples repeat only when
    a class has too few."""
    members = {}
    picked = []
    for anchor in anchors.tolist():
        label = int(labels[anchor])
        if label not in members:
            members[label] = torch.nonzero(labels == label).flatten()
        pool = members[label][members[label] != anchor]
        picked.append(torch.tensor([anchor]))
        if per_class > 1 and len(pool):
            picked.append(pool[torch.randint(len(pool), (per_class - 1,), generator=generator)])
    return torch.cat(picked)


@torch.no_grad()
def teacher_logit_table(logits: Callable[[torch.Tensor, int], torch.Tensor], count: int, views: int,
                        batch_size: int = 64) -> torch.Tensor:
    """[count, views, classes] teacher logits of samples 0..count-1, each seen in every view.

    `logits(indices, view)` returns the teacher's logits of those samples in that view (for
    chips: one of the symmetries of the square that augmentation draws from), so a student's
    augmented batch finds the soft targets of exactly the images it sees, and the teacher runs
    `views` times per sample in all instead of at every step.
    """
    table = None
    for view in range(views):
        for start in range(0, count, batch_size):
            chunk = torch.arange(start, min(start + batch_size, count))
            values = logits(chunk, view).float().cpu()
            if table is None:
                table = torch.zeros(count, views, values.shape[1])
            table[chunk, view] = values
    return table
