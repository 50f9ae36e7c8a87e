"""`SampleSet`: training arrays aligned on their first axis (one sample per index).

Each task's sample dataclass (Wald pansharpening triplets, haze pairs, ...) lists its arrays as
dataclass fields created by `__init__`; this base gives them length, subsets, concatenation
and a random train/validation split, all field by field.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


class SampleSet:
    """Mixin for a dataclass whose init fields are numpy arrays indexed by sample."""

    @classmethod
    def _array_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.init]

    def __len__(self) -> int:
        return getattr(self, self._array_fields()[0]).shape[0]

    def subset(self, indices: np.ndarray):
        """The samples at `indices`, in that order."""
        return type(self)(*(getattr(self, name)[indices] for name in self._array_fields()))

    @classmethod
    def concatenate(cls, sample_sets: Sequence):
        """One set from several (e.g. one per scene); shapes must agree except the count."""
        if not sample_sets:
            raise ValueError("nothing to concatenate")
        return cls(*(np.concatenate([getattr(s, name) for s in sample_sets])
                     for name in cls._array_fields()))

    def split(self, validation_fraction: float, rng: np.random.Generator | None = None):
        """(training, validation) after a random permutation; validation gets round(f*N), at least 1."""
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation fraction must be between 0 and 1, got {validation_fraction}")
        if len(self) < 2:
            raise ValueError("at least two samples are needed to split off a validation set")
        rng = rng or np.random.default_rng()
        order = rng.permutation(len(self))
        held_out = min(len(self) - 1, max(1, round(validation_fraction * len(self))))
        return self.subset(order[held_out:]), self.subset(order[:held_out])
