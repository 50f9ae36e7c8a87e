"""Regenerate the `.onnx` package of every bundled `.safetensors` model (or of the given files).

Usage: .venv/bin/python scripts/export_onnx.py [PACKAGE.safetensors ...]
Each `.onnx` (and GINet's `.global.onnx`) is written next to its `.safetensors`, with the same
card; the export is checked against torch before it is written. Run it after retraining or
replacing a bundled model; it works for every architecture `models/nets` can build.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_plugin():
    """Import the repository as the `geodistill` package (the checkout may have any name)."""
    parent = Path(tempfile.mkdtemp(prefix="geodistill-export-"))
    (parent / "geodistill").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", type=Path,
                        help="packages to convert (default: every bundled .safetensors)")
    arguments = parser.parse_args()
    import_plugin()
    from geodistill.models.onnx_export import export_package
    from geodistill.models.registry import BUNDLED_FOLDER

    packages = arguments.packages or sorted(BUNDLED_FOLDER.glob("*.safetensors"))
    for package in packages:
        print(f"{package.name} -> {export_package(package).name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
