"""The GeoDistill panel: one entry per tool, opening the tool's Processing dialog."""
from __future__ import annotations

from qgis.core import QgsApplication
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import QCoreApplication, pyqtSignal
from qgis.PyQt.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget


_ID_ROLE = 256  # Qt.UserRole


def _tr(text: str) -> str:
    return QCoreApplication.translate("GeoDistill", text)


class GeoDistillDock(QgsDockWidget):
    """Lists the GeoDistill algorithms; double-click or Open runs one through Processing."""

    open_algorithm = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(_tr("GeoDistill"), parent)
        self.setObjectName("GeoDistillDock")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addWidget(QLabel(_tr("Choose a tool:"), body))
        self.tools = QListWidget(body)
        layout.addWidget(self.tools)
        self.open_button = QPushButton(_tr("Open…"), body)
        layout.addWidget(self.open_button)
        self.setWidget(body)
        self.populate()
        self.tools.itemDoubleClicked.connect(self._emit_open)
        self.open_button.clicked.connect(lambda: self._emit_open(self.tools.currentItem()))

    def populate(self) -> None:
        """Fill the list from the registered `geodistill` provider."""
        self.tools.clear()
        provider = QgsApplication.processingRegistry().providerById("geodistill")
        algorithms = provider.algorithms() if provider is not None else []
        for algorithm in sorted(algorithms, key=lambda a: (a.group(), a.displayName())):
            item = QListWidgetItem(algorithm.icon(), f"{algorithm.group()}: {algorithm.displayName()}")
            item.setData(_ID_ROLE, algorithm.id())
            item.setToolTip(algorithm.shortHelpString())
            self.tools.addItem(item)
        if self.tools.count():
            self.tools.setCurrentRow(0)

    def _emit_open(self, item) -> None:
        if item is not None:
            self.open_algorithm.emit(item.data(_ID_ROLE))
