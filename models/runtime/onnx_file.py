"""`.onnx` model packages: the graph, the model card and runtime facts in the ONNX metadata.

A package is one ONNX file (opset 17 or newer) whose `metadata_props` hold:
- `geodistill.card`: the model card JSON (`models.package.ModelCard`, validated on load);
- `geodistill.runtime`: what the engine needs without building the net (`RuntimeInfo`);
- `geodistill.graph_sha256`: the sha256 of every other top-level field of the file (graph,
  opsets, ...), checked on load, so a modified graph is refused.
A net that runs in parts (GINet: the global branch once per scene, the local branch per batch
of tiles) has one companion file per extra part, `<stem>.<part>.onnx`, whose digest the main
file's runtime facts record.

The metadata is read with a small protobuf scanner (the top level of ModelProto only), so
listing models needs neither the onnx package nor a loaded graph. Files above
`MAX_ONNX_BYTES` are refused before they are read.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import PackageError
from ..package import ModelCard

SUFFIX = ".onnx"
CARD_KEY = "geodistill.card"
RUNTIME_KEY = "geodistill.runtime"
DIGEST_KEY = "geodistill.graph_sha256"
MAX_ONNX_BYTES = 512 * 2**20
MIN_OPSET = 17
_METADATA_FIELD = 14  # ModelProto.metadata_props
_LENGTH_DELIMITED, _VARINT, _FIXED64, _FIXED32 = 2, 0, 1, 5


class ConversionError(PackageError):
    """A `.safetensors` package whose net does not convert to an ONNX graph equal to it."""


@dataclass
class RuntimeInfo:
    """Facts the engine needs to run a package without building its net."""

    task: str
    inputs: list[str]
    """Graph input names, in the engine's input order."""
    multiple_of: int = 1
    """Tile sides must be multiples of this."""
    input_size: int = 0
    """Classifiers: the chip side the net reads."""
    global_size: int = 0
    """GINet: the side of the global view."""
    opset: int = MIN_OPSET
    parts: dict = field(default_factory=dict)
    """Extra graphs: part name -> sha256 of the companion file `<stem>.<part>.onnx`."""

    @classmethod
    def from_json(cls, text: str, source: str) -> "RuntimeInfo":
        """Parse runtime facts; PackageError names `source` when they are unusable."""
        try:
            values = json.loads(text)
            info = cls(**values)
        except (json.JSONDecodeError, TypeError) as error:
            raise PackageError(f"{source}: the runtime facts in the ONNX metadata are damaged "
                               f"({error}); export the model again.") from error
        if not (isinstance(info.inputs, list) and info.inputs and all(isinstance(n, str) for n in info.inputs)
                and isinstance(info.multiple_of, int) and info.multiple_of >= 1
                and isinstance(info.parts, dict)):
            raise PackageError(f"{source}: the runtime facts in the ONNX metadata are invalid; "
                               f"export the model again.")
        return info

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class OnnxPackage:
    """A checked `.onnx` package: its card, runtime facts and the graph bytes to run."""

    path: Path
    card: ModelCard
    runtime: RuntimeInfo
    graph: bytes
    parts: dict[str, bytes] = field(default_factory=dict)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(data: bytes):
    """(field number, start, payload start, end) of each top-level protobuf field of `data`."""
    position = 0
    while position < len(data):
        start = position
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, position = _varint(data, position)
            payload = position
        elif wire == _LENGTH_DELIMITED:
            length, payload = _varint(data, position)
            position = payload + length
        elif wire == _FIXED64:
            payload, position = position, position + 8
        elif wire == _FIXED32:
            payload, position = position, position + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if position > len(data):
            raise ValueError("truncated field")
        yield number, start, payload, position


def _entry(data: bytes) -> tuple[str, str]:
    """(key, value) of a serialized StringStringEntryProto."""
    values = {1: "", 2: ""}
    for number, _, payload, end in _fields(data):
        if number in values:
            values[number] = data[payload:end].decode("utf-8")
    return values[1], values[2]


def scan_model(data: bytes) -> tuple[dict[str, str], str]:
    """(metadata_props as a dict, sha256 of every other top-level field) of ONNX file bytes."""
    metadata: dict[str, str] = {}
    digest = hashlib.sha256()
    for number, start, payload, end in _fields(data):
        if number == _METADATA_FIELD:
            key, value = _entry(data[payload:end])
            metadata[key] = value
        else:
            digest.update(data[start:end])
    return metadata, digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise PackageError(f"Model package {path} does not exist.")
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise PackageError(f"{path.name} is {size / 2**20:.0f} MB, more than the "
                           f"{MAX_ONNX_BYTES // 2**20} MB a GeoDistill model may have.")
    return path.read_bytes()


def _checked(path: Path, data: bytes) -> dict[str, str]:
    """The metadata of `data`, after checking the graph digest."""
    try:
        metadata, digest = scan_model(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise PackageError(f"{path.name} is not a readable ONNX model (the file is damaged, "
                           f"truncated or of another format): {error}") from error
    if DIGEST_KEY not in metadata:
        raise PackageError(f"{path.name} has no GeoDistill model card; export it with "
                           f"scripts/export_onnx.py or import its .safetensors package.")
    if metadata[DIGEST_KEY] != digest:
        raise PackageError(f"{path.name}: the graph does not match the sha256 in its metadata; "
                           f"the file was modified or damaged. Download or export it again.")
    return metadata


def part_path(path: Path, part: str) -> Path:
    """The companion file of `part` next to the main package `path`."""
    return path.with_name(f"{path.stem}.{part}{SUFFIX}")


def is_part_file(path: Path) -> bool:
    """True for a companion `<stem>.<part>.onnx` (listed through its main package only)."""
    return "." in path.stem


def read_onnx_card(path: str | Path) -> ModelCard:
    """The card of an `.onnx` package (graph digest checked, card validated)."""
    path = Path(path)
    metadata = _checked(path, _read_bytes(path))
    if CARD_KEY not in metadata:
        raise PackageError(f"{path.name} has no GeoDistill model card.")
    return ModelCard.from_json(metadata[CARD_KEY], path.name)


def load_onnx_package(path: str | Path) -> OnnxPackage:
    """Card, runtime facts and graph bytes of an `.onnx` package and its parts, all checked."""
    path = Path(path)
    data = _read_bytes(path)
    metadata = _checked(path, data)
    if CARD_KEY not in metadata or RUNTIME_KEY not in metadata:
        raise PackageError(f"{path.name} lacks its model card or runtime facts; export it again.")
    card = ModelCard.from_json(metadata[CARD_KEY], path.name)
    runtime = RuntimeInfo.from_json(metadata[RUNTIME_KEY], path.name)
    if runtime.task != card.task:
        raise PackageError(f"{path.name}: the graph is for {runtime.task} but the card says "
                           f"{card.task}; export the model again.")
    parts = {}
    for part, expected in runtime.parts.items():
        companion = part_path(path, part)
        part_data = _read_bytes(companion)
        _checked(companion, part_data)
        if hashlib.sha256(part_data).hexdigest() != expected:
            raise PackageError(f"{companion.name} does not belong to {path.name} (its sha256 "
                               f"differs); copy both files from the same export.")
        parts[part] = part_data
    return OnnxPackage(path, card, runtime, data, parts)
