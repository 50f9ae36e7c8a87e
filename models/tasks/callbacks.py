"""The callbacks every pipeline takes: progress, cancel check and log lines.

The progress contract of all of `models`: a callback receives the fraction done, 0 to 1, and
a part of a run reports through `part(first, last)`, which maps its own 0-1 onto [first, last]
of the whole (parts nest). Only the edges turn fractions into percent (QGIS feedback).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import Cancelled


def _ignore(*_args) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class Callbacks:
    """Progress (the fraction done, 0-1), a cancel check polled between steps, and informative
    log lines."""

    progress: Callable[[float], None] = _ignore
    is_cancelled: Callable[[], bool] = _never
    log: Callable[[str], None] = _ignore

    def raise_if_cancelled(self, message: str = "Cancelled by the user.") -> None:
        """Raise `Cancelled` when the user asked to stop."""
        if self.is_cancelled():
            raise Cancelled(message)

    def part(self, first: float, last: float) -> "Callbacks":
        """Callbacks whose progress 0-1 maps onto [first, last] of this one's."""
        return Callbacks(lambda fraction: self.progress(first + (last - first) * fraction),
                         self.is_cancelled, self.log)
