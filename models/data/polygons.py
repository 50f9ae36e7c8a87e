"""Polygons from a class raster, read strip by strip, written with GDAL's OGR (QGIS-free).

`rasterio.features.shapes` traces the regions of each strip of rows. A region crossing a strip
border comes out as pieces, so pieces touching a border are kept aside and, at the end, the
pieces of each class are unioned and split into their connected parts: every feature is one
whole region. Areas are in square metres whatever the CRS (degrees are measured in an
equal-area projection centred on the scene), and regions smaller than `min_area` are dropped.
Memory holds one strip plus the border pieces, so moderate rasters of any shape work.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
from rasterio.features import shapes
from rasterio.windows import Window

from ..errors import InputError

DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON",
           ".fgb": "FlatGeobuf"}
STRIP_ROWS = 2048
#: longest edge (degrees) measured as a straight line in the equal-area projection; longer ones
#: are split first, since a parallel is curved there (areas then stay within a millionth)
MAX_EDGE_DEGREES = 0.01
FIELDS = ("class_id", "class_name", "area")


@dataclass
class PolygonSummary:
    """What was written: the file, its regions kept and dropped (below the minimum area)."""

    path: Path
    features: int
    dropped: int


def check_output_path(path: str | Path) -> str:
    """The OGR driver for the file's extension; InputError for an unsupported one."""
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError(f"Cannot write polygons to {path.name}: use one of "
                         f"{', '.join(sorted(DRIVERS))} as the file extension.")
    return driver


def _parts(geometry):
    """The polygons of a polygon or multipolygon (OGR)."""
    from osgeo import ogr

    if geometry.GetGeometryType() in (ogr.wkbPolygon, ogr.wkbPolygon25D):
        return [geometry.Clone()]
    return [geometry.GetGeometryRef(i).Clone() for i in range(geometry.GetGeometryCount())]


def area_measure(crs_wkt: str | None, centre: tuple[float, float]) -> Callable[[object], float]:
    """A function giving an OGR polygon's area in square metres for polygons in this CRS.

    Projected CRSs scale map units squared by their linear unit (feet, US survey feet, ...);
    geographic CRSs (degrees) are measured in a Lambert azimuthal equal-area projection on the
    same ellipsoid, centred on `centre` (x, y in the CRS: longitude, latitude), whose areas are
    exact (edges split every MAX_EDGE_DEGREES). Without a CRS the area stays in map units squared.
    """
    from osgeo import osr

    if not crs_wkt:
        return lambda polygon: polygon.GetArea()
    source = _spatial_reference(crs_wkt)
    if not source.IsGeographic():
        factor = source.GetLinearUnits() ** 2
        return lambda polygon: polygon.GetArea() * factor
    equal_area = osr.SpatialReference()
    equal_area.CopyGeogCSFrom(source)
    equal_area.SetLAEA(centre[1], centre[0], 0.0, 0.0)
    equal_area.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, equal_area)

    def measure(polygon) -> float:
        projected = polygon.Clone()
        projected.Segmentize(MAX_EDGE_DEGREES)
        projected.Transform(transform)
        return projected.GetArea()
    return measure


def _spatial_reference(crs_wkt: str):
    """An OSR reference for the WKT with x = easting / longitude, y = northing / latitude."""
    from osgeo import osr

    reference = osr.SpatialReference()
    reference.ImportFromWkt(crs_wkt)
    reference.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return reference


class _Writer:
    """An OGR layer with the class fields, written in a hidden folder and moved on `commit`."""

    def __init__(self, path: Path, crs_wkt: str | None, names: dict[int, str], min_area: float,
                 area: Callable[[object], float]):
        from osgeo import ogr

        self.path, self.names, self.min_area, self.area = path, names, min_area, area
        self.folder = path.parent / f".{path.name}.partial"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        driver = ogr.GetDriverByName(check_output_path(path))
        self.source = driver.CreateDataSource(str(self.folder / path.name))
        reference = _spatial_reference(crs_wkt) if crs_wkt else None
        self.layer = self.source.CreateLayer(path.stem, reference, ogr.wkbPolygon)
        for name, kind in zip(FIELDS, (ogr.OFTInteger, ogr.OFTString, ogr.OFTReal)):
            self.layer.CreateField(ogr.FieldDefn(name, kind))
        self.features = self.dropped = 0
        self.layer.StartTransaction()

    def add(self, polygon, class_id: int) -> None:
        """Write one region unless it is smaller than the minimum area."""
        from osgeo import ogr

        area = self.area(polygon)
        if area < self.min_area:
            self.dropped += 1
            return
        feature = ogr.Feature(self.layer.GetLayerDefn())
        feature.SetField("class_id", int(class_id))
        feature.SetField("class_name", self.names.get(int(class_id), f"class {class_id}"))
        feature.SetField("area", float(area))
        feature.SetGeometry(polygon)
        self.layer.CreateFeature(feature)
        self.features += 1

    def commit(self) -> None:
        """Close the file(s) and move them to the final folder (replacing older ones)."""
        self.layer.CommitTransaction()
        self.layer = self.source = None
        for file in self.folder.iterdir():
            os.replace(file, self.path.parent / file.name)
        self.folder.rmdir()

    def discard(self) -> None:
        """Close and delete everything written."""
        self.layer = self.source = None
        shutil.rmtree(self.folder, ignore_errors=True)


def polygonize_classes(class_path: str | Path, output_path: str | Path, classes: list[dict],
                       min_area: float = 0.0, strip_rows: int = STRIP_ROWS,
                       progress: Callable[[float], None] | None = None) -> PolygonSummary:
    """One polygon feature per connected region (4-connected) of equal class in band 1 of
    `class_path`, with fields class_id, class_name (from `classes`) and area (square metres,
    see `area_measure`); nodata pixels give no polygon; regions under `min_area` (in the same
    unit) are dropped.
    """
    from osgeo import ogr

    output_path = Path(output_path)
    names = {int(c["id"]): c["name"] for c in classes}
    with rasterio.open(class_path) as dataset:
        crs_wkt = dataset.crs.to_wkt() if dataset.crs else None
        bounds = dataset.bounds
        centre = ((bounds.left + bounds.right) / 2, (bounds.bottom + bounds.top) / 2)
        writer = _Writer(output_path, crs_wkt, names, min_area, area_measure(crs_wkt, centre))
        border: dict[int, list] = {}
        try:
            for top in range(0, dataset.height, strip_rows):
                rows = min(strip_rows, dataset.height - top)
                window = Window(0, top, dataset.width, rows)
                values = dataset.read(1, window=window)
                valid = values != dataset.nodata if dataset.nodata is not None else None
                transform = dataset.window_transform(window)
                seams = [transform.f if top > 0 else None,
                         transform.f + transform.e * rows if top + rows < dataset.height else None]
                for geometry, value in shapes(values, mask=valid, transform=transform, connectivity=4):
                    polygon = ogr.CreateGeometryFromJson(json.dumps(geometry))
                    _, _, min_y, max_y = polygon.GetEnvelope()
                    if any(seam is not None and (np.isclose(seam, max_y) or np.isclose(seam, min_y))
                           for seam in seams):
                        border.setdefault(int(value), []).append(polygon)
                    else:
                        writer.add(polygon, int(value))
                if progress is not None:
                    progress(0.9 * (top + rows) / dataset.height)
            for class_id, pieces in border.items():
                collection = ogr.Geometry(ogr.wkbMultiPolygon)
                for piece in pieces:
                    collection.AddGeometry(piece)
                for polygon in _parts(collection.UnionCascaded()):
                    writer.add(polygon, class_id)
            writer.commit()
        except BaseException:
            writer.discard()
            raise
    if progress is not None:
        progress(1.0)
    return PolygonSummary(output_path, writer.features, writer.dropped)
