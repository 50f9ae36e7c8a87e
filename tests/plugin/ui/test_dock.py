"""The GeoDistill dock in a headless QGIS: pages, model warnings, background runs, cancel,
errors, settings and the 360 px layout."""
import time
from pathlib import Path

import pytest
import rasterio
from qgis.core import Qgis, QgsApplication, QgsMultiBandColorRenderer, QgsRasterLayer, QgsTask

from dock_support import combo_layer_names, lite_package
from rasters import pansharpening_scene


def test_pages_follow_registered_algorithms_and_pickers_filter_rasters(dock):
    from qgis.core import QgsApplication

    from geodistill.plugin.ui.tool_pages import TOOL_PAGES

    registered = {a.id() for a in QgsApplication.processingRegistry().algorithms()}
    expected = [spec.key for spec in TOOL_PAGES
                if any(alg.startswith(pattern.rstrip("*")) for pattern in spec.algorithms
                       for alg in registered)]
    assert [page.spec.key for page in dock.pages] == expected
    assert "pansharpen" in expected and "train" in expected
    form = dock.show_page("pansharpen").current_form()
    assert combo_layer_names(form.widgets["MS"]) == ["ms", "pan"]  # no vector layer offered
    assert form.widgets["MS"].currentLayer().name() == "ms"
    assert form.widgets["PAN"].currentLayer().name() == "pan"
    assert "DEVICE" not in form.widgets  # the device line gives it
    train = dock.page("train")
    ids = [train.chooser.itemData(i) for i in range(train.chooser.count())]
    assert {"geodistill:train_pansharpen", "geodistill:evaluate_pansharpen"} <= set(ids)
    assert ids == sorted(i for i in ids if ":train_" in i) + sorted(i for i in ids if ":evaluate_" in i)


def test_unsuitable_model_shows_warning(dock, user_folder):
    lite_package(user_folder, "eight_band_x4", bands=8, ratio=4)
    lite_package(user_folder, "four_band_x4", bands=4, ratio=4)
    form = dock.show_page("pansharpen").current_form()
    form.model_picker.refresh()
    assert form.model_picker.set_value("eight_band_x4")
    assert not form.warning.isHidden()
    assert "expects 8 band(s) for MS; 'ms' has 4" in form.warning.text()
    assert "eight_band_x4" in form.model_picker.card.text() and "test licence" in form.model_picker.card.text()
    assert form.model_picker.set_value("pansharpening_lite_8band_x4")  # bundled, other sensor
    assert "expects 8 band(s) for MS; 'ms' has 4" in form.warning.text()
    assert form.model_picker.set_value("four_band_x4")
    assert form.warning.isHidden() and form.fit_warnings() == []


def test_run_completes_in_background_and_adds_styled_layer_in_group(dock, project, tmp_path, qtbot):
    form = dock.show_page("pansharpen").current_form()
    form.widgets["METHOD"].setCurrentIndex(1)  # mtf_glp: no model needed
    form.widgets["TILE_SIZE"].setValue(64)
    form.widgets["OVERLAP"].setValue(16)
    dock.device_line.choice.setCurrentText("cpu")
    output = tmp_path / "sharp.tif"
    form.set_output("OUTPUT", str(output))
    with qtbot.waitSignal(dock.run_finished, timeout=60000) as finished:
        assert dock.run()
        assert not dock.run_button.isEnabled() and dock.cancel_button.isEnabled()
    outcome = finished.args[0]
    assert outcome.successful, outcome.error
    assert dock.runner.max_progress == 100 and dock.progress.value() == 100
    assert dock.run_button.isEnabled() and not dock.cancel_button.isEnabled()
    group = project.layerTreeRoot().findGroup("GeoDistill")
    layers = [node.layer() for node in group.findLayers()]
    assert len(layers) == 1 and Path(layers[0].source()) == output
    renderer = layers[0].renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    ms_renderer = form.widgets["MS"].currentLayer().renderer()  # the output looks like its input
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (
        ms_renderer.redBand(), ms_renderer.greenBand(), ms_renderer.blueBand())
    with rasterio.open(output) as result:
        assert (result.width, result.height, result.count) == (128, 128, 4)
    item = dock.message_bar.currentItem()
    assert item.level() == Qgis.MessageLevel.Success
    assert str(output) in item.text() and " s on CPU" in item.text()
    assert 0 < item.duration() <= 15  # success messages go away by themselves


def test_outputs_left_empty_are_kept_in_the_results_folder_under_new_names(dock, project, tmp_path, qtbot):
    """No temporary files: two runs without a path give ms_pansharpen.tif and
    ms_pansharpen_2.tif in the results folder (both kept, both loaded)."""
    form = dock.show_page("pansharpen").current_form()
    form.widgets["METHOD"].setCurrentIndex(1)  # mtf_glp: no model needed
    dock.device_line.choice.setCurrentText("cpu")
    ms = form.widgets["MS"].currentLayer().name()
    for _ in range(2):
        with qtbot.waitSignal(dock.run_finished, timeout=60000) as finished:
            assert dock.run()
        assert finished.args[0].successful, finished.args[0].error
    results = tmp_path / "results"
    assert sorted(p.name for p in results.iterdir()) == [f"{ms}_pansharpen.tif", f"{ms}_pansharpen_2.tif"]
    group = project.layerTreeRoot().findGroup("GeoDistill")
    assert sorted(Path(node.layer().source()) for node in group.findLayers()) == sorted(results.iterdir())
    assert str(results) in dock.results_folder.filePath()


def test_area_picked_in_the_panel_limits_the_run(dock, project, tmp_path, qtbot):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle, QgsReferencedRectangle

    form = dock.show_page("pansharpen").current_form()
    form.widgets["METHOD"].setCurrentIndex(1)  # mtf_glp: no model needed
    dock.device_line.choice.setCurrentText("cpu")
    assert form.parameters("cpu", project)["EXTENT"] is None  # empty: the whole raster
    pan = form.widgets["PAN"].currentLayer().extent()
    area = QgsRectangle(pan.xMinimum() + 8, pan.yMaximum() - 40, pan.xMinimum() + 40, pan.yMaximum() - 16)
    form.widgets["EXTENT"].setOutputExtentFromUser(area, QgsCoordinateReferenceSystem("EPSG:32633"))
    assert isinstance(form.parameters("cpu", project)["EXTENT"], QgsReferencedRectangle)
    with qtbot.waitSignal(dock.run_finished, timeout=60000) as finished:
        assert dock.run()
    assert finished.args[0].successful, finished.args[0].error
    with rasterio.open(finished.args[0].results["OUTPUT"]) as out:
        assert (out.width, out.height) == (32, 24)
        assert (out.bounds.left, out.bounds.top) == (area.xMinimum(), area.yMaximum())


def test_bands_are_typed_in_the_models_order_and_listed_in_the_tooltip(dock, project):
    form = dock.show_page("dehaze").current_form()
    bands = form.widgets["BANDS"]
    assert form.parameters("cpu", project)["BANDS"] is None  # empty: every band but alpha
    layer = form.widgets["INPUT"].currentLayer()
    assert all(f"{band}: {layer.bandName(band)}" in bands.toolTip() for band in range(1, layer.bandCount() + 1))
    bands.setText("3, 2 ;1")
    assert form.parameters("cpu", project)["BANDS"] == [3, 2, 1]
    assert [fact.band_count for fact in form.raster_facts()] == [3]  # the 4-band layer, 3 typed


def test_trained_models_left_without_a_path_go_to_the_models_folder(dock, project, user_folder):
    form = next(f for f in dock.page("train").forms if f.algorithm.id() == "geodistill:train_pansharpen")
    path = Path(form.parameters("cpu", project)["OUTPUT_MODEL"])
    assert path.parent == user_folder and path.name.endswith("_train_pansharpen.safetensors")


def test_results_folder_defaults_beside_the_saved_project(dock, project, tmp_path):
    from geodistill.plugin import settings

    dock.results_folder.setFilePath("")
    assert settings.chosen_output_folder() == ""
    project.setFileName(str(tmp_path / "work" / "study.qgz"))
    assert settings.output_folder(project.homePath()) == tmp_path / "work" / "geodistill"
    assert str(tmp_path / "work" / "geodistill") in dock.results_folder.lineEdit().placeholderText()


def test_cancel_stops_a_long_run_and_adds_nothing(dock, project, user_folder, tmp_path, qtbot):
    lite_package(user_folder, "four_band_x4", bands=4, ratio=4)
    form = dock.show_page("pansharpen").current_form()
    form.model_picker.refresh()
    assert form.model_picker.set_value("four_band_x4")
    form.widgets["METHOD"].setCurrentIndex(0)
    # scene adaptation long enough to cancel (QgsFeedback reports progress in 0.1 % steps)
    form.widgets["ADAPT_ITERATIONS"].setValue(3000)
    dock.device_line.choice.setCurrentText("cpu")
    output = tmp_path / "never.tif"
    form.set_output("OUTPUT", str(output))
    dock.message_bar.clearWidgets()
    statuses = []  # QGIS tells "Task failed" for every task that ends Terminated
    QgsApplication.taskManager().statusChanged.connect(lambda _task, status: statuses.append(status))
    with qtbot.waitSignal(dock.run_finished, timeout=60000) as finished:
        assert dock.run()
        qtbot.waitUntil(lambda: dock.runner.max_progress > 0, timeout=45000)
        started = time.monotonic()
        dock.cancel_button.click()
    assert time.monotonic() - started < 5  # stops at its next cancel check
    outcome = finished.args[0]
    assert outcome.cancelled and not outcome.successful and outcome.layers == []
    assert project.layerTreeRoot().findGroup("GeoDistill") is None
    assert len(project.mapLayers()) == 3 and not output.exists()
    qtbot.waitUntil(lambda: QgsTask.TaskStatus.Complete in statuses, timeout=5000)
    assert QgsTask.TaskStatus.Terminated not in statuses
    messages = [item.text() for item in dock.message_bar.items()]
    assert len(messages) == 1 and "cancelled" in messages[0].lower()  # said once
    assert dock.message_bar.currentItem().level() == Qgis.MessageLevel.Info
    assert dock.run_button.isEnabled()


def test_errors_go_to_the_message_bar_with_details(dock, project, tmp_path, qtbot):
    form = dock.show_page("pansharpen").current_form()
    form.widgets["METHOD"].setCurrentIndex(1)
    ms, pan = form.widgets["MS"].currentLayer(), form.widgets["PAN"].currentLayer()
    form.widgets["MS"].setLayer(pan)  # swapped: the engine refuses the pair
    form.widgets["PAN"].setLayer(ms)
    form.set_output("OUTPUT", str(tmp_path / "bad.tif"))
    with qtbot.waitSignal(dock.run_finished, timeout=60000) as finished:
        assert dock.run()
    outcome = finished.args[0]
    assert not outcome.successful and not outcome.cancelled
    item = dock.message_bar.currentItem()
    assert item.level() == Qgis.MessageLevel.Critical
    assert "Traceback" not in item.text() and len(item.text()) > 20
    assert item.text() == outcome.error
    assert "(1 m pixels) is finer than the PAN (4 m)" in outcome.error  # sizes with their unit
    assert project.layerTreeRoot().findGroup("GeoDistill") is None


def test_settings_persist_across_dock_instances(dock, user_folder, project, qtbot):
    from geodistill.plugin.ui.dock import GeoDistillDock

    lite_package(user_folder, "four_band_x4", bands=4, ratio=4)
    form = dock.show_page("pansharpen").current_form()
    form.model_picker.refresh()
    form.model_picker.set_value("four_band_x4")
    form.widgets["TILE_SIZE"].setValue(256)
    dock.device_line.choice.setCurrentText("cpu")
    second = GeoDistillDock(project=project)
    qtbot.addWidget(second)
    second_form = second.show_page("pansharpen").current_form()
    assert second_form.model_picker.value() == str(user_folder / "four_band_x4.safetensors")
    assert second_form.widgets["TILE_SIZE"].value() == 256
    assert second.device_line.device() == "cpu"
    assert second_form.parameters("cpu", project)["TILE_SIZE"] == 256




def test_optional_outputs_are_skipped_unless_a_path_is_given(dock, project, tmp_path):
    page = dock.page("segment")
    if page is None:
        pytest.skip("geodistill:segment is not registered")
    form = page.current_form()
    values = form.parameters("cpu", project)
    layer = form.widgets["INPUT"].currentLayer().name()
    assert values["OUTPUT"].sink.staticValue() == str(tmp_path / "results" / f"{layer}_segment.tif")
    assert values["OUTPUT_POLYGONS"] is None and values["OUTPUT_PROBABILITIES"] is None
    form.set_output("OUTPUT_POLYGONS", str(tmp_path / "polygons.gpkg"))
    assert form.parameters("cpu", project)["OUTPUT_POLYGONS"].sink.staticValue() == str(tmp_path / "polygons.gpkg")


def test_multi_layer_pickers_follow_the_project_and_keep_checks(dock, project, tmp_path):
    """Layers added after the dock opened appear in the Train page's lists; checked layers
    stay checked when others come and go; removed layers leave the list."""
    from qgis.PyQt.QtCore import Qt

    train = dock.page("train")
    form = next(f for f in train.forms if f.algorithm.id() == "geodistill:train_pansharpen")
    checklist = form.widgets["MS_LAYERS"]

    def names():
        return sorted(checklist.itemText(i) for i in range(checklist.count()))

    def checked():
        return sorted(checklist.itemText(i) for i in range(checklist.count())
                      if checklist.itemCheckState(i) == Qt.CheckState.Checked)

    assert names() == ["ms", "pan"]  # rasters only
    checklist.setItemCheckState(names().index("ms"), Qt.CheckState.Checked)
    (tmp_path / "second").mkdir()
    scene = pansharpening_scene(tmp_path / "second", bands=4, ratio=4, size=64)
    added = QgsRasterLayer(str(scene.ms_path), "ms_second")
    project.addMapLayer(added)
    assert names() == ["ms", "ms_second", "pan"] and checked() == ["ms"]
    assert form.parameters("cpu", project)["MS_LAYERS"] == [project.mapLayersByName("ms")[0].id()]
    project.removeMapLayer(project.mapLayersByName("ms")[0].id())
    assert names() == ["ms_second", "pan"] and checked() == []


def test_every_field_and_its_buttons_fit_a_360_px_dock(dock, qtbot):
    """At the dock's default width nothing is clipped: every browse and extent button lies
    inside its page's scroll area, which scrolls vertically only."""
    from qgis.gui import QgsExtentWidget, QgsFileWidget
    from qgis.PyQt.QtCore import QPoint
    from qgis.PyQt.QtWidgets import QToolButton

    dock.resize(360, 700)
    dock.show()
    qtbot.waitExposed(dock)
    assert dock.width() == 360
    checked = 0
    for page in dock.pages:
        dock.show_page(page.spec.key)
        scroll = dock.tabs.currentWidget()
        for index, form in enumerate(page.forms):
            page.chooser.setCurrentIndex(index)
            qtbot.wait(1)
            viewport = scroll.viewport()
            assert page.width() <= viewport.width()
            for widget in form.widgets.values():
                if not isinstance(widget, (QgsFileWidget, QgsExtentWidget)):
                    continue
                buttons = [b for b in widget.findChildren(QToolButton) if b.isVisibleTo(widget)]
                assert buttons, f"{form.algorithm.id()}: a picker without its button"
                for button in buttons:
                    right = button.mapTo(viewport, QPoint(button.width(), 0)).x()
                    assert button.width() > 10 and right <= viewport.width(), form.algorithm.id()
                    checked += 1
    assert checked >= 10
    browse = [b for b in dock.results_folder.findChildren(QToolButton) if b.isVisibleTo(dock)]
    assert browse and all(b.mapTo(dock, QPoint(b.width(), 0)).x() <= dock.width() for b in browse)
    for button in (dock.run_button, dock.cancel_button):
        assert button.mapTo(dock, QPoint(button.width(), 0)).x() <= dock.width()
