"""Python dependencies of GeoDistill: what is missing, and the message that says how to fix it.

Checks use `importlib.util.find_spec`, which locates a package without importing it, so they
are cheap enough to run when QGIS starts.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Dependency:
    """A Python package GeoDistill needs, with the pip requirement that installs it."""

    module: str
    requirement: str
    purpose: str


DEPENDENCIES = (
    Dependency("torch", "torch>=2.1", "runs the deep models"),
    Dependency("rasterio", "rasterio>=1.3", "reads and writes rasters tile by tile"),
    Dependency("safetensors", "safetensors>=0.4", "loads model packages safely"),
    Dependency("torchmetrics", "torchmetrics>=1.2", "computes evaluation metrics"),
)


def missing_dependencies() -> list[Dependency]:
    """Dependencies that cannot be found by the Python running QGIS."""
    missing = []
    for dependency in DEPENDENCIES:
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
    return (
        f"GeoDistill needs the Python package(s) {names}, which the Python used by QGIS "
        f"cannot import. Install them from the menu GeoDistill > Install dependencies, or in "
        f"a shell that runs QGIS's Python: python3 -m pip install {requirements} "
        f"(for an NVIDIA GPU, install torch from the CUDA wheel index that matches your driver)."
    )


def import_required(module: str):
    """Import `module`; raise `ImportError` with the install message when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        dependency = next((d for d in DEPENDENCIES if d.module == module),
                          Dependency(module, module, "is required"))
        raise ImportError(install_message([dependency])) from error
