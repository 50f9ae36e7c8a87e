"""The GeoDistill plugin object: menu, toolbar, dock and Processing provider registration."""
from __future__ import annotations

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMenu

from . import deps, settings
from .algorithms.base import ICON_PATH
from .provider import GeoDistillProvider
from .translation import tr as _tr


class GeoDistillPlugin:
    """Created by `classFactory`. `initProcessing` alone is used by qgis_process (no iface)."""

    MENU_OBJECT_NAME = "geodistillMenu"
    TOOLBAR_OBJECT_NAME = "geodistillToolbar"

    def __init__(self, iface):
        self.iface = iface
        self.provider: GeoDistillProvider | None = None
        self.menu: QMenu | None = None
        self.toolbar = None
        self.open_action: QAction | None = None
        self.dock = None
        self.dialogs = {}
        # packages installed by GeoDistill's installer (appended: QGIS's own ones win)
        deps.use_packages_folder(settings.packages_folder())

    # -- Processing ---------------------------------------------------------------------
    def initProcessing(self) -> None:  # noqa: N802 (QGIS API)
        """Register the Processing provider (called by QGIS and by qgis_process)."""
        if self.provider is None:
            provider = GeoDistillProvider()
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    # -- GUI ----------------------------------------------------------------------------
    def initGui(self) -> None:  # noqa: N802 (QGIS API)
        """Add the GeoDistill menu and toolbar, and warn once if dependencies are missing."""
        self.initProcessing()
        main_window = self.iface.mainWindow()
        icon = QIcon(str(ICON_PATH))

        self.open_action = QAction(icon, _tr("GeoDistill"), main_window)
        self.open_action.setToolTip(_tr("Open the GeoDistill panel"))
        self.open_action.triggered.connect(self.show_dock)

        self.menu = QMenu(_tr("GeoDistill"), main_window)
        self.menu.setObjectName(self.MENU_OBJECT_NAME)
        self.menu.addAction(self.open_action)
        self.menu.addAction(_tr("Model manager…")).triggered.connect(self.show_model_manager)
        self.menu.addAction(_tr("Install dependencies…")).triggered.connect(self.show_installer)
        self.menu.addSeparator()
        self.menu.addAction(_tr("About / diagnostics…")).triggered.connect(self.show_diagnostics)
        menu_bar = main_window.menuBar()
        help_menu = next((a for a in menu_bar.actions()
                          if a.menu() is not None and a.menu().objectName() == "mHelpMenu"), None)
        if help_menu is not None:
            menu_bar.insertMenu(help_menu, self.menu)
        else:
            menu_bar.addMenu(self.menu)

        self.toolbar = self.iface.addToolBar(_tr("GeoDistill"))
        self.toolbar.setObjectName(self.TOOLBAR_OBJECT_NAME)
        self.toolbar.addAction(self.open_action)

        missing = deps.missing_dependencies(deps.RUN_PACK)  # training asks for its pack when used
        if missing:
            self.iface.messageBar().pushMessage(
                "GeoDistill", deps.install_message(missing), Qgis.MessageLevel.Warning, 0)
            completed = getattr(self.iface, "initializationCompleted", None)
            if completed is not None and settings.ask_to_install():
                # offer the installer once QGIS has finished starting, not during start-up
                completed.connect(self.show_installer)

    def unload(self) -> None:
        """Remove everything `initGui`/`initProcessing` added."""
        for dialog in self.dialogs.values():
            dialog.close()
            dialog.deleteLater()
        self.dialogs = {}
        if self.dock is not None:
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.menu is not None:
            self.iface.mainWindow().menuBar().removeAction(self.menu.menuAction())
            self.menu.deleteLater()
            self.menu = None
        if self.toolbar is not None:
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar.deleteLater()
            self.toolbar = None
        self.open_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def show_dock(self) -> None:
        """Show (creating on first use) the GeoDistill panel."""
        if self.dock is None:
            from .ui.dock import GeoDistillDock

            self.dock = GeoDistillDock(self.iface.mainWindow(), message_bar=self.iface.messageBar())
            self.dock.open_algorithm.connect(self.open_algorithm_dialog)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.show()
        self.dock.raise_()

    @staticmethod
    def open_algorithm_dialog(algorithm_id: str) -> None:
        """Open the Processing dialog of one algorithm (same code path as the toolbox)."""
        import processing

        processing.execAlgorithmDialog(algorithm_id)

    def _show_dialog(self, key: str, factory) -> None:
        """Show a (non-modal) dialog, creating it on first use."""
        if key not in self.dialogs:
            self.dialogs[key] = factory()
        self.dialogs[key].show()
        self.dialogs[key].raise_()

    def show_installer(self) -> None:
        """GeoDistill > Install dependencies."""
        from .ui.installer_dialog import InstallerDialog

        self._show_dialog("installer", lambda: InstallerDialog(settings.packages_folder(),
                                                               parent=self.iface.mainWindow()))

    def show_diagnostics(self) -> None:
        """GeoDistill > About / diagnostics."""
        from .ui.diagnostics_dialog import DiagnosticsDialog

        self._show_dialog("diagnostics", lambda: DiagnosticsDialog(self.iface.mainWindow()))

    def show_model_manager(self) -> None:
        """GeoDistill > Model manager."""
        from .ui.model_manager_dialog import ModelManagerDialog

        self._show_dialog("models", lambda: ModelManagerDialog(self.iface.mainWindow()))
