"""The dock's fixtures: fresh settings with a user model folder, a project with an MS + PAN
pair, and the dock on it."""
import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsSettings, QgsVectorLayer

from rasters import pansharpening_scene


@pytest.fixture
def user_folder(tmp_path):
    """Fresh GeoDistill settings with the user model folder in tmp_path."""
    from geodistill.plugin import settings

    QgsSettings().remove(settings.PREFIX)
    folder = tmp_path / "user_models"
    folder.mkdir()
    settings.set_user_model_folder(folder)
    settings.set_output_folder(tmp_path / "results")
    yield folder
    QgsSettings().remove(settings.PREFIX)


@pytest.fixture
def project(tmp_path, qgis_new_project):
    """A project with an MS + PAN pair (4 bands, ratio 4) and a vector layer."""
    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=128)
    project = QgsProject.instance()
    for path in (scene.ms_path, scene.pan_path):
        layer = QgsRasterLayer(str(path), path.stem)
        assert layer.isValid()
        project.addMapLayer(layer)
    project.addMapLayer(QgsVectorLayer("Polygon?crs=EPSG:32633", "labels", "memory"))
    project.scene = scene
    yield project
    project.removeAllMapLayers()
    project.layerTreeRoot().removeAllChildren()


@pytest.fixture
def dock(geodistill_provider, project, user_folder, qtbot):
    from geodistill.plugin.ui.dock import GeoDistillDock

    widget = GeoDistillDock(project=project)
    qtbot.addWidget(widget)
    yield widget
    if widget.runner.is_running():  # a failed test must not leave a run behind
        with qtbot.waitSignal(widget.run_finished, timeout=60000):
            widget.runner.cancel()
