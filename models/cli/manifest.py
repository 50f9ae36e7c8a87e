"""`manifest.json` of an output folder: what each finished output was made from (inputs,
tool, parameters) and its sha256, so that a rerun skips outputs that still match and redoes
missing or changed ones. The file is replaced atomically after every finished scene."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError
from .virtual_paths import is_virtual, virtual_stat

FILE_NAME = "manifest.json"
FORMAT = 1
HASH_CHUNK = 2**20


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_signature(path: str) -> dict:
    """What identifies a file's version cheaply: its path, size and modification time (GDAL's,
    whole seconds, for a virtual path)."""
    if is_virtual(path):
        status = virtual_stat(path)
        return {"path": path, "size": status.size, "mtime_ns": status.mtime * 10**9}
    status = os.stat(path)
    return {"path": path, "size": status.st_size, "mtime_ns": status.st_mtime_ns}


@dataclass
class Entry:
    """A finished output: its inputs, tool and parameters, its sha256 (and the size and
    modification time it had), where and how fast it ran."""

    inputs: list[dict]
    tool: str
    parameters: dict
    sha256: str
    workers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    output: dict = field(default_factory=dict)

    def matches(self, other: "Entry") -> bool:
        """Whether `other` asks for the same output (same inputs, tool and parameters)."""
        return (self.inputs, self.tool, self.parameters) == (other.inputs, other.tool, other.parameters)


class Manifest:
    """The manifest of one output folder (entries keyed by output file name)."""

    def __init__(self, folder: Path):
        self.path = folder / FILE_NAME
        self.entries: dict[str, Entry] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                self.entries = {name: Entry(**entry) for name, entry in data["entries"].items()}
            except (ValueError, KeyError, TypeError) as error:
                raise InputError(f"{self.path} is not a GeoDistill manifest ({error}); move it "
                                 f"away or choose another output folder.") from error

    def is_current(self, output: Path, wanted: Entry) -> bool:
        """Whether `output` exists, its entry asks for what `wanted` asks, and its bytes are
        still the ones recorded: the same size and modification time, or else the same sha256
        (so that a rerun over many large outputs reads only those that were touched)."""
        entry = self.entries.get(output.name)
        if entry is None or not entry.matches(wanted) or not output.is_file():
            return False
        now = file_signature(str(output))
        if now == entry.output:
            return True
        return now["size"] == entry.output.get("size") and sha256_of(output) == entry.sha256

    def record(self, output: Path, entry: Entry) -> None:
        """Record a finished output (with its size and modification time) and save the
        manifest."""
        entry.output = file_signature(str(output))
        self.entries[output.name] = entry
        self.save()

    def forget(self, output: Path) -> None:
        """Drop the entry of an output that is being redone (saved with the next record)."""
        self.entries.pop(output.name, None)

    def save(self) -> None:
        """Write the manifest under a temporary name and move it into place."""
        data = {"format": FORMAT,
                "entries": {name: asdict(entry) for name, entry in sorted(self.entries.items())}}
        temporary = self.path.with_name(f".{FILE_NAME}.partial")
        temporary.write_text(json.dumps(data, indent=1))
        os.replace(temporary, self.path)
