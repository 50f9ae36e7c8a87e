"""One algorithm's form in the dock, built from its parameter definitions.

One widget per parameter (`parameter_widgets`), each under its label, plus the model picker
(with the card and a warning when the layers do not fit the model) and each raster's pixel
size. The form picks layers for the inputs, checks them before a run and gives the parameters
dict; an output left empty becomes a new file in the results folder (a trained model: in the
user's models folder). DEVICE comes from the dock's device line.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qgis.core import (
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsReferencedRectangle,
)
from qgis.gui import QgsExtentWidget, QgsMapLayerComboBox, QgsRasterBandComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .. import settings
from ...models.catalogue import TASKS, Kind
from .form_widgets import (
    BandOrderEdit,
    NAME_SCORE,
    LayerChecklist,
    layer_score,
    let_combos_shrink,
    wrapped_label,
)
from .layer_facts import pixel_facts, pixel_size_text
from .model_fit import LayerFacts, fit_problems
from .model_picker import ModelPicker
from .output_names import automatic_output
from .parameter_widgets import DESTINATION_TYPES, is_model_output, parameter_widget
from ..translation import tr as _tr


LAYER_DESTINATIONS = {"rasterDestination", "vectorDestination", "sink"}
#: parameters the page fills itself, not from a widget
DEVICE_PARAMETER = "DEVICE"
MODEL_PARAMETER = "MODEL"


def task_of(algorithm_id: str) -> str | None:
    """The model-card task of an algorithm's MODEL parameter, from its catalogue entry
    ("geodistill:segment" -> segmentation); None without one."""
    task = TASKS.get(algorithm_id.partition(":")[2])
    models = [p.model_task for p in task.parameters if p.kind == Kind.MODEL] if task else []
    return models[0] if models else None


class AlgorithmForm(QWidget):
    """The widgets of one algorithm's parameters, and the parameters dict they give."""

    def __init__(self, algorithm, tool: str, parent=None):
        super().__init__(parent)
        self.algorithm = algorithm
        self.tool = tool
        self.widgets: dict[str, QWidget] = {}
        self.model_picker: ModelPicker | None = None
        self.unsupported: list[str] = []
        self.user_chosen: set[str] = set()  # layer pickers set by the user, left alone on changes
        self._checklists_ticked = False
        self.pixel_size_lines: dict[str, QLabel] = {}  # raster parameter -> its pixel-size line
        form = QVBoxLayout(self)  # each label above its field: fits a narrow dock
        for definition in algorithm.parameterDefinitions():
            if definition.flags() & QgsProcessingParameterDefinition.Flag.FlagHidden:
                continue
            if definition.name() == DEVICE_PARAMETER:
                continue
            widget = (self._model_picker() if definition.name() == MODEL_PARAMETER
                      else parameter_widget(definition, self))
            if widget is None:
                self.unsupported.append(definition.name())
                continue
            widget.setToolTip(definition.help() or definition.description())
            label = definition.description()
            if definition.type() in DESTINATION_TYPES:
                label = _tr("Save to ({name})").format(name=definition.description())
            form.addWidget(wrapped_label(label, widget, self))
            form.addWidget(widget)
            self.widgets[definition.name()] = widget
            if definition.type() == "raster":
                form.addWidget(self._pixel_size_line(definition.name(), widget))
        self.warning = QLabel(self)
        self.warning.setObjectName("modelFitWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b35900;")
        self.warning.setVisible(False)
        form.addWidget(self.warning)
        let_combos_shrink(self)
        self._link_bands()
        self.auto_select_layers()
        QgsProject.instance().layersAdded.connect(self.auto_select_layers)
        for name, widget in self.widgets.items():
            if isinstance(widget, QgsMapLayerComboBox):
                widget.activated.connect(lambda _index, name=name: self._remember_user_choice(name))
                widget.layerChanged.connect(self.update_fit_warning)
            elif isinstance(widget, BandOrderEdit):
                widget.textChanged.connect(self.update_fit_warning)
        if self.model_picker is not None:
            self.model_picker.model_changed.connect(self.update_fit_warning)
        self.update_fit_warning()

    # -- building ---------------------------------------------------------------------
    def _model_picker(self) -> ModelPicker:
        self.model_picker = ModelPicker(task_of(self.algorithm.id()), self.tool, self)
        return self.model_picker

    def _pixel_size_line(self, name: str, combo: QgsMapLayerComboBox) -> QLabel:
        """A small line under a raster picker with the chosen layer's pixel size and unit."""
        line = QLabel(self)
        line.setObjectName("pixelSize")
        line.setStyleSheet("color: gray;")

        def show(layer) -> None:
            line.setText(_tr("Pixel size: {size}").format(size=pixel_size_text(layer))
                         if isinstance(layer, QgsRasterLayer) else "")

        combo.layerChanged.connect(show)
        show(combo.currentLayer())
        self.pixel_size_lines[name] = line
        return line

    def _link_bands(self) -> None:
        for definition in self.algorithm.parameterDefinitions():
            if definition.type() == "band" and definition.name() in self.widgets:
                parent = self.widgets.get(definition.parentLayerParameterName())
                band_combo = self.widgets[definition.name()]
                if isinstance(parent, QgsMapLayerComboBox):
                    parent.layerChanged.connect(band_combo.setLayer)
                    band_combo.setLayer(parent.currentLayer())

    def auto_select_layers(self, *_args) -> None:
        """Pick, for each layer picker the user has not set, the best-scoring layer that no other
        picker holds; tick in each checklist (when first built) the layers named for it."""
        pickers = {name: widget for name, widget in self.widgets.items()
                   if isinstance(widget, QgsMapLayerComboBox)}
        taken = {widget.currentLayer().id() for name, widget in pickers.items()
                 if name in self.user_chosen and widget.currentLayer() is not None}
        for name, widget in pickers.items():
            candidates = [widget.layer(i) for i in range(widget.count()) if widget.layer(i) is not None]
            if name in self.user_chosen or not candidates:
                continue

            def fitness(layer, name=name):
                return layer.id() not in taken, layer_score(name, layer)

            best, current = max(candidates, key=fitness), widget.currentLayer()
            # a new layer (a result just loaded, say) replaces the current one only if it fits better
            if current is None or fitness(best) > fitness(current):
                widget.setLayer(best)
            taken.add(widget.currentLayer().id())
        if self._checklists_ticked:
            return
        self._checklists_ticked = True
        for name, widget in self.widgets.items():
            if isinstance(widget, LayerChecklist):
                for index in range(widget.count()):
                    layer_id = widget.itemData(index)
                    if (layer_id not in taken and
                            layer_score(name, QgsProject.instance().mapLayer(layer_id)) >= NAME_SCORE):
                        widget.setItemCheckState(index, Qt.CheckState.Checked)
                        taken.add(layer_id)

    def _remember_user_choice(self, name: str) -> None:
        self.user_chosen.add(name)

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

    def input_problems(self) -> list[str]:
        """Why the form cannot start ([] when it can): a required layer not chosen, or one layer
        chosen for two inputs (hazy and clear, MS and PAN ...)."""
        problems, inputs_of = [], {}
        for definition in self.algorithm.parameterDefinitions():
            widget = self.widgets.get(definition.name())
            if isinstance(widget, QgsMapLayerComboBox):
                layer_ids = [widget.currentLayer().id()] if widget.currentLayer() is not None else []
                optional = definition.flags() & QgsProcessingParameterDefinition.Flag.FlagOptional
                if not layer_ids and not optional:
                    problems.append(_tr("Choose a layer for “{input}”.").format(
                        input=definition.description()))
            elif isinstance(widget, LayerChecklist):
                layer_ids = widget.checked_layer_ids()
            else:
                continue
            for layer_id in layer_ids:
                inputs_of.setdefault(layer_id, []).append(definition.description())
        for layer_id, inputs in inputs_of.items():
            if len(inputs) > 1:
                problems.append(_tr("“{layer}” is chosen as {inputs}: choose a different layer for "
                                    "each.").format(layer=QgsProject.instance().mapLayer(layer_id).name(),
                                                    inputs=_tr(" and ").join(f"“{name}”" for name in inputs)))
        return problems

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
        if isinstance(widget, LayerChecklist):
            return widget.checked_layer_ids()
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
        folder = (settings.user_model_folder() if is_model_output(definition)
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
