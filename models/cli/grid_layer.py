"""The classified grid as a GeoPackage layer without QGIS (OGR): one polygon per cell with
the same fields as the Processing algorithm's output, written under a temporary name and
moved into place when complete."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..tasks.classify import GridClassification

#: (field, OGR type name) in the order of the Processing algorithm's grid layer
FIELDS = (("class_id", "OFTInteger"), ("class_name", "OFTString"), ("confidence", "OFTReal"),
          ("class2_id", "OFTInteger"), ("class2_name", "OFTString"), ("confidence2", "OFTReal"),
          ("cell_row", "OFTInteger"), ("cell_col", "OFTInteger"))
_CELL_KEYS = {"cell_row": "row", "cell_col": "col"}


def write_grid_layer(result: GridClassification, path: str | Path) -> Path:
    """Write every classified cell of `result` as a polygon to the GeoPackage `path`."""
    from osgeo import ogr, osr

    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial.gpkg")
    temporary.unlink(missing_ok=True)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(temporary))
    if source is None:
        raise InputError(f"Cannot write {path}; check that its folder is writable.")
    try:
        reference = None
        if result.crs_wkt:
            reference = osr.SpatialReference()
            reference.ImportFromWkt(result.crs_wkt)
        layer = source.CreateLayer(path.stem, reference, ogr.wkbPolygon)
        for name, kind in FIELDS:
            layer.CreateField(ogr.FieldDefn(name, getattr(ogr, kind)))
        layer.StartTransaction()
        for cell in result.cells():
            feature = ogr.Feature(layer.GetLayerDefn())
            for name, _ in FIELDS:
                feature.SetField(name, cell[_CELL_KEYS.get(name, name)])
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in cell["ring"]:
                ring.AddPoint_2D(x, y)
            polygon = ogr.Geometry(ogr.wkbPolygon)
            polygon.AddGeometry(ring)
            feature.SetGeometry(polygon)
            layer.CreateFeature(feature)
        layer.CommitTransaction()
        source = None  # closing writes the file
        os.replace(temporary, path)
    except BaseException:
        source = None
        temporary.unlink(missing_ok=True)
        raise
    return path
