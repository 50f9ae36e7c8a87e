"""The plugin loads in a headless QGIS, adds its menu, toolbar and provider, and unloads cleanly."""
import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QToolBar


@pytest.fixture
def plugin(qgis_iface):
    import geodistill

    instance = geodistill.classFactory(qgis_iface)
    instance.initGui()
    yield instance
    instance.unload()


def _geodistill_menus(iface):
    return [a for a in iface.mainWindow().menuBar().actions()
            if a.menu() is not None and a.menu().objectName() == "geodistillMenu"]


def test_init_gui_adds_menu_toolbar_and_provider(plugin, qgis_iface):
    menus = _geodistill_menus(qgis_iface)
    assert len(menus) == 1
    assert menus[0].text() == "GeoDistill"
    assert plugin.open_action in menus[0].menu().actions()
    assert plugin.toolbar.objectName() == "geodistillToolbar"
    assert plugin.open_action in plugin.toolbar.actions()
    provider = QgsApplication.processingRegistry().providerById("geodistill")
    assert provider is not None
    assert provider.name() == "GeoDistill"
    assert {a.id() for a in provider.algorithms()} >= {"geodistill:diagnostics"}


def test_unload_removes_everything(qgis_iface):
    import geodistill

    instance = geodistill.classFactory(qgis_iface)
    instance.initGui()
    toolbar = instance.toolbar
    instance.unload()
    assert _geodistill_menus(qgis_iface) == []
    assert QgsApplication.processingRegistry().providerById("geodistill") is None
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert qgis_iface.mainWindow().findChild(QToolBar, "geodistillToolbar") is None
    assert instance.toolbar is None and toolbar is not None


def test_open_action_shows_dock_listing_algorithms(plugin):
    plugin.open_action.trigger()
    ids = [plugin.dock.tools.item(i).data(256) for i in range(plugin.dock.tools.count())]
    assert "geodistill:diagnostics" in ids


def test_import_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    import geodistill

    package_parent = str(Path(geodistill.__file__).parent.parent)
    code = ("import sys; sys.path.insert(0, %r); import geodistill, geodistill.plugin.main; "
            "print('torch' in sys.modules)") % package_parent
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
