"""`make demo`: run GeoDistill's Processing algorithms headless on a sample scene.

Uses the shared WorldView-2 pair (../shared/data/pansharpening/worldview2) when it is there,
else a synthetic MS + PAN pair, and writes to --out: each method's GeoTIFF, the evaluation
report (HTML + JSON) and overview.png (QGIS-rendered crops side by side, styled as in QGIS).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_SCENE = ROOT.parent / "shared" / "data" / "pansharpening" / "worldview2"


def import_plugin():
    """Import the repository as the `geodistill` package (the checkout may have any name)."""
    parent = Path(tempfile.mkdtemp(prefix="geodistill-demo-"))
    (parent / "geodistill").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(parent))
    import geodistill

    return geodistill


def sample_scene(out: Path) -> tuple[Path, Path, str]:
    """(MS, PAN, sensor) of the shared WorldView-2 scene, or of a synthetic pair."""
    if (SHARED_SCENE / "ms.tif").exists():
        return SHARED_SCENE / "ms.tif", SHARED_SCENE / "pan.tif", "worldview2"
    sys.path.insert(0, str(ROOT / "tests"))
    from rasters import pansharpening_scene

    folder = out / "synthetic_scene"
    folder.mkdir(parents=True, exist_ok=True)
    scene = pansharpening_scene(folder, bands=4, ratio=4, size=512)
    return scene.ms_path, scene.pan_path, "generic"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo_out")
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
    from geodistill.plugin.styling import apply_display_style

    ms, pan, sensor = sample_scene(out)
    print(f"Sample scene: {ms} + {pan} (sensor {sensor})")
    feedback = QgsProcessingFeedback()
    outputs = {}
    for method, index in (("mtf_glp", 1), ("brovey", 2), ("model", 0)):
        try:
            result = processing.run("geodistill:pansharpen", {
                "MS": str(ms), "PAN": str(pan), "METHOD": index, "SENSOR": sensor_index(sensor),
                "OUTPUT": str(out / f"pansharpened_{method}.tif")}, feedback=feedback)
        except Exception as error:  # a missing bundled model must not stop the other demos
            print(f"pansharpen METHOD={method}: {error}")
            continue
        outputs[method] = result["OUTPUT"]
        print(f"pansharpen METHOD={method}: {result['OUTPUT']}")
    report = processing.run("geodistill:evaluate_pansharpen", {
        "MS": str(ms), "PAN": str(pan), "MODEL": "default" if "model" in outputs else "",
        "SENSOR": sensor_index(sensor), "ADAPT_ITERATIONS": 0,
        "OUTPUT_REPORT": str(out / "pansharpen_evaluation.html")}, feedback=feedback) \
        if "model" in outputs else None
    if report:
        print(f"evaluation report: {report['OUTPUT_REPORT']}")

    layers, titles = [], []
    for title, path in [("MS (upsampled view)", ms), ("PAN", pan)] + \
            [(f"GeoDistill {m}", p) for m, p in outputs.items()]:
        layer = QgsRasterLayer(str(path), title)
        apply_display_style(layer)
        layers.append(layer)
        titles.append(title)
    render_overview(layers, titles, out / "overview.png")
    print(f"overview: {out / 'overview.png'}")
    plugin.unload()
    return 0


def sensor_index(sensor: str) -> int:
    from geodistill.plugin.algorithms.pansharpen import SENSORS

    return SENSORS.index(sensor)


if __name__ == "__main__":
    sys.exit(main())
