"""The dock's layer pickers and fields: they follow the project's layers, keep the user's
choice, refuse one layer in two roles, and show units."""
import numpy as np
import pytest
from qgis.core import Qgis, QgsProject, QgsRasterLayer

from dock_support import combo_layer_names
from rasters import pansharpening_scene, write_raster


@pytest.fixture
def empty_project_dock(geodistill_provider, qgis_new_project, user_folder, qtbot):
    """A dock opened before any layer is in the project."""
    from geodistill.plugin.ui.dock import GeoDistillDock

    project = QgsProject.instance()
    widget = GeoDistillDock(project=project)
    qtbot.addWidget(widget)
    yield widget
    project.removeAllMapLayers()


def test_pickers_follow_layers_added_renamed_and_removed_after_the_dock_opened(empty_project_dock, tmp_path):
    """Layers loaded after the dock opened are offered and chosen (MS and PAN each get their
    own layer), a renamed layer shows its new name, and a removed one leaves every picker."""
    dock = empty_project_dock
    project = QgsProject.instance()
    form = dock.show_page("pansharpen").current_form()
    train = next(f for f in dock.page("train").forms if f.algorithm.id() == "geodistill:train_pansharpen")
    assert form.widgets["MS"].currentLayer() is None and train.widgets["MS_LAYERS"].count() == 0
    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=64)
    ms, pan = QgsRasterLayer(str(scene.ms_path), "ms"), QgsRasterLayer(str(scene.pan_path), "pan")
    project.addMapLayers([pan, ms])  # one layersAdded signal, PAN first
    assert form.widgets["MS"].currentLayer().id() == ms.id()
    assert form.widgets["PAN"].currentLayer().id() == pan.id()
    checklist = train.widgets["MS_LAYERS"]
    assert sorted(checklist.itemText(i) for i in range(checklist.count())) == ["ms", "pan"]
    ms.setName("worldview ms")
    assert sorted(checklist.itemText(i) for i in range(checklist.count())) == ["pan", "worldview ms"]
    combo = form.widgets["MS"]
    assert combo.itemText(combo.currentIndex()).startswith("worldview ms")
    project.removeMapLayer(pan.id())
    assert combo_layer_names(form.widgets["PAN"]) == ["worldview ms"]
    assert [checklist.itemText(i) for i in range(checklist.count())] == ["worldview ms"]


def test_a_layer_chosen_by_the_user_is_kept_when_layers_are_added(dock, project, tmp_path):
    form = dock.show_page("pansharpen").current_form()
    pan = project.mapLayersByName("pan")[0]
    form.widgets["PAN"].setLayer(form.widgets["MS"].currentLayer())
    form.widgets["PAN"].activated.emit(form.widgets["PAN"].currentIndex())  # as a user's pick
    (tmp_path / "more").mkdir()
    scene = pansharpening_scene(tmp_path / "more", bands=4, ratio=4, size=64)
    project.addMapLayer(QgsRasterLayer(str(scene.pan_path), "pan_more"))
    assert form.widgets["PAN"].currentLayer().name() == "ms"  # the user's choice stands
    assert pan.id() != form.widgets["PAN"].currentLayer().id()


def test_train_page_refuses_one_layer_as_both_hazy_and_clear(dock, project, qtbot):
    """Nothing is pre-ticked twice, and a layer ticked as both hazy and clear stops Run with
    a message naming both inputs; no run starts."""
    from qgis.PyQt.QtCore import Qt

    page = dock.show_page("train")
    index = next(i for i, f in enumerate(page.forms) if f.algorithm.id() == "geodistill:train_dehaze")
    page.chooser.setCurrentIndex(index)
    form = page.current_form()
    hazy, clear = form.widgets["HAZY_LAYERS"], form.widgets["CLEAR_LAYERS"]
    assert not set(hazy.checked_layer_ids()) & set(clear.checked_layer_ids())
    ms = project.mapLayersByName("ms")[0]
    for checklist in (hazy, clear):
        checklist.setItemCheckState(checklist.findData(ms.id()), Qt.CheckState.Checked)
    problems = form.input_problems()
    assert problems == ["“ms” is chosen as “Hazy layers of real pairs” and “Clear layers of real "
                        "pairs (same order)”: choose a different layer for each."]
    assert not dock.run()
    assert not dock.runner.is_running() and dock.run_button.isEnabled()
    item = dock.message_bar.currentItem()
    assert item.level() == Qgis.MessageLevel.Warning and problems[0] in item.text()
    clear.setItemCheckState(clear.findData(ms.id()), Qt.CheckState.Unchecked)
    assert form.input_problems() == []


def test_pansharpen_page_refuses_the_same_layer_as_ms_and_pan(dock, project):
    form = dock.show_page("pansharpen").current_form()
    assert form.input_problems() == []
    form.widgets["PAN"].setLayer(form.widgets["MS"].currentLayer())
    assert form.input_problems() == ["“ms” is chosen as “Multispectral (MS) raster” and "
                                     "“Panchromatic (PAN) raster”: choose a different layer for each."]


def test_dark_channel_prior_is_a_choice_of_the_dehaze_model_picker(dock, project):
    """The method the dehazing errors name can be chosen in the panel, and the form passes it."""
    from geodistill.models.tasks.dehaze import DARK_CHANNEL

    form = dock.show_page("dehaze").current_form()
    assert form.model_picker.set_value(DARK_CHANNEL)
    assert form.parameters("cpu", project)["MODEL"] == DARK_CHANNEL
    assert "dark channel prior" in form.model_picker.card.text() and form.fit_warnings() == []
    assert not dock.page("segment").current_form().model_picker.set_value(DARK_CHANNEL)


def test_the_long_cpu_note_is_shown_once_and_the_device_line_stays_short(
        geodistill_provider, project, user_folder, qtbot):
    from geodistill.plugin.ui.device_line import ComputeInfo, DeviceLine
    from geodistill.plugin.ui.dock import GeoDistillDock

    note = "CPU (no CUDA device found: this PyTorch build is CPU-only; install the CUDA build)"
    dock = GeoDistillDock(project=project, device_line=DeviceLine(info=ComputeInfo(note, 0, "2")))
    qtbot.addWidget(dock)
    for key in ("pansharpen", "dehaze", "train", "pansharpen"):
        dock.show_page(key)
    assert [item.text() for item in dock.message_bar.items()] == [note]
    assert dock.device_line.summary.text() == "CPU" and dock.device_line.summary.toolTip() == note


def test_raster_pickers_show_the_pixel_size_with_its_unit(dock, project, tmp_path):
    """Metres for a projected layer; degrees and their length in metres for a geographic one."""
    form = dock.show_page("dehaze").current_form()
    line = form.pixel_size_lines["INPUT"]
    form.widgets["INPUT"].setLayer(project.mapLayersByName("pan")[0])
    assert line.text() == "Pixel size: 1 m"
    path = write_raster(tmp_path / "geographic.tif", np.zeros((3, 10, 10), np.uint8), pixel_size=0.0001,
                        crs="EPSG:4326", origin=(10.0, 60.0005))
    geographic = QgsRasterLayer(str(path), "geographic")
    project.addMapLayer(geographic)
    form.widgets["INPUT"].setLayer(geographic)
    assert line.text() == "Pixel size: 0.0001° (about 5.58 m)"


def test_number_fields_show_their_unit(dock):
    assert dock.page("dehaze").current_form().widgets["TILE_SIZE"].text().endswith(" px")
    segment = dock.page("segment")
    if segment is not None:
        min_area = segment.current_form().widgets["MIN_AREA"]
        assert min_area.suffix() == " m²" and min_area.text().endswith(" m²")


def test_a_loaded_result_does_not_replace_the_chosen_input(dock, project, tmp_path):
    """Layers added later (a run's result) take a picker only when they fit it better."""
    form = dock.show_page("dehaze").current_form()
    chosen = form.widgets["INPUT"].currentLayer()
    result = write_raster(tmp_path / "result.tif", np.zeros((chosen.bandCount(), 16, 16), np.uint8))
    project.addMapLayer(QgsRasterLayer(str(result), "Dehaze — Dehazed"))  # sorts first, fits as well
    assert form.widgets["INPUT"].currentLayer().id() == chosen.id()
