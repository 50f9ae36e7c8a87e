"""Class-aware self-distillation (CASD) for scene classification (design section 6).

Three weight-sharing branches (one net run on three images) see an anchor, another image of
the same class and an image of a different but similar class. The distillation loss works on
their temperature-softened class distributions: the anchor's distribution is pulled towards
the same-class image's and pushed away from the similar-class image's, with a margin:

    L = max(0, KL(p_same || p_anchor) - KL(p_other || p_anchor) + alpha)

`alpha` is trainable (kept at least `min_margin` through a softplus): it starts wide, so early
in training the hinge is active on every triplet, and shrinks to what the net can achieve as
training goes on, so the margin follows the stage of training. The total loss is
CE (on all three branches) + weight * L. The "similar" class is drawn from the confusion of the
current model (`TripletSampler`): classes the net mixes up with the anchor's are picked more.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .losses import softened_kl


class ClassAwareMarginLoss(nn.Module):
    """The CASD hinge on KL divergences with a trainable margin alpha (see the module doc)."""

    def __init__(self, initial_margin: float = 1.0, min_margin: float = 0.05,
                 temperature: float = 4.0):
        super().__init__()
        if initial_margin <= min_margin:
            raise ValueError("the initial margin must exceed the minimum margin")
        # softplus(raw) = initial - min  <=>  raw = log(exp(initial - min) - 1)
        self.raw_alpha = nn.Parameter(torch.tensor(math.log(math.expm1(initial_margin - min_margin))))
        self.min_margin, self.temperature = min_margin, temperature

    @property
    def alpha(self) -> torch.Tensor:
        """The current margin (>= min_margin)."""
        return self.min_margin + F.softplus(self.raw_alpha)

    def divergence(self, target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Per-sample KL(softmax(target / T) || softmax(logits / T)) * T^2; the target is detached
        (it teaches the anchor, as the teacher does in distillation)."""
        return softened_kl(logits, target_logits, self.temperature)

    def forward(self, anchor: torch.Tensor, same: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        closer = self.divergence(same, anchor)
        farther = self.divergence(other, anchor)
        return F.relu(closer - farther + self.alpha).mean()


class TripletSampler:
    """Picks (same-class, similar-class) partners for anchors from the model's confusion.

    `labels` covers every sample (-1 = held out, never picked). The confusion counts are a
    running, decaying tally of (true class, predicted class) over recent training batches;
    the similar class of an anchor of class c is drawn with probability proportional to
    confusion[c, k] + confusion[k, c] + `smoothing` over the classes k != c that have samples.
    """

    def __init__(self, labels: torch.Tensor, classes: int, smoothing: float = 1.0,
                 decay: float = 0.98, seed: int = 0):
        self.labels, self.classes = labels, classes
        self.members = [torch.nonzero(labels == c).flatten() for c in range(classes)]
        self.available = torch.tensor([len(m) > 0 for m in self.members])
        self.confusion = torch.zeros(classes, classes)
        self.smoothing, self.decay = smoothing, decay
        self.generator = torch.Generator().manual_seed(seed)

    def record(self, truth: torch.Tensor, predicted: torch.Tensor) -> None:
        """Add a batch's (true, predicted) classes to the decaying confusion tally."""
        self.confusion *= self.decay
        flat = truth.cpu() * self.classes + predicted.cpu()
        self.confusion += torch.bincount(flat, minlength=self.classes ** 2).reshape(
            self.classes, self.classes).float()

    def similar_class_weights(self, label: int) -> torch.Tensor:
        """Unnormalized probabilities of each class being picked as the anchor's similar class."""
        weights = self.confusion[label] + self.confusion[:, label] + self.smoothing
        weights[label] = 0.0
        return weights * self.available

    def _pick(self, pool: torch.Tensor, exclude: int | None = None) -> int:
        if exclude is not None and len(pool) > 1:
            pool = pool[pool != exclude]
        return int(pool[torch.randint(len(pool), (1,), generator=self.generator)])

    def sample(self, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(same-class indices, similar-class indices), one of each per anchor."""
        same, other = [], []
        for anchor in anchors.tolist():
            label = int(self.labels[anchor])
            same.append(self._pick(self.members[label], exclude=anchor))
            weights = self.similar_class_weights(label)
            if weights.sum() <= 0:
                raise ValueError("class-aware training needs samples of at least two classes")
            similar = int(torch.multinomial(weights, 1, generator=self.generator))
            other.append(self._pick(self.members[similar]))
        return torch.tensor(same), torch.tensor(other)
