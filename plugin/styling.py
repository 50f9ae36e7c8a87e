"""Styling of GeoDistill outputs when Processing loads them into the project.

Processing runs `processAlgorithm` in a worker thread, so styles are applied by layer
post-processors, which QGIS calls in the main thread once the layer is loaded.
"""
from __future__ import annotations

from qgis.core import (
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
)


def natural_colour_bands(descriptions: list[str], band_count: int) -> tuple[int, int, int]:
    """1-based (red, green, blue) bands: from band names when they say so, else a sensible guess.

    8-band WorldView-style stacks are coastal, blue, green, yellow, red, red edge, NIR1, NIR2
    (RGB = 5, 3, 2); 4-band stacks are taken as blue, green, red, NIR (RGB = 3, 2, 1) unless
    their band names say otherwise.
    """
    names = [d.lower() for d in descriptions]
    found = {}
    for colour in ("red", "green", "blue"):
        matches = [i + 1 for i, name in enumerate(names) if name == colour or name.startswith(colour + " ")]
        if matches:
            found[colour] = matches[0]
    if len(found) == 3:
        return found["red"], found["green"], found["blue"]
    if band_count >= 8:
        return 5, 3, 2
    if band_count >= 3:
        return 3, 2, 1
    return 1, 1, 1


def apply_multiband_style(layer: QgsRasterLayer, bands: tuple[int, int, int]) -> None:
    """RGB composite of `bands` with a 2-98 % cumulative-cut stretch."""
    renderer = QgsMultiBandColorRenderer(layer.dataProvider(), *bands)
    layer.setRenderer(renderer)
    layer.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                 QgsRasterMinMaxOrigin.CumulativeCut)
    layer.triggerRepaint()


def apply_display_style(layer: QgsRasterLayer) -> None:
    """Natural-colour composite for 3+ bands, stretched grey for one band (2-98 % cut)."""
    if layer.bandCount() >= 3:
        names = [layer.bandName(i + 1) for i in range(layer.bandCount())]
        apply_multiband_style(layer, natural_colour_bands(names, layer.bandCount()))
    else:
        layer.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                     QgsRasterMinMaxOrigin.CumulativeCut)


class RgbStyle(QgsProcessingLayerPostProcessorInterface):
    """Post-processor giving a loaded multi-band output an RGB composite of chosen bands."""

    def __init__(self, bands: tuple[int, int, int]):
        super().__init__()
        self.bands = bands

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        if isinstance(layer, QgsRasterLayer) and layer.bandCount() >= max(self.bands):
            apply_multiband_style(layer, self.bands)


def layer_display_bands(layer: QgsRasterLayer) -> tuple[int, int, int] | None:
    """The (red, green, blue) bands a multi-band layer is shown with: its renderer's choice when
    it is an RGB composite, else the natural-colour guess; None for a one-band layer."""
    if layer is None or layer.bandCount() < 2:
        return None
    renderer = layer.renderer()
    if isinstance(renderer, QgsMultiBandColorRenderer) and min(
            renderer.redBand(), renderer.greenBand(), renderer.blueBand()) > 0:
        return renderer.redBand(), renderer.greenBand(), renderer.blueBand()
    names = [layer.bandName(i + 1) for i in range(layer.bandCount())]
    return natural_colour_bands(names, layer.bandCount())


def _qcolor(hex_colour: str):
    from qgis.PyQt.QtGui import QColor

    return QColor(hex_colour)


def apply_class_palette(layer: QgsRasterLayer, classes: list[dict]) -> None:
    """Paletted renderer of band 1: each class id drawn in its colour, labelled with its name."""
    from qgis.core import QgsPalettedRasterRenderer

    entries = [QgsPalettedRasterRenderer.Class(int(c["id"]), _qcolor(c["color"]), c["name"])
               for c in classes]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, entries))
    layer.triggerRepaint()


def apply_class_categories(layer, classes: list[dict], field: str = "class_id") -> None:
    """Categorized renderer of a polygon layer on `field`: one category per class, in its
    colour, labelled with its name."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory, QgsSymbol

    categories = []
    for item in classes:
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(_qcolor(item["color"]))
        categories.append(QgsRendererCategory(int(item["id"]), symbol, item["name"]))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))
    layer.triggerRepaint()


class ClassStyle(QgsProcessingLayerPostProcessorInterface):
    """Post-processor styling a loaded class raster (paletted) or class polygons (categorized)
    with the model's class names and colours."""

    def __init__(self, classes: list[dict]):
        super().__init__()
        self.classes = classes

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        if isinstance(layer, QgsRasterLayer):
            apply_class_palette(layer, self.classes)
        elif layer.fields().indexOf("class_id") >= 0:
            apply_class_categories(layer, self.classes)



def save_style_in_geopackage(destination: str, classes: list[dict]) -> bool:
    """Store the categorized class style as the default style of a GeoPackage layer (its
    `layer_styles` table), so the layer shows its classes whenever it is opened. Returns
    whether it was stored (False for other formats)."""
    from qgis.core import QgsVectorLayer

    path = destination.split("|")[0]
    if not path.lower().endswith(".gpkg"):
        return False
    layer = QgsVectorLayer(destination, "classes", "ogr")
    if not layer.isValid() or layer.fields().indexOf("class_id") < 0:
        return False
    apply_class_categories(layer, classes)
    return not layer.saveStyleToDatabase("geodistill_classes", "GeoDistill classes", True, "")
