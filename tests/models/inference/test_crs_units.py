"""Pixel sizes in messages carry their unit, read from the raster's CRS."""
import pytest
from rasterio.crs import CRS

from geodistill.models.crs_units import pixel_size_text


@pytest.mark.parametrize("crs, size, expected", [
    ("EPSG:32633", 0.5, "0.5 m"),
    ("EPSG:4326", 0.0001, "0.0001°"),
    ("EPSG:2263", 10.0, "10 US ft"),
    (None, 2.0, "2 (no CRS)"),
])
def test_pixel_size_says_metres_degrees_or_feet(crs, size, expected):
    assert pixel_size_text(size, CRS.from_string(crs) if crs else None) == expected
