"""Input widgets for Processing parameters, as the dock's forms show them: layer pickers
filtered to rasters or vectors, numbers, choices, files, extents and output "Save to" fields."""
from __future__ import annotations

import qgis.utils
from qgis.core import QgsMapLayerProxyModel, QgsProcessing, QgsProcessingParameterDefinition, QgsProject
from qgis.gui import QgsExtentWidget, QgsFileWidget, QgsMapLayerComboBox, QgsRasterBandComboBox
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from .. import settings
from .form_widgets import BandOrderEdit, LayerChecklist
from ..translation import tr as _tr

DESTINATION_TYPES = {"rasterDestination", "vectorDestination", "sink", "fileDestination",
                     "folderDestination"}
#: the parameter whose value the settings remember
TILE_PARAMETER = "TILE_SIZE"
#: the unit shown in a number field (the areas are measured in metres in any CRS)
UNIT_SUFFIXES = {"TILE_SIZE": " px", "OVERLAP": " px", "CHIP_SIZE": " px", "STRIDE": " px",
                 "PATCH_SIZE": " px", "MIN_AREA": " m²"}


def is_model_output(definition) -> bool:
    """Whether a destination parameter is a model package (.safetensors)."""
    return definition.type() == "fileDestination" and definition.defaultFileExtension() == "safetensors"


def parameter_widget(definition, parent: QWidget) -> QWidget | None:
    """The input widget of a Processing parameter (None for a type the dock does not offer);
    MODEL and DEVICE are the form's own."""
    kind = definition.type()
    if kind == "raster":
        return layer_combo(QgsMapLayerProxyModel.Filter.RasterLayer, definition, parent)
    if kind in ("vector", "source"):
        return layer_combo(QgsMapLayerProxyModel.Filter.VectorLayer, definition, parent)
    if kind == "multilayer":
        return layer_checklist(definition, parent)
    if kind == "band":
        if definition.allowMultiple():
            return BandOrderEdit(definition.help(), parent)
        return QgsRasterBandComboBox(parent)
    if kind == "extent":
        return extent_widget(parent)
    if kind == "enum":
        combo = QComboBox(parent)
        combo.addItems(definition.options())
        if isinstance(definition.defaultValue(), int):
            combo.setCurrentIndex(definition.defaultValue())
        return combo
    if kind == "number":
        return number_box(definition, parent)
    if kind == "boolean":
        box = QCheckBox(parent)
        box.setChecked(bool(definition.defaultValue()))
        return box
    if kind in ("string", "crs"):
        edit = QLineEdit(parent)
        edit.setText("" if definition.defaultValue() is None else str(definition.defaultValue()))
        return edit
    if kind == "file":
        picker = QgsFileWidget(parent)
        if definition.behavior() == definition.Behavior.Folder:
            picker.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        elif definition.extension():
            picker.setFilter(f"*.{definition.extension()}")
        return picker
    if kind in DESTINATION_TYPES:
        picker = QgsFileWidget(parent)
        picker.setStorageMode(QgsFileWidget.StorageMode.GetDirectory if kind == "folderDestination"
                              else QgsFileWidget.StorageMode.SaveFile)
        if kind != "folderDestination":
            picker.setFilter(definition.createFileFilter())
        if not definition.createByDefault():
            placeholder = _tr("[skipped] — type or pick a path to create it")
        elif is_model_output(definition):
            placeholder = _tr("[automatic] a new model in your models folder — or type or pick a path")
        else:
            placeholder = _tr("[automatic] a new file in the results folder — or type or pick a path")
        picker.lineEdit().setPlaceholderText(placeholder)
        return picker
    return None

def extent_widget(parent: QWidget) -> QgsExtentWidget:
    """An extent picker (canvas extent, a layer's extent, drawn) that may stay empty."""
    widget = QgsExtentWidget(parent)
    widget.setNullValueAllowed(True, _tr("Whole raster"))
    widget.setOutputCrs(QgsProject.instance().crs())
    canvas = getattr(qgis.utils, "iface", None) and qgis.utils.iface.mapCanvas()
    if canvas is not None:
        widget.setMapCanvas(canvas)
    widget.clear()
    return widget

def layer_combo(layer_filter, definition, parent: QWidget) -> QgsMapLayerComboBox:
    """A picker of the project's raster or vector layers, with an empty entry when optional."""
    combo = QgsMapLayerComboBox(parent)
    combo.setFilters(layer_filter)
    combo.setAllowEmptyLayer(bool(definition.flags() & QgsProcessingParameterDefinition.Flag.FlagOptional))
    return combo

def layer_checklist(definition, parent: QWidget) -> LayerChecklist:
    """A checklist of the project's raster or vector layers."""
    vector = definition.layerType() in (QgsProcessing.SourceType.TypeVectorAnyGeometry,
                                        QgsProcessing.SourceType.TypeVectorPolygon)
    return LayerChecklist(vector, parent)

def number_box(definition, parent: QWidget):
    """A spin box with the parameter's range and default (the tile size remembered)."""
    integer = definition.dataType() == definition.Type.Integer
    box = QSpinBox(parent) if integer else QDoubleSpinBox(parent)
    cast = int if integer else float
    box.setRange(cast(max(definition.minimum(), -2**31 + 1)), cast(min(definition.maximum(), 2**31 - 1)))
    if definition.defaultValue() is not None:
        box.setValue(cast(definition.defaultValue()))
    box.setSuffix(UNIT_SUFFIXES.get(definition.name(), ""))
    if definition.name() == TILE_PARAMETER:
        box.setValue(settings.tile_size())
        box.valueChanged.connect(settings.set_tile_size)
    return box
