"""Training a classifier's linear head on frozen, precomputed embeddings.

When the encoder stays fixed, its pooled embedding of every chip can be computed once; a head
then trains in seconds, so methods and seeds can be compared where fine-tuning whole nets
cannot be afforded. The methods of `train_classifier`, restricted to what reaches a head:
- "plain": cross-entropy (label smoothing);
- "class_centric": cross-entropy + kd_weight * the KL divergence to the teacher's softened
  class distribution of each chip (the class-centre term needs a trainable encoder: on a
  frozen embedding its value cannot change, so it is left out);
- "class_aware": each anchor with a same-class and a confused-class chip (`TripletSampler`),
  CE on all three + margin_weight * the CASD hinge on their softened distributions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics.classification import classification_scores
from .class_aware import ClassAwareMarginLoss, TripletSampler
from .losses import logit_distillation_loss


@dataclass
class HeadTrainConfig:
    """Settings of one head training run."""

    method: str = "plain"
    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    dropout: float = 0.2
    kd_weight: float = 1.0
    temperature: float = 4.0
    margin_weight: float = 1.0
    seed: int = 0


def train_head(embeddings: torch.Tensor, labels: torch.Tensor, train_index: torch.Tensor,
               validation_index: torch.Tensor, classes: int, config: HeadTrainConfig,
               teacher_logits: torch.Tensor | None = None) -> tuple[nn.Linear, dict]:
    """A linear head [D -> classes] trained on `embeddings[train_index]`; returns it and its
    validation {"overall_accuracy", "kappa"}. `teacher_logits` [N, classes] is needed by
    "class_centric"."""
    if config.method == "class_centric" and teacher_logits is None:
        raise ValueError("class-centric KD of a head needs the teacher's logits")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    head = nn.Linear(embeddings.shape[1], classes)
    margin = ClassAwareMarginLoss(temperature=config.temperature)
    train_labels = torch.full_like(labels, -1)
    train_labels[train_index] = labels[train_index]
    sampler = TripletSampler(train_labels, classes, seed=config.seed)
    optimizer = torch.optim.AdamW([*head.parameters(), *margin.parameters()],
                                  lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = max(len(train_index) // config.batch_size, 1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs * steps)
    for _ in range(config.epochs):
        order = train_index[torch.randperm(len(train_index), generator=generator)]
        for step in range(steps):
            chosen = order[step * config.batch_size:(step + 1) * config.batch_size]
            if config.method == "class_aware":
                anchors = chosen[:max(len(chosen) // 3, 1)]
                same, other = sampler.sample(anchors)
                chosen = torch.cat([anchors, same, other])
            logits = head(F.dropout(embeddings[chosen], config.dropout, training=True))
            loss = F.cross_entropy(logits, labels[chosen], label_smoothing=config.label_smoothing)
            if config.method == "class_centric":
                loss = loss + config.kd_weight * logit_distillation_loss(
                    logits, teacher_logits[chosen], config.temperature)
            elif config.method == "class_aware":
                sampler.record(labels[chosen], logits.detach().argmax(dim=1))
                loss = loss + config.margin_weight * margin(*logits.chunk(3))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    with torch.no_grad():
        predicted = head(embeddings[validation_index]).argmax(dim=1)
    scores = classification_scores(labels[validation_index].numpy(), predicted.numpy(), classes)
    return head.eval(), {"overall_accuracy": scores["overall_accuracy"], "kappa": scores["kappa"]}
