"""geodistill:segment - land-cover classes of a raster with a distilled GINet."""
from __future__ import annotations

from .. import deps
from ...models.catalogue import SEGMENT
from ..styling import ClassStyle
from .base import GeoDistillAlgorithm


class SegmentAlgorithm(GeoDistillAlgorithm):
    """Raster -> class raster (+ class probabilities and polygons), guided by a global view."""

    OUTPUT = "OUTPUT"
    OUTPUT_PROBABILITIES = "OUTPUT_PROBABILITIES"
    OUTPUT_POLYGONS = "OUTPUT_POLYGONS"

    task = SEGMENT
    dependency_pack = deps.RUN_PACK
    help_text = (
        "Maps land cover: every pixel of the raster gets a class from a segmentation model "
        "(GINet: a downsampled view of the whole scene guides the full-resolution tiles).<br>"
        "<b>Input</b>: the raster (any data type; as many bands as the model reads).<br>"
        "<b>Bands to use</b> (optional): the bands the model reads, in its order (e.g. red, "
        "green, blue of a multispectral image); empty = every band but an alpha band.<br>"
        "<b>Area to process</b> (optional): only the part of the raster under this extent is "
        "segmented (the whole raster still gives the global view and the scaling).<br>"
        "<b>Model</b>: 'default' (the bundled lite land-cover model for 3-band images), a "
        "bundled model name or a .safetensors model file.<br><b>Device</b>, <b>Tile size</b>, "
        "<b>Tile overlap</b>: where and in which pieces the model runs.<br><b>Output</b>: a "
        "byte raster of class values (the values the classes had in the training labels), "
        "nodata (255) where the input is nodata, styled with the model's class names and "
        "colours.<br><b>Class probabilities</b> (optional): a float raster with one band per "
        "class.<br><b>Class polygons</b> (optional): one feature per region of one class, with "
        "fields class_id, class_name and area (square metres in any CRS: areas in degrees are "
        "measured on the ellipsoid; map units squared only for a raster without a CRS).<br>"
        "<b>Minimum polygon area</b> (square metres): smaller regions are left out of the "
        "polygons.<br><b>Minimum confidence</b> (0-1, 0 = off): pixels whose most likely class "
        "has a lower probability are marked 'uncertain' (a class of its own, black) instead of "
        "getting a class the model is unsure of; try 0.5 on imagery unlike the training data.")

    def run_algorithm(self, parameters, context, feedback):
        request, result = self.run_task(parameters, context, feedback)
        for path in (request.output_path, request.polygons_path):
            self.style_on_load(context, path, ClassStyle(result.classes))
        return {self.OUTPUT: str(result.output_path),
                self.OUTPUT_PROBABILITIES: request.probabilities_path,
                self.OUTPUT_POLYGONS: request.polygons_path}
