"""Checks every training pipeline makes on its request and its training data."""
from __future__ import annotations

from ..errors import InputError
from ..output_files import MODEL_SUFFIXES, check_output_file


def check_training_request(request, architectures: tuple[str, ...], big_net: str) -> None:
    """Raise InputError before any data is read: for an output model file that cannot be
    written, an unknown architecture, or a teacher given to anything but the lite student (the
    only one distilled from a teacher package); `big_net` names the paper-sized net."""
    check_output_file(request.output_model, MODEL_SUFFIXES, "model")
    architecture, teacher = request.architecture, request.teacher
    if architecture not in architectures:
        raise InputError(f"Unknown ARCHITECTURE '{architecture}': use "
                         f"{' or '.join(architectures)}.")
    if teacher and architecture != "lite":
        raise InputError(f"A TEACHER is distilled into the lite student; leave TEACHER empty to "
                         f"train {big_net}, or choose ARCHITECTURE lite.")


def check_several_classes(names: list[str], source: str) -> None:
    """Raise InputError when the training data `source` holds fewer than two classes: a model
    telling classes apart cannot learn (and would score a meaningless 100 %) from one."""
    if len(names) < 2:
        found = f"only '{names[0]}'" if names else "no class"
        raise InputError(f"{source} holds {found}: a model that tells classes apart needs "
                         "examples of at least two classes. Add labels of another class.")


def check_patch_multiple(patch_size: int, multiple: int, name: str = "PATCH_SIZE") -> None:
    """Raise InputError when `patch_size` is not a multiple of `multiple`, naming valid sizes."""
    if patch_size % multiple:
        lower = max(multiple, patch_size // multiple * multiple)
        raise InputError(f"{name} {patch_size} is not a multiple of {multiple}, which this model "
                         f"needs: use {lower} or {lower + multiple}.")
