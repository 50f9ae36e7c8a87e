"""`make demo`: run GeoDistill's four tools headless on sample scenes, writing only in --out.

Pansharpens (model, MTF-GLP and GDAL Brovey, with an evaluation report), dehazes, segments
and classifies by scene the shared data's samples (WorldView-2 pair, a real hazy AID image, a
Dubai aerial tile) copied into --out/inputs, or small synthetic examples when the shared data
is absent (--examples forces them). Writes each result, overview.png (the pansharpening results
rendered side by side) and demo.json (tool -> input and result, read by
scripts/screenshots.py).
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_plugin():
    """Import the repository as the `geodistill` package (the checkout may have any name),
    through a link in a temporary folder removed when the demo ends."""
    parent = Path(tempfile.mkdtemp(prefix="geodistill-demo-"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    (parent / "geodistill").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(parent))
    import geodistill

    return geodistill


def render_overview(layers: list, titles: list[str], path: Path, size: int = 320) -> None:
    """Render the same central extent of each layer with its style, side by side, to a PNG."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsRectangle
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor, QImage, QPainter

    extent = layers[0].extent()
    side = min(extent.width(), extent.height()) / 4
    centre = extent.center()
    crop = QgsRectangle(centre.x() - side, centre.y() - side, centre.x() + side, centre.y() + side)
    canvas = QImage(size * len(layers), size + 24, QImage.Format_ARGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    for index, (layer, title) in enumerate(zip(layers, titles)):
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(layer.crs())
        settings.setExtent(crop)
        settings.setOutputSize(QSize(size, size))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        painter.drawImage(index * size, 24, job.renderedImage())
        painter.drawText(index * size + 6, 17, title)
    painter.end()
    canvas.save(str(path))


def run_pansharpen_methods(processing, inputs, out: Path, feedback) -> dict[str, str]:
    """The model, MTF-GLP and Brovey results (method -> path), and the evaluation report."""
    outputs = {}
    for method, index in (("model", 0), ("mtf_glp", 1), ("brovey", 2)):
        try:
            result = processing.run("geodistill:pansharpen", {
                "MS": str(inputs.ms), "PAN": str(inputs.pan), "METHOD": index,
                "SENSOR": sensor_index(inputs.sensor),
                "OUTPUT": str(out / f"pansharpened_{method}.tif")}, feedback=feedback)
        except Exception as error:  # a missing bundled model must not stop the other demos
            print(f"pansharpen METHOD={method}: {error}")
            continue
        outputs[method] = result["OUTPUT"]
        print(f"pansharpen METHOD={method}: {result['OUTPUT']}")
    if "model" in outputs:
        report = processing.run("geodistill:evaluate_pansharpen", {
            "MS": str(inputs.ms), "PAN": str(inputs.pan), "MODEL": "default",
            "SENSOR": sensor_index(inputs.sensor), "ADAPT_ITERATIONS": 0,
            "OUTPUT_REPORT": str(out / "pansharpen_evaluation.html")}, feedback=feedback)
        print(f"evaluation report: {report['OUTPUT_REPORT']}")
    return outputs


def run_other_tools(processing, inputs, out: Path, feedback) -> dict[str, dict]:
    """Dehaze, segment and classify scenes once each: tool -> algorithm, input and result."""
    runs = {
        "dehaze": ("geodistill:dehaze", inputs.hazy, {"OUTPUT": str(out / "dehazed.tif")}, "OUTPUT"),
        "segment": ("geodistill:segment", inputs.aerial,
                    {"OUTPUT": str(out / "land_cover.tif"), "OUTPUT_POLYGONS": str(out / "land_cover.gpkg")},
                    "OUTPUT"),
        # cells of 128 px: the example scenes are smaller than the AID scene size on the ground
        "classify_scenes": ("geodistill:classify_scenes", inputs.aerial,
                            {"OUTPUT": str(out / "scene_classes.gpkg"), "CHIP_SIZE": 128}, "OUTPUT"),
    }
    results = {}
    for tool, (algorithm, source, outputs, shown) in runs.items():
        try:
            result = processing.run(algorithm, {"INPUT": str(source), **outputs}, feedback=feedback)
        except Exception as error:  # one failing tool must not stop the others
            print(f"{tool}: {error}")
            continue
        results[tool] = {"algorithm": algorithm, "input": str(source), "output": str(result[shown])}
        print(f"{tool}: {result[shown]}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo_out")
    parser.add_argument("--examples", action="store_true",
                        help="use the synthetic examples even when the shared data is present")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from qgis.core import QgsApplication, QgsProcessingFeedback, QgsRasterLayer

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    import processing
    from processing.core.Processing import Processing

    Processing.initialize()
    plugin = import_plugin().classFactory(None)
    plugin.initProcessing()
    from demo_inputs import demo_inputs
    from geodistill.plugin.styling import apply_display_style

    inputs = demo_inputs(out / "inputs", examples=args.examples)
    print(f"Inputs ({inputs.source}) in {out / 'inputs'}")
    feedback = QgsProcessingFeedback()
    sharpened = run_pansharpen_methods(processing, inputs, out, feedback)
    results = run_other_tools(processing, inputs, out, feedback)
    if sharpened:
        method = "model" if "model" in sharpened else next(iter(sharpened))
        results = {"pansharpen": {"algorithm": "geodistill:pansharpen", "input": str(inputs.ms),
                                  "output": sharpened[method]}, **results}
    (out / "demo.json").write_text(json.dumps({"source": inputs.source, "results": results}, indent=2))

    layers, titles = [], []
    for title, path in [("MS (upsampled view)", inputs.ms), ("PAN", inputs.pan)] + \
            [(f"GeoDistill {m}", p) for m, p in sharpened.items()]:
        layer = QgsRasterLayer(str(path), title)
        apply_display_style(layer)
        layers.append(layer)
        titles.append(title)
    render_overview(layers, titles, out / "overview.png")
    print(f"overview: {out / 'overview.png'}")
    plugin.unload()
    return 0 if len(results) == 4 else 1


def sensor_index(sensor: str) -> int:
    from geodistill.models.catalogue import SENSORS

    return SENSORS.index(sensor)


if __name__ == "__main__":
    sys.exit(main())
