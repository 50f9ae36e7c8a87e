"""geodistill:classify_scenes - label a raster cell by cell with a scene classifier."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from .. import deps
from ...models.catalogue import CLASSIFY_SCENES
from ..styling import ClassStyle, save_style_in_geopackage
from .base import GeoDistillAlgorithm

#: (name, type) of the grid layer's fields
GRID_FIELDS = (("class_id", QVariant.Int), ("class_name", QVariant.String),
               ("confidence", QVariant.Double), ("class2_id", QVariant.Int),
               ("class2_name", QVariant.String), ("confidence2", QVariant.Double),
               ("cell_row", QVariant.Int), ("cell_col", QVariant.Int))


def grid_fields() -> QgsFields:
    """The attribute fields of the classified grid."""
    fields = QgsFields()
    for name, kind in GRID_FIELDS:
        fields.append(QgsField(name, kind))
    return fields


class ClassifyScenesAlgorithm(GeoDistillAlgorithm):
    """Raster -> polygon grid with one scene class (and the runner-up) per cell."""

    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    OUTPUT_RASTER = "OUTPUT_RASTER"

    task = CLASSIFY_SCENES
    dependency_pack = deps.RUN_PACK
    help_text = (
        "Classifies a raster by scenes: the raster is divided into a grid of square cells and "
        "each cell gets the class a scene classifier gives the image chip around it (e.g. "
        "farmland, forest, residential, port).<br><b>Input</b>: the raster (its bands must match "
        "the model's).<br><b>Bands to use</b> (optional): the bands the model reads, in its "
        "order; empty = every band but an alpha band.<br><b>Area to process</b> (optional): "
        "only the part of the raster under this extent is gridded (from its top-left corner) "
        "and classified.<br><b>Model</b>: 'default' (the bundled student), a model name or a "
        ".safetensors package.<br><b>Chip size</b>: side of the chip each cell is classified "
        "from, in pixels; 0 takes the model's chip size, rescaled from the ground sample distance "
        "it was trained at to this raster's pixel size.<br><b>Stride</b>: side of the grid cells "
        "in pixels; 0 = the chip size. A smaller stride gives a finer grid (each cell is still "
        "classified from a whole chip centred on it).<br><b>Minimum confidence</b>: a cell whose "
        "most likely class has a lower probability is labelled <i>uncertain</i> (grey) instead "
        "of a doubtful class; its class2 fields then hold the model's best guess. 0 labels every "
        "cell.<br><b>Device</b>: where the model runs."
        "<br><b>Output</b>: polygons covering the raster, with class_id, class_name, confidence "
        "(probability) and the second most likely class (class2_id, class2_name, confidence2), "
        "styled with the model's class colours.<br><b>Output raster</b> (optional): one pixel "
        "per cell holding its class id.")

    def run_algorithm(self, parameters, context, feedback):
        from ...models.output_files import check_output_folder

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        grid_output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context) or ""
        if Path(grid_output.split("|")[0]).suffix:  # a file, not a memory or database layer
            check_output_folder(grid_output.split("|")[0], "scene grid")
        request, result = self.run_task(parameters, context, feedback)
        raster_output = request.output_raster_path
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, grid_fields(),
                                             QgsWkbTypes.Polygon, layer.crs())
        if sink is None:
            raise QgsProcessingException(self.tr("The output layer could not be created; check "
                                                 "the output path and format."))
        for cell in result.cells():
            feature = QgsFeature(grid_fields())
            feature.setGeometry(QgsGeometry.fromPolygonXY([[QgsPointXY(x, y) for x, y in cell["ring"]]]))
            feature.setAttributes([cell[name] for name, _ in GRID_FIELDS[:6]] + [cell["row"], cell["col"]])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        outputs = {self.OUTPUT: dest_id}
        self._grid_style = (dest_id, result.classes)
        for output in (dest_id, raster_output):
            self.style_on_load(context, output, ClassStyle(result.classes))
        if raster_output:
            outputs[self.OUTPUT_RASTER] = str(result.output_raster_path)
        return outputs

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 (main thread, sink closed)
        """Store the class style in the grid's GeoPackage, so it comes back on reopening."""
        destination, classes = getattr(self, "_grid_style", (None, None))
        if destination and save_style_in_geopackage(destination, classes):
            feedback.pushInfo(self.tr("The class style was saved in the GeoPackage."))
        return {}
