"""GeoDistill > About / diagnostics: versions, device and folders, with a copy button."""
from __future__ import annotations

import platform
import sys

from qgis.core import Qgis
from qgis.PyQt.QtCore import PYQT_VERSION_STR, QT_VERSION_STR
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import QApplication, QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout

from .. import deps, installer, settings
from ..algorithms.base import BUNDLED_MODELS, PLUGIN_ROOT, bundled_model_names
from ...models.about import plugin_version
from .device_line import compute_info
from ..translation import tr as _tr
from .dialog_frame import frame_dialog


def gdal_version() -> str:
    """The GDAL version QGIS uses."""
    try:
        from osgeo import gdal
    except ImportError:
        return "unknown"
    return gdal.__version__


def diagnostics_lines() -> list[str]:
    """The report: plugin, QGIS, Qt, Python, GDAL, dependencies, device, GPUs and folders."""
    info = compute_info()
    gpus = installer.detect_nvidia_gpus()
    folder = settings.packages_folder()
    lines = [
        f"GeoDistill {plugin_version()}",
        f"QGIS {Qgis.QGIS_VERSION}",
        f"Qt {QT_VERSION_STR}, PyQt {PYQT_VERSION_STR}",
        f"Python {platform.python_version()} ({sys.executable}) on {platform.platform()}",
        f"GDAL {gdal_version()}",
        *(status.describe() for status in deps.dependency_statuses()),
        f"Device: {info.summary}",
        "nvidia-smi: " + ("; ".join(f"{g.name}, driver {g.driver_version}" for g in gpus)
                          if gpus else _tr("no NVIDIA GPU found")),
        f"Plugin folder: {PLUGIN_ROOT}",
        f"Bundled models ({BUNDLED_MODELS}): {', '.join(bundled_model_names()) or 'none'}",
        f"User models: {settings.user_model_folder()}",
        f"Installed packages folder: {folder} "
        f"({'on sys.path' if str(folder) in sys.path else 'not used'})",
    ]
    return lines


class DiagnosticsDialog(QDialog):
    """Shows `diagnostics_lines` and copies them to the clipboard for bug reports."""

    def __init__(self, parent=None):
        super().__init__(parent)
        frame_dialog(self, _tr("about / diagnostics"), "GeoDistillDiagnosticsDialog", 760, 420)
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlainText("\n".join(diagnostics_lines()))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = buttons.addButton(_tr("Copy to clipboard"), QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def copy(self) -> str:
        """Put the report on the clipboard (for a bug report); returns it."""
        text = self.text.toPlainText()
        QApplication.clipboard().setText(text)
        return text
