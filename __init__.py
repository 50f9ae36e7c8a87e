"""GeoDistill QGIS plugin entry point.

Importing this package must stay cheap and must not import torch: QGIS calls `classFactory`
at start-up, and the plugin has to load (and explain what to install) even when torch is
missing. Torch is imported lazily by the algorithms when they run.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """Create the plugin object; QGIS calls this with its interface (None in qgis_process)."""
    from .plugin.main import GeoDistillPlugin

    return GeoDistillPlugin(iface)
