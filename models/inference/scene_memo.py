"""Whole-scene results that the windows of a split raster share instead of each computing
them again: decimated whole-scene reads (scaling statistics, global views, airlight) and
choices made once per scene.

Outside `shared_scene_results` every call computes. Inside it, a result is stored in the
folder under a key made of what it depends on (the raster's path, size and modification
time, and the read's parameters) and later calls, in this process or in another one on the
same shared folder, load it; the stored arrays are the computed ones, bit for bit, so a split
run gives the pixels of a whole run.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

_FOLDER: ContextVar[Path | None] = ContextVar("geodistill_scene_results", default=None)


@contextmanager
def shared_scene_results(folder: str | Path) -> Iterator[None]:
    """Within the block, `remembered` results are kept in (and taken from) `folder`."""
    token = _FOLDER.set(Path(folder))
    try:
        yield
    finally:
        _FOLDER.reset(token)


def file_state(path: str | Path) -> tuple:
    """What a result computed from the file at `path` depends on: the path, its size and its
    modification time (GDAL's, whole seconds, for a virtual path such as /vsizip/...)."""
    if str(path).startswith("/vsi"):
        from osgeo import gdal

        status = gdal.VSIStatL(str(path))
        return (str(path),) if status is None else (str(path), status.size, status.mtime)
    try:
        status = os.stat(path)
    except OSError:  # a subdataset name (GPKG:...), or no file: the read says what is wrong
        return (str(path),)
    return (str(path), status.st_size, status.st_mtime_ns)


def remembered(kind: str, key: tuple, compute: Callable[[], dict[str, np.ndarray]]
               ) -> dict[str, np.ndarray]:
    """`compute()` (named arrays), or the arrays stored for (`kind`, `key`) by an earlier call
    within the same `shared_scene_results` folder."""
    folder = _FOLDER.get()
    if folder is None:
        return compute()
    digest = hashlib.sha256(repr((kind,) + tuple(key)).encode()).hexdigest()[:20]
    path = folder / f"{kind}-{digest}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    values = compute()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{path.stem}.{os.getpid()}.partial"
    with open(partial, "wb") as handle:
        np.savez(handle, **values)
    os.replace(partial, path)
    return values
