"""Where model packages are found: the bundled folder and the user's models folder.

Bundled students live in `<plugin root>/resources/models/`; the user folder is chosen by the
caller (the plugin passes the folder from its settings). A package's name is its file stem;
a user package of the same name as a bundled one takes precedence.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import PackageError
from .package import ModelCard, read_card

BUNDLED_FOLDER = Path(__file__).resolve().parents[1] / "resources" / "models"
SUFFIX = ".safetensors"


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
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            try:
                card = read_card(path)
            except PackageError as error:
                skipped[path] = str(error)
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
    if candidate.suffix == SUFFIX or len(candidate.parts) > 1:
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
