"""Pixel sizes as text with their unit, read from the raster's CRS (metres, feet, degrees)."""
from __future__ import annotations

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
