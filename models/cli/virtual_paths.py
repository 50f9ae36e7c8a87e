"""GDAL virtual paths as command line inputs: rasters in archives (/vsizip/, /vsitar/) and in
object storage (/vsis3/, /vsigs/, /vsiaz/, /vsicurl/ ...), which every worker opens by the
same name. Outputs go to a folder on a (shared) filesystem."""
from __future__ import annotations

VIRTUAL_PREFIX = "/vsi"


def is_virtual(path: str) -> bool:
    """Whether `path` is a GDAL virtual path."""
    return str(path).startswith(VIRTUAL_PREFIX)


def virtual_stat(path: str):
    """GDAL's stat of a virtual path (None when nothing is there)."""
    from osgeo import gdal

    return gdal.VSIStatL(path)


def virtual_listing(folder: str) -> list[str]:
    """The paths of the entries of a virtual folder, sorted."""
    from osgeo import gdal

    return sorted(f"{folder.rstrip('/')}/{name}" for name in gdal.ReadDir(folder) or []
                  if name not in (".", ".."))
