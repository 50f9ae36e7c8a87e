"""Errors raised by `models`, and the one mapping from any error to a sentence for the user.

Each `GeoDistillError` message is written for the user and says what to fix. `user_message`
turns every other error (out of memory, a damaged raster, a full disk, a bug) into such a
sentence as well; the plugin shows that sentence and logs the traceback at debug level only.
"""
from __future__ import annotations

import errno
import re

#: longest message shown; longer texts (a name pasted into a field, a GDAL dump) are cut
MESSAGE_LIMIT = 600
#: longest run of text without a space kept whole (a pasted layer name or path)
WORD_LIMIT = 160
_WHITESPACE = re.compile(r"\s+")
_LONG_WORD = re.compile(r"\S{%d,}" % (WORD_LIMIT + 1))


class GeoDistillError(Exception):
    """Base class of all errors whose message a user can act on."""


class InputError(GeoDistillError):
    """An input raster, vector or parameter cannot be used as given."""


class PackageError(GeoDistillError):
    """A model package is missing, malformed, tampered with or of an unknown architecture."""


class DeviceError(GeoDistillError):
    """The requested compute device does not exist or cannot be used."""


class Cancelled(GeoDistillError):
    """The user cancelled the run; partial outputs have been removed."""


class MemoryBudgetError(InputError):
    """A run would need more memory than the machine has free; the message says what to lower."""


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` on one line, each very long word (a pasted name) and the whole cut with an ellipsis."""
    text = _WHITESPACE.sub(" ", str(text)).strip()
    text = _LONG_WORD.sub(lambda m: m.group(0)[:WORD_LIMIT // 2] + "…" + m.group(0)[-20:], text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _is_raster_library_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] == "rasterio"


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower())


def user_message(error: BaseException) -> str:
    """One actionable sentence for any error, never traceback text."""
    if isinstance(error, Cancelled):
        return shorten(f"Cancelled: {error}")
    if isinstance(error, GeoDistillError):
        return shorten(str(error))
    if _is_out_of_memory(error):
        return ("There was not enough memory for this run. Use a smaller TILE_SIZE (or a smaller "
                "area, fewer training samples or a smaller patch size), close other programs, "
                "and run it again.")
    if _is_raster_library_error(error):
        return shorten(f"A raster could not be read or written ({_first_line(error)}). The file "
                       "may be damaged or truncated: open it in QGIS to check it, export it "
                       "again as a GeoTIFF, and run again.")
    if isinstance(error, OSError):
        name = f" ({error.filename})" if error.filename else ""
        if error.errno == errno.ENOSPC:
            return shorten(f"The disk is full{name}. Free some space or write the output to "
                           "another disk, and run again.")
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return shorten(f"Permission denied{name}. Choose a file or folder you can read and "
                           "write, and run again.")
        return shorten(f"A file could not be used{name}: {error.strerror or _first_line(error)}. "
                       "Check the path and the file, and run again.")
    if isinstance(error, RecursionError):
        return ("An input is nested too deeply to be read (a damaged or hostile file?). Check the "
                "files given, and run again.")
    return shorten(f"GeoDistill stopped on an unexpected error ({type(error).__name__}: "
                   f"{_first_line(error)}). The details are in the log (debug level); please "
                   "report them with the input that caused it.")
