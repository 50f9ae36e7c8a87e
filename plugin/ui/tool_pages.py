"""The dock's tool pages: declared in one table, built from the algorithms' own parameters.

Each page lists Processing algorithm ids (or `fnmatch` patterns); those not registered are
skipped, and a page with none is left out. A page builds one form per algorithm from its
parameter definitions: layer pickers filtered to rasters or vectors, the model picker (with
the card and a warning when the layers do not fit the model), numbers, choices, files and an
output "Save to" field (empty: a new file in the results folder, or for a trained model in the
user's models folder). DEVICE comes from the dock's device line.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path

import qgis.utils
from qgis.core import (
    QgsApplication,
    QgsDistanceArea,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsReferencedRectangle,
    QgsUnitTypes,
)
from qgis.gui import (
    QgsCheckableComboBox,
    QgsExtentWidget,
    QgsFileWidget,
    QgsMapLayerComboBox,
    QgsRasterBandComboBox,
)
from qgis.PyQt.QtCore import QCoreApplication, QRegularExpression, Qt
from qgis.PyQt.QtGui import QRegularExpressionValidator
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .. import settings
from ..algorithms.base import BAND_LIST_PATTERN, parse_band_list
from .model_fit import LayerFacts, fit_problems
from .model_picker import ModelPicker
from .output_names import automatic_output


def _tr(text: str) -> str:
    return QCoreApplication.translate("GeoDistill", text)


@dataclass(frozen=True)
class ToolPageSpec:
    """One page of the dock: a settings key, a tab title and the algorithms it offers."""

    key: str
    title: str
    algorithms: tuple[str, ...]  # ids or fnmatch patterns, in display order


TOOL_PAGES = (
    ToolPageSpec("pansharpen", "Pansharpen", ("geodistill:pansharpen",)),
    ToolPageSpec("dehaze", "Dehaze", ("geodistill:dehaze",)),
    ToolPageSpec("segment", "Segment", ("geodistill:segment",)),
    ToolPageSpec("classify_scenes", "Classify scenes", ("geodistill:classify_scenes",)),
    ToolPageSpec("train", "Train", ("geodistill:train_*", "geodistill:evaluate_*")),
)

#: words in an algorithm id -> the model-card task of its MODEL parameter
TASK_WORDS = (("pansharpen", "pansharpening"), ("dehaze", "dehazing"),
              ("segment", "segmentation"), ("classif", "classification"))
DESTINATION_TYPES = {"rasterDestination", "vectorDestination", "sink", "fileDestination",
                     "folderDestination"}
LAYER_DESTINATIONS = {"rasterDestination", "vectorDestination", "sink"}
#: parameters the page fills itself, not from a widget
DEVICE_PARAMETER = "DEVICE"
TILE_PARAMETER = "TILE_SIZE"
MODEL_PARAMETER = "MODEL"


def task_of(algorithm_id: str) -> str | None:
    """The model-card task an algorithm works on, from its id ("geodistill:segment" -> segmentation)."""
    name = algorithm_id.partition(":")[2]
    return next((task for word, task in TASK_WORDS if word in name), None)


def matching_algorithms(spec: ToolPageSpec, registry=None) -> list:
    """The registered algorithms of a page, in the order of its patterns (missing ones skipped)."""
    registry = registry or QgsApplication.processingRegistry()
    available = sorted(a.id() for a in registry.algorithms() if a.provider() is not None
                       and a.provider().id() == "geodistill")
    found = []
    for pattern in spec.algorithms:
        for algorithm_id in available:
            if fnmatch.fnmatchcase(algorithm_id, pattern) and algorithm_id not in found:
                found.append(algorithm_id)
    return [registry.algorithmById(algorithm_id) for algorithm_id in found]


def layer_score(parameter_name: str, layer) -> int:
    """How well a layer suits a layer parameter: its name mentions the parameter, band count."""
    words = layer.name().lower().replace("-", "_").replace(" ", "_").replace(".", "_").split("_")
    wanted = parameter_name.lower().replace("_layers", "").replace("_layer", "")
    score = 4 if wanted in words else 0
    if isinstance(layer, QgsRasterLayer):
        panchromatic = "pan" in wanted
        score += 2 if (layer.bandCount() == 1) == panchromatic else 0
    return score


def pixel_facts(parameter_name: str, layer: QgsRasterLayer) -> LayerFacts:
    """Band count and pixel width of a raster layer for the model-fit checks (in metres where
    the CRS allows, see `pixel_width_metres`; else in map units)."""
    metres = pixel_width_metres(layer)
    return LayerFacts(parameter=parameter_name, name=layer.name(), band_count=data_band_count(layer),
                      pixel_size=float(layer.rasterUnitsPerPixelX()) if metres is None else metres,
                      metres=metres is not None)


def data_band_count(layer: QgsRasterLayer) -> int:
    """Bands holding data: an alpha band (RGBA orthophotos) is the mask, as the tools read it."""
    provider = layer.dataProvider()
    return sum(provider.colorInterpretationName(band) != "Alpha"
               for band in range(1, layer.bandCount() + 1)) or layer.bandCount()


def pixel_width_metres(layer: QgsRasterLayer) -> float | None:
    """A raster layer's pixel width in metres: map units converted for a projected CRS (feet
    too), measured on the CRS's ellipsoid at the layer's centre for degrees; None when the CRS
    or its units are unknown."""
    crs = layer.crs()
    width = float(layer.rasterUnitsPerPixelX())
    if not crs.isValid():
        return None
    if crs.isGeographic():
        distance = QgsDistanceArea()
        distance.setSourceCrs(crs, QgsProject.instance().transformContext())
        distance.setEllipsoid(crs.ellipsoidAcronym() or "WGS84")
        centre = layer.extent().center()
        return distance.measureLine(centre, QgsPointXY(centre.x() + width, centre.y()))
    units = crs.mapUnits()
    if units == QgsUnitTypes.DistanceUnit.DistanceUnknownUnit:
        return None
    return width * QgsUnitTypes.fromUnitToUnitFactor(units, QgsUnitTypes.DistanceUnit.DistanceMeters)


class LayerChecklist(QgsCheckableComboBox):
    """Checkable list of the project's raster (or vector) layers that follows the project:
    layers added or removed later appear or go, and checked layers stay checked."""

    def __init__(self, vector: bool, parent=None):
        super().__init__(parent)
        self.vector = vector
        project = QgsProject.instance()
        project.layersAdded.connect(self.refresh)
        project.layersRemoved.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        """Refill from the project's layers, keeping the check marks."""
        checked = {self.itemData(i) for i in range(self.count())
                   if self.itemCheckState(i) == Qt.CheckState.Checked}
        self.clear()
        for layer in QgsProject.instance().mapLayers().values():
            if isinstance(layer, QgsRasterLayer) != self.vector:
                state = Qt.CheckState.Checked if layer.id() in checked else Qt.CheckState.Unchecked
                self.addItemWithCheckState(layer.name(), state, layer.id())


def _is_model_output(definition) -> bool:
    """Whether a destination parameter is a model package (.safetensors)."""
    return definition.type() == "fileDestination" and definition.defaultFileExtension() == "safetensors"


class BandOrderEdit(QLineEdit):
    """Band numbers typed in the order the model reads them ("5, 3, 2": red, green, blue of an
    8-band image); empty = the tool's default bands. The tooltip lists the layer's bands."""

    def __init__(self, help_text: str = "", parent=None):
        super().__init__(parent)
        self.help_text = help_text
        self.setPlaceholderText(_tr("all bands but alpha — or e.g. 3, 2, 1 in the model's order"))
        self.setValidator(QRegularExpressionValidator(QRegularExpression(BAND_LIST_PATTERN.pattern), self))

    def setLayer(self, layer) -> None:  # noqa: N802 (the slot name of QgsRasterBandComboBox)
        """Show `layer`'s bands below the help in the tooltip."""
        names = ([f"{band}: {layer.bandName(band)}" for band in range(1, layer.bandCount() + 1)]
                 if isinstance(layer, QgsRasterLayer) else [])
        self.setToolTip("\n".join([self.help_text, *names]).strip())

    def bands(self) -> list[int] | None:
        """The typed band numbers in their order, or None when none were typed."""
        return parse_band_list(self.text())


class AlgorithmForm(QWidget):
    """The widgets of one algorithm's parameters, and the parameters dict they give."""

    def __init__(self, algorithm, tool: str, parent=None):
        super().__init__(parent)
        self.algorithm = algorithm
        self.tool = tool
        self.widgets: dict[str, QWidget] = {}
        self.model_picker: ModelPicker | None = None
        self.unsupported: list[str] = []
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for definition in algorithm.parameterDefinitions():
            if definition.flags() & QgsProcessingParameterDefinition.Flag.FlagHidden:
                continue
            if definition.name() == DEVICE_PARAMETER:
                continue
            widget = self._make_widget(definition)
            if widget is None:
                self.unsupported.append(definition.name())
                continue
            widget.setToolTip(definition.help() or definition.description())
            label = definition.description()
            if definition.type() in DESTINATION_TYPES:
                label = _tr("Save to ({name})").format(name=definition.description())
            form.addRow(label, widget)
            self.widgets[definition.name()] = widget
        self.warning = QLabel(self)
        self.warning.setObjectName("modelFitWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b35900;")
        self.warning.setVisible(False)
        form.addRow(self.warning)
        self._link_bands()
        self.auto_select_layers()
        for widget in self.widgets.values():
            if isinstance(widget, QgsMapLayerComboBox):
                widget.layerChanged.connect(self.update_fit_warning)
            elif isinstance(widget, BandOrderEdit):
                widget.textChanged.connect(self.update_fit_warning)
        if self.model_picker is not None:
            self.model_picker.model_changed.connect(self.update_fit_warning)
        self.update_fit_warning()

    # -- building ---------------------------------------------------------------------
    def _make_widget(self, definition):
        kind = definition.type()
        name = definition.name()
        if name == MODEL_PARAMETER:
            self.model_picker = ModelPicker(task_of(self.algorithm.id()), self.tool, self)
            return self.model_picker
        if kind == "raster":
            return self._layer_combo(QgsMapLayerProxyModel.Filter.RasterLayer, definition)
        if kind in ("vector", "source"):
            return self._layer_combo(QgsMapLayerProxyModel.Filter.VectorLayer, definition)
        if kind == "multilayer":
            return self._multi_layer_combo(definition)
        if kind == "band":
            if definition.allowMultiple():
                return BandOrderEdit(definition.help(), self)
            return QgsRasterBandComboBox(self)
        if kind == "extent":
            return self._extent_widget()
        if kind == "enum":
            combo = QComboBox(self)
            combo.addItems(definition.options())
            if isinstance(definition.defaultValue(), int):
                combo.setCurrentIndex(definition.defaultValue())
            return combo
        if kind == "number":
            return self._number(definition)
        if kind == "boolean":
            box = QCheckBox(self)
            box.setChecked(bool(definition.defaultValue()))
            return box
        if kind in ("string", "crs"):
            edit = QLineEdit(self)
            edit.setText("" if definition.defaultValue() is None else str(definition.defaultValue()))
            return edit
        if kind == "file":
            picker = QgsFileWidget(self)
            if definition.behavior() == definition.Behavior.Folder:
                picker.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
            elif definition.extension():
                picker.setFilter(f"*.{definition.extension()}")
            return picker
        if kind in DESTINATION_TYPES:
            picker = QgsFileWidget(self)
            picker.setStorageMode(QgsFileWidget.StorageMode.GetDirectory if kind == "folderDestination"
                                  else QgsFileWidget.StorageMode.SaveFile)
            if kind != "folderDestination":
                picker.setFilter(definition.createFileFilter())
            if not definition.createByDefault():
                placeholder = _tr("[skipped] — type or pick a path to create it")
            elif _is_model_output(definition):
                placeholder = _tr("[automatic] a new model in your models folder — or type or pick a path")
            else:
                placeholder = _tr("[automatic] a new file in the results folder — or type or pick a path")
            picker.lineEdit().setPlaceholderText(placeholder)
            return picker
        return None

    def _extent_widget(self) -> QgsExtentWidget:
        """An extent picker (canvas extent, a layer's extent, drawn) that may stay empty."""
        widget = QgsExtentWidget(self)
        widget.setNullValueAllowed(True, _tr("Whole raster"))
        widget.setOutputCrs(QgsProject.instance().crs())
        canvas = getattr(qgis.utils, "iface", None) and qgis.utils.iface.mapCanvas()
        if canvas is not None:
            widget.setMapCanvas(canvas)
        widget.clear()
        return widget

    def _layer_combo(self, layer_filter, definition) -> QgsMapLayerComboBox:
        combo = QgsMapLayerComboBox(self)
        combo.setFilters(layer_filter)
        combo.setAllowEmptyLayer(bool(definition.flags() & QgsProcessingParameterDefinition.Flag.FlagOptional))
        return combo

    def _multi_layer_combo(self, definition) -> QgsCheckableComboBox:
        vector = definition.layerType() in (QgsProcessing.SourceType.TypeVectorAnyGeometry,
                                            QgsProcessing.SourceType.TypeVectorPolygon)
        return LayerChecklist(vector, self)

    def _number(self, definition):
        integer = definition.dataType() == definition.Type.Integer
        box = QSpinBox(self) if integer else QDoubleSpinBox(self)
        cast = int if integer else float
        box.setRange(cast(max(definition.minimum(), -2**31 + 1)), cast(min(definition.maximum(), 2**31 - 1)))
        if definition.defaultValue() is not None:
            box.setValue(cast(definition.defaultValue()))
        if definition.name() == TILE_PARAMETER:
            box.setValue(settings.tile_size())
            box.valueChanged.connect(settings.set_tile_size)
        return box

    def _link_bands(self) -> None:
        for definition in self.algorithm.parameterDefinitions():
            if definition.type() == "band" and definition.name() in self.widgets:
                parent = self.widgets.get(definition.parentLayerParameterName())
                band_combo = self.widgets[definition.name()]
                if isinstance(parent, QgsMapLayerComboBox):
                    parent.layerChanged.connect(band_combo.setLayer)
                    band_combo.setLayer(parent.currentLayer())

    def auto_select_layers(self) -> None:
        """Pick, for each layer parameter, the best-scoring layer not already taken."""
        taken = set()
        for name, widget in self.widgets.items():
            if isinstance(widget, QgsMapLayerComboBox):
                candidates = [widget.layer(i) for i in range(widget.count())]
                candidates = [layer for layer in candidates if layer is not None]
                if not candidates:
                    continue
                best = max(candidates, key=lambda layer: (layer_score(name, layer), layer.id() not in taken))
                widget.setLayer(best)
                taken.add(best.id())
            elif isinstance(widget, QgsCheckableComboBox) and widget.count():
                scores = [(layer_score(name, QgsProject.instance().mapLayer(widget.itemData(i))), i)
                          for i in range(widget.count())]
                best_score = max(score for score, _ in scores)
                widget.setCheckedItems([widget.itemText(i) for score, i in scores if score == best_score])

    # -- reading ----------------------------------------------------------------------
    def raster_facts(self) -> list[LayerFacts]:
        """Facts about the chosen raster layers, for the model-fit check (a layer whose bands
        are typed counts those)."""
        facts = [pixel_facts(name, widget.currentLayer()) for name, widget in self.widgets.items()
                 if isinstance(widget, QgsMapLayerComboBox) and isinstance(widget.currentLayer(), QgsRasterLayer)]
        for definition in self.algorithm.parameterDefinitions():
            widget = self.widgets.get(definition.name())
            if isinstance(widget, BandOrderEdit) and widget.bands():
                facts = [replace(fact, band_count=len(widget.bands()))
                         if fact.parameter == definition.parentLayerParameterName() else fact
                         for fact in facts]
        return facts

    def fit_warnings(self) -> list[str]:
        """Where the chosen layers do not fit the chosen model ([] with "default")."""
        card = self.model_picker.current_card() if self.model_picker is not None else None
        return fit_problems(card, self.raster_facts()) if card is not None else []

    def update_fit_warning(self, *_args) -> None:
        """Show or hide the warning line."""
        problems = self.fit_warnings()
        self.warning.setText("⚠ " + " ".join(problems) if problems else "")
        self.warning.setVisible(bool(problems))

    def parameters(self, device: str, project: QgsProject) -> dict:
        """The algorithm parameters as the widgets say (layer ids, outputs loaded into `project`)."""
        values = {}
        for definition in self.algorithm.parameterDefinitions():
            name = definition.name()
            widget = self.widgets.get(name)
            if name == DEVICE_PARAMETER:
                values[name] = device
            elif widget is not None:
                values[name] = self._value(definition, widget, project)
        return values

    def _value(self, definition, widget, project):
        kind = definition.type()
        if isinstance(widget, ModelPicker):
            return widget.value()
        if isinstance(widget, QgsMapLayerComboBox):
            layer = widget.currentLayer()
            return layer.id() if layer is not None else None
        if isinstance(widget, QgsCheckableComboBox):
            return [widget.itemData(i) for i in range(widget.count())
                    if widget.itemCheckState(i) == Qt.CheckState.Checked]
        if isinstance(widget, QgsRasterBandComboBox):
            return widget.currentBand()
        if isinstance(widget, BandOrderEdit):
            return widget.bands()
        if isinstance(widget, QgsExtentWidget):
            return QgsReferencedRectangle(widget.outputExtent(), widget.outputCrs()) if widget.isValid() else None
        if isinstance(widget, QComboBox):
            return widget.currentIndex()
        if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            return widget.value()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QLineEdit):
            return widget.text()
        path = widget.filePath().strip()
        if not path and kind in DESTINATION_TYPES:
            if not definition.createByDefault():
                return None  # an optional output the user did not ask for
            path = str(self.automatic_path(definition, project))
        if kind in LAYER_DESTINATIONS:
            definition_value = QgsProcessingOutputLayerDefinition(path, project)
            definition_value.destinationName = f"{self.algorithm.displayName()} — {definition.description()}"
            return definition_value
        return path or None

    def automatic_path(self, definition, project: QgsProject) -> Path:
        """Where an output left without a path goes: a new file named after the first chosen
        layer and the tool, in the user's models folder (models) or the results folder."""
        folder = (settings.user_model_folder() if _is_model_output(definition)
                  else settings.output_folder(project.homePath()))
        names = []
        for widget in self.widgets.values():
            if isinstance(widget, QgsMapLayerComboBox) and widget.currentLayer() is not None:
                names.append(widget.currentLayer().name())
            elif isinstance(widget, LayerChecklist):
                names.extend(widget.checkedItems())
        return automatic_output(folder, names[0] if names else "", self.algorithm.name(),
                                definition.defaultFileExtension() or "tif")

    def set_output(self, name: str, path: str) -> None:
        """Set an output path (tests and scripts)."""
        self.widgets[name].setFilePath(path)


class ToolPage(QWidget):
    """A dock page: an algorithm chooser (when the page has several) above their forms."""

    def __init__(self, spec: ToolPageSpec, algorithms: list, parent=None):
        super().__init__(parent)
        self.spec = spec
        layout = QVBoxLayout(self)
        self.chooser = QComboBox(self)
        self.stack = QStackedWidget(self)
        self.forms: list[AlgorithmForm] = []
        for algorithm in algorithms:
            form = AlgorithmForm(algorithm, f"{spec.key}/{algorithm.name()}" if len(algorithms) > 1
                                 else spec.key, self)
            self.forms.append(form)
            self.chooser.addItem(algorithm.displayName(), algorithm.id())
            self.stack.addWidget(form)
        self.chooser.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.chooser.setVisible(len(algorithms) > 1)
        self.help = QLabel(self)
        self.help.setWordWrap(True)
        self.help.setTextFormat(Qt.TextFormat.RichText)
        self.chooser.currentIndexChanged.connect(self._show_help)
        layout.addWidget(self.chooser)
        layout.addWidget(self.stack)
        layout.addWidget(self.help)
        layout.addStretch(1)
        self._show_help()

    def current_form(self) -> AlgorithmForm:
        """The form of the chosen algorithm."""
        return self.forms[self.stack.currentIndex()]

    def _show_help(self, *_args) -> None:
        self.help.setText(f"<small>{self.current_form().algorithm.shortHelpString()}</small>")


def build_pages(parent=None) -> list[ToolPage]:
    """One page per spec whose algorithms are registered (pages without any are skipped)."""
    pages = []
    for spec in TOOL_PAGES:
        algorithms = matching_algorithms(spec)
        if algorithms:
            pages.append(ToolPage(spec, algorithms, parent))
    return pages
