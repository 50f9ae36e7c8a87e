"""Build dist/geodistill-<version>.zip for the QGIS plugin repository.

The zip has one top folder `geodistill/` with the plugin's runtime files only (no tests,
benchmarks, CI files, caches or .pyc). Usage: python3 scripts/build_zip.py [--out DIR]
"""
from __future__ import annotations

import argparse
import configparser
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_FOLDER = "geodistill"
INCLUDED_FILES = ("metadata.txt", "__init__.py", "LICENSE", "README.md")
INCLUDED_FOLDERS = ("models", "plugin", "resources")
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache"}
#: bundled models ship as `.onnx`; their `.safetensors` weights (for scene adaptation and
#: fine-tuning with torch) only where they are this small, so the zip stays under 25 MB
MAX_BUNDLED_WEIGHTS_BYTES = 2**20


def _shipped(path: Path) -> bool:
    """False for large bundled weights whose `.onnx` is shipped instead."""
    return not (path.suffix == ".safetensors" and path.with_suffix(".onnx").is_file()
                and path.stat().st_size > MAX_BUNDLED_WEIGHTS_BYTES)


def plugin_files() -> list[Path]:
    """Every file that belongs in the plugin zip, relative to the repository root."""
    files = [Path(name) for name in INCLUDED_FILES]
    for folder in INCLUDED_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT)
            if (path.is_file() and path.suffix not in EXCLUDED_SUFFIXES
                    and not EXCLUDED_PARTS.intersection(relative.parts) and _shipped(path)):
                files.append(relative)
    return files


def build_zip(out_dir: Path) -> Path:
    """Write the zip and return its path."""
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(ROOT / "metadata.txt", encoding="utf-8")
    version = metadata["general"]["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{TOP_FOLDER}-{version}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(ROOT / relative, f"{TOP_FOLDER}/{relative.as_posix()}")
    partial.replace(target)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    print(build_zip(parser.parse_args().out))
