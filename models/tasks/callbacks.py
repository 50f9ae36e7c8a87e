"""The callbacks every pipeline takes: progress (0-100), cancel check and log lines."""
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
    """Progress in percent, a cancel check polled between steps, and informative log lines."""

    progress: Callable[[float], None] = _ignore
    is_cancelled: Callable[[], bool] = _never
    log: Callable[[str], None] = _ignore

    def raise_if_cancelled(self, message: str = "Cancelled by the user.") -> None:
        """Raise `Cancelled` when the user asked to stop."""
        if self.is_cancelled():
            raise Cancelled(message)

    def part(self, start: float, end: float) -> "Callbacks":
        """Callbacks whose progress 0-100 maps onto [start, end] of this one's."""
        return Callbacks(lambda percent: self.progress(start + (end - start) * percent / 100.0),
                         self.is_cancelled, self.log)
