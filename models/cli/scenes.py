"""Which scenes a command line run processes: rasters given as files or folders, and for
pansharpening MS/PAN pairs matched by name or listed in a CSV file."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .virtual_paths import is_virtual, virtual_listing, virtual_stat

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img")
#: name tokens that mark a multispectral and a panchromatic raster of a pair
MS_TOKENS = ("ms", "mul", "mss", "multispectral")
PAN_TOKENS = ("pan", "panchromatic", "p")
_TOKEN_SPLIT = re.compile(r"([_\-. ]+)")


@dataclass(frozen=True)
class Scene:
    """One unit of work: its name (the output's stem) and its input rasters (MS, PAN for
    pansharpening; the raster otherwise)."""

    name: str
    inputs: tuple[str, ...]


@dataclass
class SceneList:
    """The scenes found, and inputs that could not be made into a scene (with the reason)."""

    scenes: list[Scene]
    problems: list[tuple[str, str]]


def raster_files(inputs: list[str]) -> list[str]:
    """The rasters named by `inputs` (files, and the rasters of folders, not recursive), as
    absolute paths that workers elsewhere can open on a shared filesystem, or as the GDAL
    virtual paths given (/vsizip/..., /vsis3/...)."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if is_virtual(item):
            found.extend(_virtual_rasters(item))
        elif path.is_dir():
            found.extend(sorted(str(p.resolve()) for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES))
        elif path.is_file():
            found.append(str(path.resolve()))
        else:
            raise InputError(f"Input {item} does not exist; give raster files or folders of rasters.")
    return found


def _virtual_rasters(item: str) -> list[str]:
    """The raster a GDAL virtual path names, or the rasters of the virtual folder it names."""
    status = virtual_stat(item)
    if status is None:
        raise InputError(f"Input {item} does not exist (GDAL cannot open that virtual path); check "
                         f"the path and, for object storage, the credentials GDAL reads.")
    if status.IsDirectory():
        return [path for path in virtual_listing(item) if Path(path).suffix.lower() in RASTER_SUFFIXES]
    return [item]


def stem(path: str) -> str:
    """The file name without its suffix."""
    return Path(path).stem


def single_scenes(inputs: list[str]) -> SceneList:
    """One scene per raster, named after its file."""
    return _checked([Scene(stem(path), (path,)) for path in raster_files(inputs)], [])


def pair_scenes(inputs: list[str]) -> SceneList:
    """MS/PAN pairs: from CSV files (columns ms, pan and optionally name; relative paths are
    relative to the CSV) and from rasters matched by name (`x_ms.tif` with `x_pan.tif`, or
    `MUL_x.tif` with `PAN_x.tif`: the scene is named after what the two names share)."""
    tables = [item for item in inputs if item.lower().endswith(".csv")]
    scenes = [scene for table in tables for scene in _csv_pairs(Path(table))]
    by_role: dict[str, dict[str, str]] = {"ms": {}, "pan": {}}
    problems = []
    for path in raster_files([item for item in inputs if item not in tables]):
        role, name = _role_and_name(stem(path))
        if role is None:
            problems.append((path, "the name says neither MS nor PAN (e.g. scene_ms.tif and "
                                   "scene_pan.tif), and no CSV of pairs lists it"))
        else:
            by_role[role][name] = path
    for name in sorted(set(by_role["ms"]) | set(by_role["pan"])):
        ms, pan = by_role["ms"].get(name), by_role["pan"].get(name)
        if ms is None or pan is None:
            have, missing = ("MS", "PAN") if pan is None else ("PAN", "MS")
            problems.append((ms or pan, f"{have} raster without a {missing} raster of the "
                                        f"same name; add it or list the pair in a CSV"))
        else:
            scenes.append(Scene(name, (ms, pan)))
    return _checked(scenes, problems)


def _role_and_name(stem: str) -> tuple[str | None, str]:
    parts = _TOKEN_SPLIT.split(stem)
    for index in range(0, len(parts), 2):
        token = parts[index].lower()
        role = "ms" if token in MS_TOKENS else "pan" if token in PAN_TOKENS else None
        if role is not None:
            rest = parts[:index - 1] + parts[index + 1:] if index else parts[2:]
            return role, "".join(rest) or role
    return None, stem


def _csv_pairs(table: Path) -> list[Scene]:
    if not table.is_file():
        raise InputError(f"The CSV of pairs {table} does not exist.")
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"ms", "pan"} <= {key.strip().lower() for key in rows[0]}:
        raise InputError(f"{table.name} must have a header with the columns ms and pan (and "
                         f"optionally name), then one MS/PAN pair per line.")
    scenes = []
    for row in rows:
        row = {key.strip().lower(): (value or "").strip() for key, value in row.items()}
        ms, pan = (str((table.parent / row[role]).resolve()) for role in ("ms", "pan"))
        scenes.append(Scene(row.get("name") or _role_and_name(stem(ms))[1], (ms, pan)))
    return scenes


def _checked(scenes: list[Scene], problems: list[tuple[str, str]]) -> SceneList:
    seen: dict[str, Scene] = {}
    for scene in scenes:
        other = seen.setdefault(scene.name, scene)
        if other is not scene:
            raise InputError(f"Two scenes would both be written as '{scene.name}': "
                             f"{other.inputs[0]} and {scene.inputs[0]}. Run them into "
                             f"different output folders or rename one.")
    return SceneList(scenes, problems)
