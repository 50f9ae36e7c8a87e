"""The GeoDistill dock: a page per tool, the device line, and Run / Cancel with progress.

Run builds the algorithm's parameters from the page and starts the same Processing algorithm
in the background (`runner.AlgorithmRunner`, a `QgsProcessingAlgRunnerTask`: the code path of
batch mode and the toolbox). The "More" page lists every GeoDistill algorithm and opens its
Processing dialog (batch mode, evaluation and utilities live there).
"""
from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject
from qgis.gui import QgsDockWidget, QgsFileWidget, QgsMessageBar
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import settings
from .device_line import DeviceLine, short_summary
from .runner import AlgorithmRunner, RunOutcome
from .tool_pages import ToolPage, build_pages
from ..translation import tr as _tr

ID_ROLE = Qt.ItemDataRole.UserRole
#: seconds a success, cancel or refusal message stays in the message bar (errors stay)
MESSAGE_SECONDS = 10


class GeoDistillDock(QgsDockWidget):
    """Tool pages over one device line and one Run / Cancel row."""

    #: asks the plugin to open an algorithm's Processing dialog
    open_algorithm = pyqtSignal(str)
    #: emitted when a run ends (RunOutcome)
    run_finished = pyqtSignal(object)

    def __init__(self, parent=None, message_bar=None, project: QgsProject | None = None,
                 device_line: DeviceLine | None = None):
        super().__init__(_tr("GeoDistill"), parent)
        self.setObjectName("GeoDistillDock")
        self.project = project or QgsProject.instance()
        self.last_outcome: RunOutcome | None = None
        body = QWidget(self)
        layout = QVBoxLayout(body)
        self.own_message_bar = QgsMessageBar(body)
        self.message_bar = message_bar or self.own_message_bar
        self.own_message_bar.setVisible(message_bar is None)
        layout.addWidget(self.own_message_bar)

        self.tabs = QTabWidget(body)
        self.tabs.setUsesScrollButtons(True)  # six tabs fit a 360 px dock with scroll arrows
        self.pages: list[ToolPage] = build_pages()
        for page in self.pages:
            scroll = QScrollArea(self.tabs)
            scroll.setWidgetResizable(True)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, _tr(page.spec.title))
        self.tabs.addTab(self._more_page(), _tr("More"))
        layout.addWidget(self.tabs, 1)

        self.device_line = device_line or DeviceLine(body)
        layout.addWidget(self.device_line)
        layout.addLayout(self._results_folder_row(body))
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        buttons = QHBoxLayout()
        self.run_button = QPushButton(_tr("Run"), body)
        self.cancel_button = QPushButton(_tr("Cancel"), body)
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.setWidget(body)

        self.runner = AlgorithmRunner(self.project, self)
        self.runner.progress.connect(lambda value: self.progress.setValue(int(round(value))))
        self.runner.finished.connect(self._run_finished)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed()
        self._show_device_note()

    def _show_device_note(self) -> None:
        """Say once, when the dock opens, why the device line shows what it shows (the line
        keeps the short form, "CPU", with the whole note as its tooltip)."""
        summary = self.device_line.info.summary
        if short_summary(summary) != summary:
            self.message_bar.pushMessage(_tr("GeoDistill"), summary, Qgis.MessageLevel.Info, MESSAGE_SECONDS)

    def _results_folder_row(self, body: QWidget) -> QHBoxLayout:
        """"Results folder": where outputs left without a path are saved (remembered)."""
        row = QHBoxLayout()
        row.addWidget(QLabel(_tr("Results folder"), body))
        self.results_folder = QgsFileWidget(body)
        self.results_folder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.results_folder.setFilePath(settings.chosen_output_folder())
        self.results_folder.setToolTip(_tr("Outputs whose “Save to” field is empty are saved here "
                                           "under new names; trained models go to your models "
                                           "folder."))
        self.results_folder.fileChanged.connect(lambda path: settings.set_output_folder(path.strip()))
        self._show_default_results_folder()
        self.project.homePathChanged.connect(self._show_default_results_folder)
        row.addWidget(self.results_folder, 1)
        return row

    def _show_default_results_folder(self) -> None:
        default = settings.default_output_folder(self.project.homePath())
        self.results_folder.lineEdit().setPlaceholderText(_tr("default: {folder}").format(folder=default))

    def _more_page(self) -> QWidget:
        page = QWidget(self.tabs)
        layout = QVBoxLayout(page)
        intro = QLabel(_tr("Every GeoDistill algorithm; the Processing dialog also "
                           "offers “Run as batch process”."), page)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.tools = QListWidget(page)
        provider = QgsApplication.processingRegistry().providerById("geodistill")
        algorithms = provider.algorithms() if provider is not None else []
        for algorithm in sorted(algorithms, key=lambda a: (a.group(), a.displayName())):
            item = QListWidgetItem(algorithm.icon(), f"{algorithm.group()}: {algorithm.displayName()}")
            item.setData(ID_ROLE, algorithm.id())
            item.setToolTip(algorithm.shortHelpString())
            self.tools.addItem(item)
        if self.tools.count():
            self.tools.setCurrentRow(0)
        open_button = QPushButton(_tr("Open Processing dialog…"), page)
        layout.addWidget(self.tools)
        layout.addWidget(open_button)
        self.tools.itemDoubleClicked.connect(self._emit_open)
        open_button.clicked.connect(lambda: self._emit_open(self.tools.currentItem()))
        return page

    def _emit_open(self, item) -> None:
        if item is not None:
            self.open_algorithm.emit(item.data(ID_ROLE))

    # -- pages ------------------------------------------------------------------------
    def page(self, key: str) -> ToolPage | None:
        """The page of a tool by its key ("pansharpen", "segment", ...), if it is shown."""
        return next((page for page in self.pages if page.spec.key == key), None)

    def show_page(self, key: str) -> ToolPage:
        """Bring a tool's page to the front."""
        page = self.page(key)
        self.tabs.setCurrentIndex(self.pages.index(page))
        return page

    def current_page(self) -> ToolPage | None:
        """The page in front (None on the "More" page)."""
        index = self.tabs.currentIndex()
        return self.pages[index] if 0 <= index < len(self.pages) else None

    def _tab_changed(self, *_args) -> None:
        self.run_button.setEnabled(self.current_page() is not None and not self.runner.is_running())

    # -- running ----------------------------------------------------------------------
    def run(self) -> bool:
        """Start the front page's algorithm in the background; False when it could not start."""
        page = self.current_page()
        if page is None or self.runner.is_running():
            return False
        form = page.current_form()
        problems = form.input_problems()
        if problems:
            self.message_bar.pushMessage(_tr("GeoDistill"), " ".join(problems), Qgis.MessageLevel.Warning,
                                         MESSAGE_SECONDS)
            return False
        device = self.device_line.device()
        parameters = form.parameters(device, self.project)
        label = self.device_line.info.summary if device != "cpu" else "CPU"
        refused = self.runner.start(form.algorithm.id(), parameters, label)
        if refused:
            self.message_bar.pushMessage(_tr("GeoDistill"), refused, Qgis.MessageLevel.Warning, MESSAGE_SECONDS)
            return False
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return True

    def _run_finished(self, outcome: RunOutcome) -> None:
        self.last_outcome = outcome
        self.cancel_button.setEnabled(False)
        self._tab_changed()
        name = QgsApplication.processingRegistry().algorithmById(outcome.algorithm_id).displayName()
        if outcome.successful:
            saved = [str(value) for value in outcome.results.values()
                     if isinstance(value, str) and Path(value).is_file()]
            self.message_bar.pushMessage(
                name, _tr("Saved to {paths} in {seconds:.1f} s on {device}.").format(
                    paths=", ".join(saved) or _tr("(no file)"), seconds=outcome.seconds,
                    device=outcome.device), Qgis.MessageLevel.Success, MESSAGE_SECONDS)
        elif outcome.cancelled:
            self.progress.setValue(0)
            self.message_bar.pushMessage(name, _tr("Cancelled; nothing was added."),
                                         Qgis.MessageLevel.Info, MESSAGE_SECONDS)
        else:
            self.message_bar.pushMessage(name, outcome.error, outcome.log or outcome.error,
                                         Qgis.MessageLevel.Critical, 0)
        self.run_finished.emit(outcome)
