"""Facts about a chosen raster layer for the model-fit checks and the form's pixel-size line:
data bands and pixel width in metres (converted from feet, measured on the ellipsoid for
degrees), and the pixel size as text with its unit."""
from __future__ import annotations

from qgis.core import QgsDistanceArea, QgsPointXY, QgsProject, QgsRasterLayer, QgsUnitTypes

from .model_fit import LayerFacts

#: side of the decimated read that decides whether a band tagged alpha is a mask
ALPHA_CHECK_SIZE = 128


def pixel_facts(parameter_name: str, layer: QgsRasterLayer) -> LayerFacts:
    """Band count and pixel width of a raster layer for the model-fit checks (in metres where
    the CRS allows, see `pixel_width_metres`; else in map units)."""
    metres = pixel_width_metres(layer)
    return LayerFacts(parameter=parameter_name, name=layer.name(), band_count=data_band_count(layer),
                      pixel_size=float(layer.rasterUnitsPerPixelX()) if metres is None else metres,
                      metres=metres is not None)


def data_band_count(layer: QgsRasterLayer) -> int:
    """Bands holding data, counted as the tools read them: a band tagged alpha is the mask
    (RGBA orthophotos) only when it holds nothing but 0 and fully opaque values; otherwise (a
    NIR band GDAL tagged alpha) it is data."""
    provider = layer.dataProvider()
    masks = sum(provider.colorInterpretationName(band) == "Alpha" and _plausible_alpha(layer, band)
                for band in range(1, layer.bandCount() + 1))
    return layer.bandCount() - masks or layer.bandCount()


def _plausible_alpha(layer: QgsRasterLayer, band: int) -> bool:
    """Whether a decimated read of `band` (at most ALPHA_CHECK_SIZE pixels a side) holds only 0
    and fully opaque values (255, or 65535 in 16 bits)."""
    width, height = min(ALPHA_CHECK_SIZE, layer.width()), min(ALPHA_CHECK_SIZE, layer.height())
    block = layer.dataProvider().block(band, layer.extent(), width, height)
    values = {block.value(row, col) for row in range(height) for col in range(width)}
    return values <= {0.0, 255.0, 65535.0}


def pixel_width_metres(layer: QgsRasterLayer) -> float | None:
    """A raster layer's pixel width in metres: map units converted for a projected CRS (feet
    too), measured on the CRS's ellipsoid at the layer's centre for degrees; None when the CRS
    or its units are unknown."""
    crs = layer.crs()
    width = float(layer.rasterUnitsPerPixelX())
    if not crs.isValid():
        return None
    if crs.isGeographic():
        distance = QgsDistanceArea()
        distance.setSourceCrs(crs, QgsProject.instance().transformContext())
        distance.setEllipsoid(crs.ellipsoidAcronym() or "WGS84")
        centre = layer.extent().center()
        return distance.measureLine(centre, QgsPointXY(centre.x() + width, centre.y()))
    units = crs.mapUnits()
    if units == QgsUnitTypes.DistanceUnit.DistanceUnknownUnit:
        return None
    return width * QgsUnitTypes.fromUnitToUnitFactor(units, QgsUnitTypes.DistanceUnit.DistanceMeters)


def pixel_size_text(layer: QgsRasterLayer) -> str:
    """A raster layer's pixel size with its unit, and in metres when the CRS is not metric:
    "0.5 m", "0.0001° (about 5.57 m)", "10 ft (3.05 m)", "2 map units"."""
    width = float(layer.rasterUnitsPerPixelX())
    metres = pixel_width_metres(layer)
    if metres is None:
        return f"{width:g} map units"
    if layer.crs().isGeographic():
        return f"{width:g}° (about {metres:.3g} m)"
    units = layer.crs().mapUnits()
    if units == QgsUnitTypes.DistanceUnit.DistanceMeters:
        return f"{width:g} m"
    return f"{width:g} {QgsUnitTypes.toAbbreviatedString(units)} ({metres:.3g} m)"
