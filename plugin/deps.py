"""Python dependencies of GeoDistill: what is missing, and the message that says how to fix it.

Checks use `importlib.util.find_spec` and `importlib.metadata`, which locate a package and
read its version without importing it, so they are cheap enough to run when QGIS starts.
Packages installed by GeoDistill's installer live in a folder owned by the plugin, appended to
`sys.path` by `use_packages_folder` (appended: QGIS's own numpy, GDAL and PyQt always win).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path


RUN_PACK = "Run models"
TRAIN_PACK = "Train models"


@dataclass(frozen=True)
class Dependency:
    """A Python package GeoDistill needs, with the pip requirement that installs it and the
    pack it belongs to: "Run models" (inference) or "Train models" (training, evaluation)."""

    module: str
    requirement: str
    purpose: str
    pack: str = RUN_PACK


DEPENDENCIES = (
    Dependency("onnxruntime", "onnxruntime==1.32.0", "runs the models"),
    Dependency("rasterio", "rasterio>=1.3", "reads and writes rasters tile by tile"),
    Dependency("torch", "torch==2.13.0", "trains and evaluates models", TRAIN_PACK),
    Dependency("safetensors", "safetensors==0.8.0", "stores trained weights safely", TRAIN_PACK),
    Dependency("torchmetrics", "torchmetrics==1.9.0", "computes evaluation metrics", TRAIN_PACK),
    Dependency("onnx", "onnx==1.23.2", "writes trained models for ONNX Runtime", TRAIN_PACK),
)


def pack_dependencies(pack: str) -> list[Dependency]:
    """The dependencies of a pack; the "Train models" pack needs the "Run models" one too."""
    return [d for d in DEPENDENCIES if d.pack == RUN_PACK or d.pack == pack]


def missing_dependencies(pack: str | None = None) -> list[Dependency]:
    """Dependencies (of `pack`, or all) that cannot be found by the Python running QGIS."""
    missing = []
    for dependency in DEPENDENCIES if pack is None else pack_dependencies(pack):
        try:
            found = importlib.util.find_spec(dependency.module) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or broken
            found = False
        if not found:
            missing.append(dependency)
    return missing


def install_message(missing: list[Dependency]) -> str:
    """A sentence naming the missing packages and the command that installs them."""
    names = ", ".join(f"'{d.module}' ({d.purpose})" for d in missing)
    requirements = " ".join(d.requirement for d in missing)
    packs = " and ".join(f"'{pack}'" for pack in (RUN_PACK, TRAIN_PACK) if any(d.pack == pack for d in missing))
    return (
        f"GeoDistill needs the Python package(s) {names}, which the Python used by QGIS "
        f"cannot import. Install the {packs} pack from the menu GeoDistill > Install "
        f"dependencies, or in a shell that runs QGIS's Python: python3 -m pip install "
        f"{requirements} (for an NVIDIA GPU, install torch from the CUDA wheel index that "
        f"matches your driver)."
    )


def import_required(module: str):
    """Import `module`; raise `ImportError` with the install message when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        dependency = next((d for d in DEPENDENCIES if d.module == module),
                          Dependency(module, module, "is required"))
        raise ImportError(install_message([dependency])) from error


@dataclass(frozen=True)
class DependencyStatus:
    """A dependency with the version the Python running QGIS finds (None: not installed)."""

    dependency: Dependency
    version: str | None

    @property
    def installed(self) -> bool:
        """Whether the package can be found at all."""
        return self.version is not None

    @property
    def ok(self) -> bool:
        """Installed, and at least the minimum version of its requirement."""
        minimum = minimum_version(self.dependency.requirement)
        if self.version is None:
            return False
        if minimum is None or self.version == UNKNOWN_VERSION:
            return True
        return version_tuple(self.version) >= version_tuple(minimum)

    def describe(self) -> str:
        """"torch 2.13.0", "torch 1.13 (needs torch>=2.1)" or "torch: not installed"."""
        name = self.dependency.module
        if self.version is None:
            return f"{name}: not installed"
        if not self.ok:
            return f"{name} {self.version} (needs {self.dependency.requirement})"
        return f"{name} {self.version}"


UNKNOWN_VERSION = "unknown version"


def minimum_version(requirement: str) -> str | None:
    """The version after `>=` in a requirement such as "torch>=2.1", or None."""
    match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    return match.group(1) if match else None


def version_tuple(version: str) -> tuple[int, ...]:
    """Leading numeric parts of a version: "2.13.0+cu126" -> (2, 13, 0)."""
    parts = []
    for part in version.split("+")[0].split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def installed_version(module: str) -> str | None:
    """The installed version of `module`'s distribution, without importing it (None: missing)."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def dependency_statuses() -> list[DependencyStatus]:
    """Every dependency with its installed version."""
    return [DependencyStatus(d, installed_version(d.module)) for d in DEPENDENCIES]


def use_packages_folder(folder: str | Path) -> bool:
    """Append the installer's package folder to `sys.path` (once); True when it is on the path."""
    folder = str(folder)
    if not Path(folder).is_dir():
        return False
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()
    return True
