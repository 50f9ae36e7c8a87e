"""The plugin's user-visible strings go through Qt's translation under one context."""
from qgis.PyQt.QtCore import QCoreApplication

CONTEXT = "GeoDistill"


def tr(text: str) -> str:
    """`text` in the user's language, when a translation is installed."""
    return QCoreApplication.translate(CONTEXT, text)
