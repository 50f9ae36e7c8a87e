"""Input widgets of the dock's forms that QGIS does not offer as such: a checklist of layers
that follows the project, and a field for band numbers typed in the model's order; and the
sizing that lets a form lay out in a narrow dock."""
from __future__ import annotations

from qgis.core import QgsProject, QgsRasterLayer
from qgis.gui import QgsCheckableComboBox
from qgis.PyQt.QtCore import QRegularExpression, Qt
from qgis.PyQt.QtGui import QRegularExpressionValidator
from qgis.PyQt.QtWidgets import QComboBox, QLabel, QLineEdit, QWidget

from ..algorithms.base import BAND_LIST_PATTERN, parse_band_list
from ..translation import tr as _tr


#: characters a combo box keeps visible when the dock is narrow (longer items are elided)
NARROW_COMBO_CHARACTERS = 8


def let_combos_shrink(widget: QWidget) -> None:
    """Let `widget`, when a combo box, and every combo box in it be narrower than its longest
    item (layer names, model names), so a form fits a 360 px dock; the full text stays in the
    drop-down list."""
    combos = widget.findChildren(QComboBox) + ([widget] if isinstance(widget, QComboBox) else [])
    for combo in combos:
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(NARROW_COMBO_CHARACTERS)


def wrapped_label(text: str, field: QWidget, parent: QWidget) -> QLabel:
    """The label of `field`: wraps instead of widening the form, and focuses the field on its
    mnemonic."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setBuddy(field)
    return label


#: what `layer_score` gives a layer whose name has the parameter's word ("pan" for PAN_LAYERS)
NAME_SCORE = 4


def layer_score(parameter_name: str, layer) -> int:
    """How well a layer suits a layer parameter: its name mentions the parameter, band count."""
    words = layer.name().lower().replace("-", "_").replace(" ", "_").replace(".", "_").split("_")
    wanted = parameter_name.lower().replace("_layers", "").replace("_layer", "")
    score = NAME_SCORE if wanted in words else 0
    if isinstance(layer, QgsRasterLayer):
        panchromatic = "pan" in wanted
        score += 2 if (layer.bandCount() == 1) == panchromatic else 0
    return score


class LayerChecklist(QgsCheckableComboBox):
    """Checkable list of the project's raster (or vector) layers that follows the project:
    layers added, removed or renamed later appear, go or change name, and checked layers stay
    checked."""

    def __init__(self, vector: bool, parent=None):
        super().__init__(parent)
        self.vector = vector
        self._watched: set[str] = set()  # ids of the layers whose renaming refreshes the list
        project = QgsProject.instance()
        project.layersAdded.connect(self.refresh)
        project.layersRemoved.connect(self.refresh)
        self.refresh()

    def checked_layer_ids(self) -> list[str]:
        """The ids of the checked layers, in the list's order."""
        return [self.itemData(i) for i in range(self.count())
                if self.itemCheckState(i) == Qt.CheckState.Checked]

    def refresh(self, *_args) -> None:
        """Refill from the project's layers, keeping the check marks."""
        checked = set(self.checked_layer_ids())
        self.clear()
        for layer in QgsProject.instance().mapLayers().values():
            if isinstance(layer, QgsRasterLayer) != self.vector:
                state = Qt.CheckState.Checked if layer.id() in checked else Qt.CheckState.Unchecked
                self.addItemWithCheckState(layer.name(), state, layer.id())
                if layer.id() not in self._watched:
                    self._watched.add(layer.id())
                    layer.nameChanged.connect(self.refresh)


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
