"""Pixel sizes from the raster's CRS (metres, feet, degrees): as text with their unit, and in
metres."""
from __future__ import annotations

import math

import rasterio

#: CRS linear unit names as GDAL/PROJ give them -> the short form shown to users
UNIT_SYMBOLS = {"metre": "m", "meter": "m", "foot": "ft", "us survey foot": "US ft"}


def pixel_size_text(size: float, crs) -> str:
    """`size` (a pixel width in the CRS's units) with its unit: "0.5 m", "0.0001°", "2 ft", or
    "0.5 (no CRS)" when the raster has none; `crs` is a rasterio CRS or None."""
    if crs is None:
        return f"{size:g} (no CRS)"
    if crs.is_geographic:
        return f"{size:g}°"
    unit = (crs.linear_units or "").lower()
    return f"{size:g} {UNIT_SYMBOLS.get(unit, unit or 'map units')}"


#: metres per degree of latitude (a sphere's; degrees of longitude shrink by its cosine)
METRES_PER_DEGREE = 111_320.0


def pixel_size_metres(dataset) -> float | None:
    """The dataset's pixel width in metres (degrees converted at the scene's centre latitude);
    None when it has no CRS."""
    if dataset.crs is None:
        return None
    size = abs(dataset.transform.a)
    if dataset.crs.is_geographic:
        latitude = (dataset.bounds.top + dataset.bounds.bottom) / 2
        return size * METRES_PER_DEGREE * math.cos(math.radians(latitude))
    try:
        return size * dataset.crs.linear_units_factor[1]
    except rasterio.errors.CRSError:  # a CRS without linear units: take them as metres
        return size
