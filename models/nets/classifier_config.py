"""The config fields every scene classifier shares."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClassifierConfig:
    """Input bands, number of classes, the chip side the net is fed (chips are resized to it)
    and the dropout before the linear head."""

    bands: int = 3
    classes: int = 2
    input_size: int = 96
    dropout: float = 0.2

    def __post_init__(self):
        if self.classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {self.classes}")
