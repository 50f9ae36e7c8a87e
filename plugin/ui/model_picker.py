"""Model picker: bundled and user model packages of one task, with the chosen model's card."""
from __future__ import annotations

import html
from dataclasses import dataclass

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from .. import settings
from ...models.catalogue import DARK_CHANNEL_PRIOR
from ..translation import tr as _tr

DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class ClassicalMethod:
    """A MODEL value that names a method without a model package."""

    value: str
    label: str
    description: str


#: task -> the classical methods its MODEL parameter accepts besides packages
CLASSICAL_METHODS = {
    "dehazing": (ClassicalMethod(
        DARK_CHANNEL_PRIOR, f"{DARK_CHANNEL_PRIOR} (classical, no model)",
        "He et al.'s dark channel prior: no model, any band count, slower than the lite model."),),
}


def list_models(task: str | None):
    """(packages, skipped files) of `task` in the bundled and user folders; ([], {}) without torch."""
    try:
        from ...models.registry import scan_packages
    except ImportError:
        return None
    listing = scan_packages(settings.user_model_folder(), task)
    return listing.packages, listing.skipped


def _format_metric(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def card_html(card, source: str = "") -> str:
    """A model card as rich text: task, bands, resolution, classes with swatches, metrics, licence."""
    rows = [(_tr("Task"), html.escape(card.task)),
            (_tr("Architecture"), html.escape(card.architecture))]
    if source:
        rows.append((_tr("Source"), html.escape(source)))
    for name, bands in (card.input_bands or {}).items():
        count = len(bands) if isinstance(bands, list) else bands
        rows.append((_tr("Input '{name}'").format(name=html.escape(name)),
                     _tr("{count} band(s)").format(count=count)))
    if card.gsd:
        rows.append((_tr("Resolution"), f"{card.gsd:g} m"))
    if card.ratio:
        rows.append((_tr("Ratio"), f"×{card.ratio}"))
    if card.classes:
        swatches = " ".join(
            f'<span style="background-color:{c["color"]}">&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp;'
            f'{html.escape(c["name"])}' for c in card.classes)
        rows.append((_tr("Classes"), swatches))
    if card.metrics:
        rows.append((_tr("Metrics"), ", ".join(
            f"{html.escape(k)} {_format_metric(v)}" for k, v in sorted(card.metrics.items()))))
    if card.teacher:
        rows.append((_tr("Distilled from"), html.escape(card.teacher)))
    rows.append((_tr("Licence"), html.escape(card.licence or _tr("not stated"))))
    body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    description = f"<p>{html.escape(card.description)}</p>" if card.description else ""
    return f"<b>{html.escape(card.name)}</b>{description}<table>{body}</table>"


class ModelPicker(QWidget):
    """A combo box of "default" plus the packages of a task, and the chosen package's card."""

    #: emitted with the new value (DEFAULT_MODEL or a package path)
    model_changed = pyqtSignal(str)

    def __init__(self, task: str | None, tool: str, parent=None):
        super().__init__(parent)
        self.task = task
        self.tool = tool
        self.entries = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(self)
        self.card = QLabel(self)
        self.card.setWordWrap(True)
        self.card.setObjectName("modelCard")
        layout.addWidget(self.combo)
        layout.addWidget(self.card)
        self.refresh()
        self.combo.currentIndexChanged.connect(self._changed)

    def refresh(self) -> None:
        """Re-read the model folders, keeping the remembered choice when it still exists."""
        listing = list_models(self.task)
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(_tr("default (the bundled model that fits the input)"), DEFAULT_MODEL)
        self.entries = [None]
        for method in CLASSICAL_METHODS.get(self.task, ()):
            self.combo.addItem(_tr(method.label), method.value)
            self.entries.append(method)
        if listing is None:
            self.combo.setToolTip(_tr("Install the dependencies to list the models."))
        else:
            packages, skipped = listing
            for entry in packages:
                label = entry.name if entry.source == "bundled" else f"{entry.name} ({_tr('user')})"
                self.combo.addItem(label, str(entry.path))
                self.entries.append(entry)
            if skipped:
                self.combo.setToolTip(_tr("Skipped invalid files: ") + "; ".join(skipped.values()))
        remembered = settings.last_model(self.tool)
        index = self.combo.findData(remembered) if remembered else 0
        self.combo.setCurrentIndex(max(index, 0))
        self.combo.blockSignals(False)
        self._show_card()

    def value(self) -> str:
        """The MODEL parameter value: "default" or the package's path."""
        return self.combo.currentData() or DEFAULT_MODEL

    def set_value(self, value: str) -> bool:
        """Choose a model by path, file stem, classical method or "default"; False when it is
        not listed."""
        for index, entry in enumerate(self.entries):
            if value in (self.combo.itemData(index), getattr(entry, "name", DEFAULT_MODEL)):
                self.combo.setCurrentIndex(index)
                return True
        return False

    def current_card(self):
        """The chosen package's ModelCard, or None for "default" and classical methods."""
        entry = self.entries[self.combo.currentIndex()] if self.combo.currentIndex() >= 0 else None
        return getattr(entry, "card", None)

    def _show_card(self) -> None:
        entry = self.entries[self.combo.currentIndex()] if self.combo.currentIndex() >= 0 else None
        if entry is None:
            self.card.setText(_tr("The bundled model that fits the input is chosen when the run "
                                  "starts."))
        elif isinstance(entry, ClassicalMethod):
            self.card.setText(_tr(entry.description))
        else:
            self.card.setText(card_html(entry.card, f"{entry.source}: {entry.path}"))

    def _changed(self) -> None:
        settings.set_last_model(self.tool, self.value())
        self._show_card()
        self.model_changed.emit(self.value())
