"""The GeoDistill dock in a headless QGIS: pages, pickers, model warnings, background runs."""
import math
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
    QgsTask,
    QgsVectorLayer,
)

from rasters import pansharpening_scene, write_raster

from geodistill.models import nets
from geodistill.models.package import ModelCard, save_package


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


def lite_package(folder: Path, name: str, bands: int, ratio: int) -> Path:
    net = nets.build("pansharpen_lite", {"ms_bands": bands, "ratio": ratio})
    card = ModelCard(name=name, task="pansharpening", architecture="pansharpen_lite",
                     config={"ms_bands": bands, "ratio": ratio}, ratio=ratio,
                     input_bands={"ms": [f"b{i}" for i in range(bands)], "pan": ["pan"]},
                     licence="test licence", metrics={"validation_q2n": 0.5})
    path = folder / f"{name}.safetensors"
    save_package(path, net.state_dict(), card)
    return path


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


def combo_layer_names(combo):
    return sorted(combo.layer(i).name() for i in range(combo.count()) if combo.layer(i) is not None)


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


def test_layer_fit_checks_use_pixel_size_in_metres():
    from geodistill.plugin.ui.model_fit import LayerFacts, fit_problems

    card = ModelCard(name="seg", task="segmentation", architecture="x", gsd=0.5,
                     config={"bands": 3})
    fine = LayerFacts("INPUT", "ortho", 3, 0.5, True)
    coarse = LayerFacts("INPUT", "ortho", 3, 10.0, True)
    degrees = LayerFacts("INPUT", "ortho", 3, 0.0001, False)
    assert fit_problems(card, [fine]) == [] and fit_problems(card, [degrees]) == []
    assert fit_problems(card, [coarse]) == [
        "'seg' was trained on 0.5 m pixels; 'ortho' has 10 m pixels, so results may be poor "
        "(resample the layer or pick a model made for this resolution)."]
    assert "expects 3 band(s)" in fit_problems(card, [LayerFacts("INPUT", "ortho", 4, 0.5, True)])[0]
    assert np.isclose(len(fit_problems(card, [])), 0)
    sharpener = ModelCard(name="ms4", task="pansharpening", architecture="x",
                          config={"ms_bands": 4, "ratio": 4})
    pair = [LayerFacts("MS", "ms", 8, 2.0, True), LayerFacts("PAN", "pan", 1, 0.5, True)]
    assert fit_problems(sharpener, pair) == [
        "'ms4' expects 4 band(s) for MS; 'ms' has 8. Choose another model or layer."]
    wrong_ratio = [LayerFacts("MS", "ms", 4, 1.5, True), LayerFacts("PAN", "pan", 1, 0.5, True)]
    assert fit_problems(sharpener, wrong_ratio) == [
        "'ms4' sharpens by a ratio of 4; the pixel sizes of 'ms' and 'pan' differ by 3.00."]


@pytest.mark.parametrize("crs, size, origin, expected", [
    # degrees at 60 N: the WGS 84 parallel's radius a cos(phi) / sqrt(1 - e^2 sin^2 phi) times the angle
    ("EPSG:4326", 0.0001, (10.0, 60.0005),
     6378137.0 * math.cos(math.radians(60)) / math.sqrt(1 - 0.00669437999014 * math.sin(math.radians(60)) ** 2)
     * math.radians(0.0001)),
    # US survey feet (QGIS converts them as international feet: 2 parts per million off)
    ("EPSG:2263", 10.0, (1_000_000.0, 200_000.0), 10.0 * 1200 / 3937),
    ("EPSG:32633", 0.5, (500_000.0, 4_500_000.0), 0.5),
])
def test_pixel_size_for_the_fit_checks_is_in_metres_in_any_crs(tmp_path, crs, size, origin, expected):
    from geodistill.plugin.ui.layer_facts import pixel_facts

    path = write_raster(tmp_path / "layer.tif", np.zeros((3, 10, 10), np.uint8), pixel_size=size,
                        crs=crs, origin=origin)
    facts = pixel_facts("INPUT", QgsRasterLayer(str(path), "layer"))
    assert facts.metres and facts.band_count == 3
    assert facts.pixel_size == pytest.approx(expected, rel=1e-5)


def test_fit_checks_count_an_alpha_band_as_the_mask(tmp_path):
    from rasterio.enums import ColorInterp

    from geodistill.plugin.ui.layer_facts import pixel_facts

    path = write_raster(tmp_path / "rgba.tif", np.zeros((4, 10, 10), np.uint8))
    with rasterio.open(path, "r+") as dataset:
        dataset.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    assert pixel_facts("INPUT", QgsRasterLayer(str(path), "ortho")).band_count == 3
    plain = write_raster(tmp_path / "rgbn.tif", np.zeros((4, 10, 10), np.uint8))
    assert pixel_facts("INPUT", QgsRasterLayer(str(plain), "rgbn")).band_count == 4


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
