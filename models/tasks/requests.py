"""The fields every task request shares, and what every tiled run reports.

A task's request derives from `RunRequest` (inference), `TiledRequest` (inference through the
tiling engine) or `TrainingRequest` (training) and adds its own inputs and outputs. The shared
fields are keyword-only, so a request still takes its own paths positionally
(`DehazeRequest(input_path, output_path, device="cpu")`). Plain values only: no QGIS objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..inference.area import Area
from ..inference.engine import RunReport


@dataclass(kw_only=True)
class RunRequest:
    """What every inference request says besides its paths."""

    model: str = "default"
    """A bundled or user package name, a package path, or "default" (the bundled one fitting
    the input)."""
    user_model_folder: str | None = None
    device: str = "auto"
    batch_size: int = 4
    area: Area | None = None
    """Part of the input to process (in its CRS); None = all of it."""
    bands: list[int] | None = None
    """Bands to read, in the model's order (1-based); None = the data bands."""


@dataclass(kw_only=True)
class TiledRequest(RunRequest):
    """An inference request run tile by tile through the engine."""

    tile_size: int = 512
    overlap: int = 32


@dataclass(kw_only=True)
class TrainingRequest:
    """What every training request says besides its data and architecture."""

    teacher: str | None = None
    """A package to distil from (name or path); None = no teacher."""
    device: str = "auto"
    user_model_folder: str | None = None
    seed: int = 0
    description: str = ""
    licence: str = "as the training data"


@dataclass(kw_only=True)
class RunResult:
    """Where a run's output went, which model made it, and how fast."""

    output_path: Path
    model_name: str | None
    device: str
    seconds: float
    megapixels_per_second: float
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_report(cls, report: RunReport, model_name: str | None, notes: list[str],
                    **task_fields) -> "RunResult":
        """The result of an engine run: its output, device and speed, with `notes` followed by
        the engine's back-off events."""
        return cls(output_path=report.output_path, model_name=model_name,
                   device=report.device_description, seconds=report.seconds,
                   megapixels_per_second=report.megapixels_per_second,
                   notes=list(notes) + list(report.backoff_events), **task_fields)
