"""The four inference algorithms and diagnostics run through Processing on small rasters.

Run as a script (`python inference_runs.py PLUGIN_PARENT FOLDER [block-torch]`) it starts a
headless QGIS, optionally makes torch unimportable before anything is imported, runs every
algorithm with its default bundled model and prints one JSON line: the outputs, the
diagnostics report and whether torch got imported. The tests run it in-process too.
"""
from __future__ import annotations

import importlib.abc
import json
import sys
from pathlib import Path


class TorchBlocker(importlib.abc.MetaPathFinder):
    """Makes `import torch` (and its submodules) fail as where torch is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named '{name}' (blocked)")
        return None


def run_all(folder: Path, inputs: dict[str, str]) -> dict:
    """Run pansharpen, dehaze, segment and classify_scenes with default models, and diagnostics."""
    from qgis import processing

    outputs = {
        "pansharpen": processing.run("geodistill:pansharpen", {
            "MS": inputs["ms"], "PAN": inputs["pan"], "METHOD": 0, "TILE_SIZE": 64, "OVERLAP": 16,
            "DEVICE": "auto", "OUTPUT": str(folder / "sharp.tif")})["OUTPUT"],
        "dehaze": processing.run("geodistill:dehaze", {
            "INPUT": inputs["rgb"], "TILE_SIZE": 128, "OVERLAP": 32, "DEVICE": "auto",
            "OUTPUT": str(folder / "dehazed.tif")})["OUTPUT"],
        "segment": processing.run("geodistill:segment", {
            "INPUT": inputs["rgb"], "TILE_SIZE": 64, "OVERLAP": 16, "DEVICE": "auto",
            "OUTPUT": str(folder / "classes.tif")})["OUTPUT"],
        "classify": processing.run("geodistill:classify_scenes", {
            "INPUT": inputs["rgb"], "CHIP_SIZE": 48, "DEVICE": "auto",
            "OUTPUT": str(folder / "cells.gpkg"), "OUTPUT_RASTER": str(folder / "cells.tif")})["OUTPUT_RASTER"],
    }
    report = processing.run("geodistill:diagnostics", {"DEVICE": "auto"})["REPORT"]
    return {"outputs": outputs, "report": report, "torch_imported": "torch" in sys.modules}


def main() -> None:
    plugin_parent, folder = sys.argv[1], Path(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "block-torch":
        sys.meta_path.insert(0, TorchBlocker())
    sys.path.insert(0, plugin_parent)
    sys.path.append("/usr/share/qgis/python/plugins")
    from qgis.core import QgsApplication

    application = QgsApplication([], False)
    application.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    import geodistill

    plugin = geodistill.classFactory(None)
    plugin.initProcessing()
    inputs = json.loads((folder / "inputs.json").read_text())
    result = run_all(folder, inputs)
    print("RESULT " + json.dumps(result), flush=True)
    plugin.unload()


if __name__ == "__main__":
    main()
