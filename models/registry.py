"""Where model packages are found: the bundled folder and the user's models folder.

Bundled students live in `<plugin root>/resources/models/`; the user folder is chosen by the
caller (the plugin passes the folder from its settings). A package's name is its file stem;
a user package of the same name as a bundled one takes precedence. A package is a
`.safetensors` (weights, for training and torch) and/or an `.onnx` (for ONNX Runtime) of the
same stem; the `.safetensors` path is listed where both exist (the loader finds the `.onnx`).
Each card is read on its own: a damaged or hostile file is skipped with a warning naming it
(logger "geodistill") and never stops the others from being found.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, PackageError, user_message
from .package import ModelCard, read_card
from .runtime.onnx_file import SUFFIX as ONNX_SUFFIX
from .runtime.onnx_file import is_part_file, read_onnx_card

BUNDLED_FOLDER = Path(__file__).resolve().parents[1] / "resources" / "models"
SUFFIX = ".safetensors"
LOG = logging.getLogger("geodistill")
SUFFIXES = (SUFFIX, ONNX_SUFFIX)


def read_package_card(path: Path) -> ModelCard:
    """The card of a `.safetensors` or `.onnx` package."""
    return read_onnx_card(path) if path.suffix == ONNX_SUFFIX else read_card(path)


def _package_files(folder: Path) -> list[Path]:
    """Each package's file in `folder`: its `.safetensors`, else its `.onnx` (parts skipped)."""
    files = {}
    for suffix in reversed(SUFFIXES):
        for path in folder.glob(f"*{suffix}"):
            if not (suffix == ONNX_SUFFIX and is_part_file(path)):
                files[path.stem] = path
    return [files[stem] for stem in sorted(files)]


@dataclass
class PackageEntry:
    """A package found in a models folder."""

    name: str
    path: Path
    card: ModelCard
    source: str  # "bundled" or "user"


@dataclass
class Listing:
    """Valid packages, and the files skipped with the reason why."""

    packages: list[PackageEntry]
    skipped: dict[Path, str]


def scan_packages(user_folder: str | Path | None = None, task: str | None = None) -> Listing:
    """Every valid package (of `task`, when given), user packages overriding bundled ones."""
    found: dict[str, PackageEntry] = {}
    skipped: dict[Path, str] = {}
    folders = [(BUNDLED_FOLDER, "bundled")]
    if user_folder is not None:
        folders.append((Path(user_folder), "user"))
    for folder, source in folders:
        if not folder.is_dir():
            continue
        for path in _package_files(folder):
            try:
                card = read_package_card(path)
            except Exception as error:  # noqa: BLE001 (one bad file must not hide the others)
                skipped[path] = user_message(error)
                LOG.warning("Skipped the model package %s: %s", path, skipped[path])
                continue
            if task is None or card.task == task:
                found[path.stem] = PackageEntry(path.stem, path, card, source)
    return Listing(sorted(found.values(), key=lambda entry: entry.name), skipped)


def list_packages(user_folder: str | Path | None = None, task: str | None = None) -> list[PackageEntry]:
    """Valid packages, sorted by name; invalid files are skipped (see `scan_packages`)."""
    return scan_packages(user_folder, task).packages


def resolve_model(name_or_path: str | Path, user_folder: str | Path | None = None,
                  task: str | None = None) -> Path:
    """Path of a package given by name (file stem, bundled or user) or by path."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.suffix in SUFFIXES or len(candidate.parts) > 1:
        if candidate.is_file():
            return candidate
        raise PackageError(f"Model file {candidate} does not exist.")
    listing = scan_packages(user_folder, task)
    for entry in listing.packages:
        if entry.name == text:
            return entry.path
    names = ", ".join(entry.name for entry in listing.packages) or "none installed"
    kind = f" {task}" if task else ""
    raise PackageError(f"No{kind} model named '{text}'. Available: {names}.")


def choose_package(model: str, task: str, user_folder: str | Path | None,
                   fits: Callable[[ModelCard], bool], no_fit_message: str) -> Path:
    """The package named by `model`, or for "default" (or empty) the bundled package of `task`
    that `fits` the input, lite students first; InputError with `no_fit_message` when none does."""
    if model.strip().lower() not in ("", "default"):
        return resolve_model(model.strip(), user_folder, task=task)
    fitting = [entry for entry in list_packages(user_folder, task=task)
               if entry.source == "bundled" and fits(entry.card)]
    if not fitting:
        raise InputError(no_fit_message)
    return sorted(fitting, key=lambda entry: ("lite" not in entry.name, entry.name))[0].path
