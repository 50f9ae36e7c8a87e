"""Outputs of a run that has several steps: when a later step fails or is cancelled, the files
the earlier steps finished are removed, so no output that looks finished is left behind."""
from __future__ import annotations

import contextlib
from pathlib import Path


@contextlib.contextmanager
def removed_on_failure(*paths: str | Path | None):
    """Delete every given file (None entries skipped) and its sidecars (GDAL's .aux.xml, the
    .qml style) if the block raises, then re-raise."""
    try:
        yield
    except BaseException:
        for path in map(Path, filter(None, paths)):
            for extra in (path, path.with_name(path.name + ".aux.xml"), path.with_suffix(".qml")):
                extra.unlink(missing_ok=True)
        raise
