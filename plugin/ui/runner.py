"""Runs a GeoDistill Processing algorithm in the background, as batch mode and the toolbox do.

`AlgorithmRunner.start` wraps the algorithm in a `QgsProcessingAlgRunnerTask` added to QGIS's
task manager (so the run shows there too, with its progress and a cancel button). When the task
ends, in the main thread, the outputs Processing marked for loading are added to the project in
a "GeoDistill" group and styled by the algorithm's post-processor (or a default display style).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QObject, pyqtSignal

from ..styling import apply_display_style
from ..translation import tr as _tr

GROUP_NAME = "GeoDistill"


class BackgroundRun(QgsProcessingAlgRunnerTask):
    """The Processing task, except that a run the user cancelled ends as a finished task:
    QGIS announces every terminated task as "Task failed", and a cancel is no failure (the
    dock says "cancelled" itself)."""

    def __init__(self, algorithm, parameters: dict, context, feedback):
        super().__init__(algorithm, parameters, context, feedback)
        self.run_feedback = feedback

    def run(self) -> bool:  # worker thread
        return super().run() or self.run_feedback.isCanceled()


class CollectingFeedback(QgsProcessingFeedback):
    """Feedback that keeps the errors reported by the algorithm, for the message bar."""

    def __init__(self):
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error, fatalError=False):  # noqa: N802,N803 (QGIS API)
        self.errors.append(error)
        super().reportError(error, fatalError)


@dataclass
class RunOutcome:
    """How a background run ended."""

    algorithm_id: str
    successful: bool
    cancelled: bool
    seconds: float
    device: str
    results: dict = field(default_factory=dict)
    layers: list = field(default_factory=list)  # layers added to the project
    error: str = ""
    log: str = ""


class AlgorithmRunner(QObject):
    """Starts one background run at a time and reports its progress and outcome."""

    progress = pyqtSignal(float)
    finished = pyqtSignal(object)  # RunOutcome

    def __init__(self, project: QgsProject | None = None, parent=None):
        super().__init__(parent)
        self.project = project or QgsProject.instance()
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.context: QgsProcessingContext | None = None
        self.feedback: CollectingFeedback | None = None
        self.max_progress = 0.0
        self._algorithm_id = ""
        self._device = ""
        self._started = 0.0

    def is_running(self) -> bool:
        """Whether a run is in progress."""
        return self.task is not None

    def start(self, algorithm_id: str, parameters: dict, device_label: str = "") -> str | None:
        """Start a run; returns None, or a message when the parameters are refused up front."""
        if self.is_running():
            return _tr("A GeoDistill run is already in progress.")
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
        if algorithm is None:
            return _tr("The algorithm {id} is not available.").format(id=algorithm_id)
        context = QgsProcessingContext()
        context.setProject(self.project)
        feedback = CollectingFeedback()
        valid, message = algorithm.checkParameterValues(parameters, context)
        if not valid:
            return message
        self.context, self.feedback = context, feedback
        self._algorithm_id, self._device = algorithm_id, device_label
        self.max_progress = 0.0
        self._started = time.monotonic()
        task = BackgroundRun(algorithm, parameters, context, feedback)
        task.progressChanged.connect(self._progress)
        task.executed.connect(self._executed)
        self.task = task
        QgsApplication.taskManager().addTask(task)
        return None

    def cancel(self) -> None:
        """Ask the running algorithm to stop (it stops at its next cancel check)."""
        if self.task is not None:
            self.task.cancel()

    def _progress(self, value: float) -> None:
        self.max_progress = max(self.max_progress, value)
        self.progress.emit(value)

    def _executed(self, successful: bool, results: dict) -> None:
        seconds = time.monotonic() - self._started
        context, feedback = self.context, self.feedback
        self.task = None
        outcome = RunOutcome(self._algorithm_id, successful, feedback.isCanceled(), seconds,
                             self._device, dict(results or {}), log=feedback.textLog())
        if successful and not feedback.isCanceled():
            outcome.layers = self._load_layers(context, feedback)
        else:
            outcome.successful = False
            outcome.error = "\n".join(feedback.errors) or (
                _tr("Cancelled.") if feedback.isCanceled() else _tr("The run failed."))
        self.finished.emit(outcome)

    def _load_layers(self, context: QgsProcessingContext, feedback) -> list:
        """Add the outputs to the project's GeoDistill group and style them (main thread)."""
        loaded = []
        for source, details in context.layersToLoadOnCompletion().items():
            layer = QgsProcessingUtils.mapLayerFromString(source, context, typeHint=details.layerTypeHint)
            if layer is None:
                feedback.reportError(_tr("The output {path} could not be loaded.").format(path=source))
                continue
            details.setOutputLayerName(layer)
            layer = context.temporaryLayerStore().takeMapLayer(layer) or layer
            self.project.addMapLayer(layer, False)
            self._group().insertLayer(0, layer)
            if details.postProcessor() is not None:
                details.postProcessor().postProcessLayer(layer, context, feedback)
            elif isinstance(layer, QgsRasterLayer):
                apply_display_style(layer)
            loaded.append(layer)
        return loaded

    def _group(self):
        root = self.project.layerTreeRoot()
        return root.findGroup(GROUP_NAME) or root.insertGroup(0, GROUP_NAME)
