"""Model packages: one `.safetensors` file holding the weights and a JSON model card.

The card lives in the safetensors metadata under "geodistill.card"; it says what the model is
(task, architecture and config), what it expects (input bands, scaling, ground sample distance,
pansharpening ratio, tile size and overlap), what it gives (classes with names and colours),
where it comes from (teacher, training data, licence, metrics, creator version) and the sha256
of the tensor data, checked on load. Loading never unpickles: safetensors stores raw tensors,
and `.pt`/`.pth` imports go through `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import nets
from .card_checks import numeric_problems, parse_card_json
from .errors import PackageError

if TYPE_CHECKING:  # torch and safetensors are imported where weights are handled, so that
    import torch   # cards can be read where only ONNX Runtime is installed

FORMAT_VERSION = 1
CARD_KEY = "geodistill.card"
TASKS = ("pansharpening", "dehazing", "segmentation", "classification")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass
class ModelCard:
    """Everything a user and the engine need to know about a packaged model."""

    name: str
    task: str
    architecture: str
    config: dict = field(default_factory=dict)
    input_bands: dict = field(default_factory=dict)
    scaling: dict | None = None
    gsd: float | None = None
    ratio: int | None = None
    classes: list = field(default_factory=list)
    tile_size: int = 512
    overlap: int = 32
    teacher: str = ""
    training_data: str = ""
    licence: str = ""
    metrics: dict = field(default_factory=dict)
    created_by: str = ""
    description: str = ""
    sha256: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The card as JSON text (keys sorted, so equal cards give equal text)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "the model card") -> "ModelCard":
        """Parse (within size, depth and number limits) and validate a card; PackageError
        names `source` and the problem."""
        values = parse_card_json(text, source)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PackageError(f"{source}: the model card has unknown field(s) {', '.join(unknown)}; "
                               f"it may come from a newer GeoDistill.")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                         and f.name not in values)
        if missing:
            raise PackageError(f"{source}: the model card lacks {', '.join(missing)}.")
        card = cls(**values)
        card.validate(source)
        return card

    def validate(self, source: str = "the model card") -> None:
        """Raise PackageError when a field has an impossible value."""
        problems = []
        if self.format_version != FORMAT_VERSION:
            problems.append(f"format version {self.format_version} is not supported "
                            f"(this GeoDistill reads version {FORMAT_VERSION}); update GeoDistill")
        if not isinstance(self.name, str) or not self.name:
            problems.append("name must be a non-empty text")
        if self.task not in TASKS:
            problems.append(f"task '{self.task}' is not one of {', '.join(TASKS)}")
        if not isinstance(self.architecture, str) or not self.architecture:
            problems.append("architecture must be a non-empty text")
        for name in ("config", "input_bands", "metrics"):
            if not isinstance(getattr(self, name), dict):
                problems.append(f"{name} must be a JSON object")
        problems.extend(numeric_problems(self))
        if not isinstance(self.classes, list) or not all(
                isinstance(c, dict) and isinstance(c.get("id"), int) and isinstance(c.get("name"), str)
                and isinstance(c.get("color"), str) and _COLOUR.match(c["color"]) for c in self.classes):
            problems.append("classes must be a list of {id: int, name: text, color: '#rrggbb'}")
        if problems:
            raise PackageError(f"{source}: invalid model card: {'; '.join(problems)}.")


def training_sources(names: list[str], limit: int = 12) -> str:
    """The card's `training_data` text for a list of source names: all of them up to `limit`,
    else the first `limit` and how many more (a card lists what it was trained on without
    growing with the data set)."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more ({len(names)} in all)"


def tensor_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")  # 0-d too
    return digest.hexdigest()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_READABLE_MODE = 0o666 & ~_umask()


def save_package(path: str | Path, state_dict: dict[str, torch.Tensor], card: ModelCard) -> ModelCard:
    """Write weights and card to `path` atomically; returns the card as saved (with sha256)."""
    from safetensors.torch import save_file

    path = Path(path)
    card.validate(path.name)
    tensors = {name: t.detach().cpu().contiguous() for name, t in state_dict.items()}
    saved = dataclasses.replace(card, sha256=tensor_digest(tensors))
    temporary = path.with_name(f".{path.name}.partial")
    try:
        save_file(tensors, str(temporary), metadata={CARD_KEY: saved.to_json()})
        os.chmod(temporary, _READABLE_MODE)  # safetensors creates files readable by the owner only
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return saved


def read_card(path: str | Path) -> ModelCard:
    """The card of a package without loading its weights (validated, not hash-checked)."""
    return _open_package(Path(path), load_tensors=False)[0]


def load_package(path: str | Path) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """Card and weights of a package; PackageError names the file and what is wrong."""
    return _open_package(Path(path), load_tensors=True)


def _open_package(path: Path, load_tensors: bool):
    from safetensors import safe_open

    if not path.is_file():
        raise PackageError(f"Model package {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt" if load_tensors else "numpy") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()} if load_tensors else None
    except Exception as error:  # safetensors raises several types for damaged files
        raise PackageError(f"{path.name} is not a readable .safetensors model package (the file "
                           f"is damaged, truncated or of another format): {error}") from error
    if CARD_KEY not in metadata:
        raise PackageError(f"{path.name} has no GeoDistill model card; it is a plain safetensors "
                           f"file. Import it with a card (import_checkpoint) first.")
    card = ModelCard.from_json(metadata[CARD_KEY], path.name)
    if tensors is not None and tensor_digest(tensors) != card.sha256:
        raise PackageError(f"{path.name}: the weights do not match the sha256 in the model card; "
                           f"the file was modified or damaged. Download or export it again.")
    return card, tensors


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[ModelCard, torch.nn.Module]:
    """Card and network (weights loaded, eval mode, on `device`) of a package."""
    card, state_dict = load_package(path)
    name = Path(path).name
    if not nets.is_known(card.architecture):
        raise PackageError(f"{name} needs architecture '{card.architecture}', which this GeoDistill "
                           f"does not know (known: {', '.join(nets.architecture_names()) or 'none'}); "
                           f"update GeoDistill.")
    try:
        model = nets.build(card.architecture, card.config)
        model.load_state_dict(state_dict, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise PackageError(f"{name}: the weights do not fit architecture '{card.architecture}' with "
                           f"the card's config: {error}") from error
    return card, model.to(device).eval()


def import_checkpoint(checkpoint_path: str | Path, card: ModelCard, out_path: str | Path) -> ModelCard:
    """Package a `.pt`/`.pth` state dict (loaded with weights_only=True, never executing code)."""
    import torch

    checkpoint_path = Path(checkpoint_path)
    try:
        loaded = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise PackageError(f"{checkpoint_path.name} cannot be imported safely: it is not a plain "
                           f"weights file ({error}). Save the model's state_dict() and try again.") from error
    state_dict = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state_dict, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()):
        raise PackageError(f"{checkpoint_path.name} does not hold a state dict of named tensors.")
    return save_package(out_path, state_dict, card)
