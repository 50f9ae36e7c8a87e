"""Run inside a real QGIS window (qgis --code): show each tool's input and result and save a
picture of the main window, then quit QGIS. scripts/screenshots.py starts it.

Reads the job from the GEODISTILL_SHOTS environment variable: JSON with "shots" (a list of
{"title", "input", "output", "png"}), "width" (the pictures' width in pixels) and optionally
"panel" ({"plugin_parent", "layers", "png"}: the GeoDistill panel, 360 px wide, with these
layers loaded, the plugin imported from the folder holding a `geodistill` link).
"""
import json
import os
import sys
import traceback

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QImage
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface

JOB = json.loads(os.environ["GEODISTILL_SHOTS"])
#: milliseconds QGIS gets to draw the layers after the canvas says it has finished
SETTLE_MS = 1500
PANEL_WIDTH = 360


def load(path: str, name: str):
    """A raster or vector layer of `path`, with the style saved beside or inside it; an error
    when `path` is neither."""
    layer = QgsRasterLayer(path, name)
    if not layer.isValid():
        layer = QgsVectorLayer(path, name, "ogr")
    if not layer.isValid():
        raise RuntimeError(f"{path} cannot be opened as a raster or vector layer")
    return layer


def show(shot: dict) -> None:
    """The input below the result, zoomed to the result."""
    project = QgsProject.instance()
    project.removeAllMapLayers()
    source = load(shot["input"], f"input: {os.path.basename(shot['input'])}")
    result = load(shot["output"], f"{shot['title']}: {os.path.basename(shot['output'])}")
    project.addMapLayer(source)
    project.addMapLayer(result)
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(result.crs())
    canvas.setExtent(result.extent())
    canvas.refresh()


def save(shot: dict) -> None:
    """A picture of the whole QGIS window, scaled to the job's width, in a small palette."""
    picture = iface.mainWindow().grab().toImage()
    picture = picture.scaledToWidth(JOB["width"], Qt.TransformationMode.SmoothTransformation)
    picture.convertToFormat(QImage.Format.Format_Indexed8).save(shot["png"])
    print(f"saved {shot['png']}", flush=True)


def save_panel(panel: dict) -> None:
    """The GeoDistill panel at its default width, on the pansharpening page, as a PNG."""
    project = QgsProject.instance()
    project.removeAllMapLayers()
    for path in panel["layers"]:
        project.addMapLayer(load(path, os.path.splitext(os.path.basename(path))[0]))
    sys.path.insert(0, panel["plugin_parent"])
    import geodistill

    plugin = geodistill.classFactory(iface)
    plugin.initGui()
    plugin.show_dock()
    dock = plugin.dock
    dock.show_page("pansharpen")
    iface.mainWindow().resizeDocks([dock], [PANEL_WIDTH], Qt.Orientation.Horizontal)
    QgsApplication.processEvents()
    dock.widget().grab().toImage().convertToFormat(QImage.Format.Format_Indexed8).save(panel["png"])
    print(f"saved {panel['png']}", flush=True)


def finish() -> None:
    """Take the panel's picture when asked, then quit without saving anything."""
    if JOB.get("panel"):
        save_panel(JOB["panel"])
    QgsProject.instance().clear()  # nothing to save: QGIS quits without asking
    QgsApplication.exit(0)


def step(index: int = 0) -> None:
    """Show shot `index`, save it once drawn, then go on to the next (or finish)."""
    if index == len(JOB["shots"]):
        finish()
        return
    shot = JOB["shots"][index]
    show(shot)
    canvas = iface.mapCanvas()
    canvas.waitWhileRendering()
    QTimer.singleShot(SETTLE_MS, lambda: guarded(lambda: (canvas.waitWhileRendering(), save(shot),
                                                          step(index + 1))))


def guarded(action) -> None:
    """Run `action`; on an error print it and quit QGIS with status 1 (an error dialog would
    keep QGIS open until the caller's timeout)."""
    try:
        action()
    except Exception:  # noqa: BLE001 (any error ends the job)
        traceback.print_exc()
        sys.stdout.flush()
        QgsProject.instance().clear()
        QgsApplication.exit(1)


for dock_widget in iface.mainWindow().findChildren(QDockWidget):  # the map and Layers panel only
    if dock_widget.objectName() != "Layers":
        dock_widget.hide()
iface.mainWindow().showMaximized()
QTimer.singleShot(3000, lambda: guarded(step))
