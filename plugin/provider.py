"""The GeoDistill Processing provider (id `geodistill`)."""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHM_CLASSES
from .algorithms.base import ICON_PATH
from ..models.about import plugin_version


class GeoDistillProvider(QgsProcessingProvider):
    """Registers every GeoDistill algorithm with QGIS Processing."""

    def id(self) -> str:
        return "geodistill"

    def name(self) -> str:
        return "GeoDistill"

    def longName(self) -> str:  # noqa: N802
        return f"GeoDistill {plugin_version()}"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802
        """Raster outputs are tiled GeoTIFFs: the save dialogs offer .tif only."""
        return ["tif"]

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm_class in ALGORITHM_CLASSES:
            self.addAlgorithm(algorithm_class())
