"""Class polygons measure their areas (and MIN_AREA) in square metres whatever the raster's CRS:
degrees on the ellipsoid, feet scaled to metres; checked against closed-form areas."""
import math

import numpy as np
import pytest
from osgeo import ogr

from rasters import write_raster

from geodistill.models.data.polygons import polygonize_classes

TABLE = [{"id": 1, "name": "field", "color": "#00ff00"}, {"id": 2, "name": "land", "color": "#ffffff"}]
#: WGS 84 ellipsoid
SEMI_MAJOR = 6378137.0
FLATTENING = 1 / 298.257223563
#: metres in a US survey foot
US_FOOT = 1200 / 3937


def classes_with_block(rows: slice, cols: slice, shape=(40, 30)) -> np.ndarray:
    """Class 2 everywhere but class 1 in one rectangle."""
    classes = np.full(shape, 2, dtype=np.uint8)
    classes[rows, cols] = 1
    return classes


def ellipsoid_cell_area(west: float, east: float, south: float, north: float) -> float:
    """Area in m^2 of the WGS 84 surface between two meridians and two parallels (degrees):
    b^2 dlambda / 2 * [F(phi)] with F(phi) = sin phi / (1 - e^2 sin^2 phi) + atanh(e sin phi) / e."""
    e2 = FLATTENING * (2 - FLATTENING)
    e = math.sqrt(e2)
    b = SEMI_MAJOR * (1 - FLATTENING)

    def f(latitude: float) -> float:
        s = math.sin(math.radians(latitude))
        return s / (1 - e2 * s * s) + math.atanh(e * s) / e
    return b * b * math.radians(east - west) / 2 * (f(north) - f(south))


def areas_by_class(path) -> dict[int, float]:
    source = ogr.Open(str(path))  # the layer lives only as long as its data source
    areas: dict[int, float] = {}
    for feature in source.GetLayer(0):
        areas[feature.GetField("class_id")] = areas.get(feature.GetField("class_id"), 0.0) + feature.GetField("area")
    return areas


@pytest.mark.parametrize("size", [0.0005, 0.05])  # about 28 x 56 m pixels, and 2.8 x 5.6 km
def test_degrees_are_measured_in_square_metres_on_the_ellipsoid(tmp_path, size):
    """Large regions too: their long edges along parallels are curves in the equal-area plane."""
    west, north = 10.0, 60.01
    path = write_raster(tmp_path / "classes.tif", classes_with_block(slice(4, 24), slice(3, 13)),
                        pixel_size=size, crs="EPSG:4326", origin=(west, north))
    summary = polygonize_classes(path, tmp_path / "regions.gpkg", TABLE, strip_rows=7)
    block = ellipsoid_cell_area(west + 3 * size, west + 13 * size, north - 24 * size, north - 4 * size)
    whole = ellipsoid_cell_area(west, west + 30 * size, north - 40 * size, north)
    areas = areas_by_class(summary.path)
    assert areas[1] == pytest.approx(block, rel=1e-6)
    assert areas[2] == pytest.approx(whole - block, rel=1e-6)
    assert block / (size / 0.0005) ** 2 == pytest.approx(310_000, rel=0.05)  # 1113 m x 279 m


def test_min_area_is_in_square_metres_for_a_geographic_raster(tmp_path):
    size, west, north = 0.0005, -70.0, -33.0
    path = write_raster(tmp_path / "classes.tif", classes_with_block(slice(10, 20), slice(10, 20)),
                        pixel_size=size, crs="EPSG:4326", origin=(west, north))
    block = ellipsoid_cell_area(west + 10 * size, west + 20 * size, north - 20 * size, north - 10 * size)
    kept = polygonize_classes(path, tmp_path / "kept.gpkg", TABLE, min_area=0.99 * block)
    dropped = polygonize_classes(path, tmp_path / "dropped.gpkg", TABLE, min_area=1.01 * block)
    assert (kept.features, kept.dropped) == (2, 0)
    assert (dropped.features, dropped.dropped) == (1, 1)
    assert set(areas_by_class(dropped.path)) == {2}


def test_feet_are_converted_to_square_metres(tmp_path):
    path = write_raster(tmp_path / "classes.tif", classes_with_block(slice(0, 20), slice(0, 10)),
                        pixel_size=10.0, crs="EPSG:2263", origin=(1_000_000.0, 200_000.0))
    areas = areas_by_class(polygonize_classes(path, tmp_path / "regions.gpkg", TABLE).path)
    assert areas[1] == pytest.approx(200 * 100 * US_FOOT ** 2, rel=1e-9)
    assert areas[2] == pytest.approx(1000 * 100 * US_FOOT ** 2, rel=1e-9)


def test_without_a_crs_areas_stay_in_map_units(tmp_path):
    path = write_raster(tmp_path / "classes.tif", classes_with_block(slice(0, 20), slice(0, 10)),
                        pixel_size=2.0, crs=None)
    areas = areas_by_class(polygonize_classes(path, tmp_path / "regions.gpkg", TABLE).path)
    assert areas == {1: pytest.approx(200 * 4.0), 2: pytest.approx(1000 * 4.0)}
