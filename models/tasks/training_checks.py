"""Checks every training pipeline makes on the architecture and teacher it is asked for."""
from __future__ import annotations

from ..errors import InputError


def check_architecture_and_teacher(architecture: str, architectures: tuple[str, ...],
                                   teacher: str | None, big_net: str) -> None:
    """Raise InputError for an unknown architecture, or a teacher given to anything but the
    lite student (the only one distilled from a teacher package); `big_net` names the
    paper-sized net in the message."""
    if architecture not in architectures:
        raise InputError(f"Unknown ARCHITECTURE '{architecture}': use "
                         f"{' or '.join(architectures)}.")
    if teacher and architecture != "lite":
        raise InputError(f"A TEACHER is distilled into the lite student; leave TEACHER empty to "
                         f"train {big_net}, or choose ARCHITECTURE lite.")
