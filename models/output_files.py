"""Checks every output path passes before any work starts (the right extension, a folder that
exists and takes files, not one of the inputs), and atomic writing of small text outputs (no
empty or half-written file is ever left at the final name)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError

MODEL_SUFFIXES = (".safetensors",)
REPORT_SUFFIXES = (".html", ".htm")


def check_output_file(path: str | Path, suffixes: tuple[str, ...], what: str,
                      inputs: list[str | Path] = ()) -> Path:
    """The output `path` as a Path; InputError saying what to change unless its extension is one
    of `suffixes`, its folder exists and accepts new files, and it is none of `inputs`."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{path.name}: the {what} is written as {' or '.join(suffixes)}; give "
                         f"the file that extension (not '{path.suffix or 'no extension'}').")
    check_output_folder(path, what)
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(source, path):
            raise InputError(f"The {what} {path.name} is one of the inputs; choose another "
                             f"output file (the input is read while the output is written).")
    return path


def check_output_folder(path: str | Path, what: str) -> None:
    """InputError unless the folder of `path` exists and a file can be created in it."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise InputError(f"The folder of the {what} ({folder}) does not exist; create it or "
                         f"choose another place for {Path(path).name}.")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"Cannot write the {what} into {folder} ({error.strerror}); choose a "
                         f"folder you can write to.") from None


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) under a hidden temporary name in the same folder and rename it to
    `path` only once complete; on failure the temporary file is removed and an older file at
    `path` is left as it was."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
