"""The dock's tool pages: declared in one table, each offering one or more algorithms' forms.

Each page lists Processing algorithm ids (or `fnmatch` patterns); those not registered are
skipped, and a page with none is left out. A page shows a chooser when it has several
algorithms, the chosen algorithm's form (`algorithm_form.AlgorithmForm`) and its help.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox, QLabel, QStackedWidget, QVBoxLayout, QWidget

from .algorithm_form import AlgorithmForm
from .form_widgets import let_combos_shrink
from ..translation import tr as _tr


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
        let_combos_shrink(self.chooser)
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
