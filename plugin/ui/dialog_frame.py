"""What every GeoDistill dialog sets up the same way."""
from __future__ import annotations

from qgis.PyQt.QtWidgets import QDialog


def frame_dialog(dialog: QDialog, title: str, object_name: str, width: int, height: int) -> None:
    """Title the dialog "GeoDistill: <title>" (`title` already translated), name it (tests and
    style sheets find it by that name) and give it its starting size."""
    dialog.setWindowTitle(f"GeoDistill: {title}")
    dialog.setObjectName(object_name)
    dialog.resize(width, height)
