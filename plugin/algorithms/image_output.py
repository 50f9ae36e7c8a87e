"""The base of the algorithms that write an image like their input (pansharpen, dehaze): the
output is shown with the display bands of an input layer."""
from __future__ import annotations

from .. import deps
from ..styling import RgbStyle, layer_display_bands
from .base import GeoDistillAlgorithm


class ImageOutputAlgorithm(GeoDistillAlgorithm):
    """Runs the task and shows OUTPUT with the display bands of the `display_layer` input."""

    OUTPUT = "OUTPUT"
    dependency_pack = deps.RUN_PACK
    #: the raster parameter whose display bands (red, green, blue) the output is shown with
    display_layer = "INPUT"

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 (main thread)
        self._display_bands = layer_display_bands(
            self.parameterAsRasterLayer(parameters, self.display_layer, context))
        return super().prepareAlgorithm(parameters, context, feedback)

    def run_algorithm(self, parameters, context, feedback):
        request, result = self.run_task(parameters, context, feedback)
        bands = getattr(self, "_display_bands", None)
        if bands:
            self.style_on_load(context, request.output_path, RgbStyle(bands))
        return {self.OUTPUT: str(result.output_path)}
