"""The dependency installer dialog: explains what is missing, installs it with pip, verifies it.

pip runs in a `QProcess` (QGIS stays responsive) and its output is streamed into the dialog;
the import check (with a tiny CUDA operation when a CUDA build was chosen) runs the same way.
On failure the log stays on screen with the command to run by hand.
"""
from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, QProcess, QProcessEnvironment, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase, QTextCursor
from qgis.PyQt.QtWidgets import (
    QApplication,
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from .. import deps, installer


def _tr(text: str) -> str:
    return QCoreApplication.translate("GeoDistill", text)


def requirements_to_install(statuses: list[deps.DependencyStatus]) -> list[str]:
    """pip requirements of the dependencies that are missing or too old."""
    return [s.dependency.requirement for s in statuses if not s.ok]


class InstallerDialog(QDialog):
    """Offers the CPU or the matching CUDA build of torch and installs what is missing."""

    #: emitted once at the end: True when the packages were installed and import
    install_finished = pyqtSignal(bool)

    def __init__(self, target: str | Path, statuses: list[deps.DependencyStatus] | None = None,
                 gpus: list[installer.GpuInfo] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(_tr("GeoDistill: install dependencies"))
        self.setObjectName("GeoDistillInstallerDialog")
        self.resize(720, 520)
        self.target = Path(target)
        self.statuses = deps.dependency_statuses() if statuses is None else statuses
        self.gpus = installer.detect_nvidia_gpus() if gpus is None else gpus
        self.requirements = requirements_to_install(self.statuses)
        self.current_plan: installer.InstallPlan | None = None
        self.succeeded: bool | None = None
        self.process: QProcess | None = None
        self._stage = ""
        self._output = ""

        layout = QVBoxLayout(self)
        self.explanation = QLabel(self._explanation(), self)
        self.explanation.setWordWrap(True)
        layout.addWidget(self.explanation)

        self.cuda_build = installer.choose_torch_build(self.gpus)
        self.cpu_radio = QRadioButton(_tr("CPU build of PyTorch (works everywhere, smaller)"), self)
        if self.gpus:
            gpu = self.gpus[0]
            cuda_text = _tr("CUDA build of PyTorch ({build}) for {name}, driver {driver}").format(
                build=self.cuda_build, name=gpu.name, driver=gpu.driver_version)
        else:
            cuda_text = _tr("CUDA build of PyTorch (no NVIDIA GPU found by nvidia-smi)")
        self.cuda_radio = QRadioButton(cuda_text, self)
        self.cuda_radio.setEnabled(self.cuda_build != "cpu")
        group = QButtonGroup(self)
        group.addButton(self.cpu_radio)
        group.addButton(self.cuda_radio)
        (self.cuda_radio if self.cuda_build != "cpu" else self.cpu_radio).setChecked(True)
        layout.addWidget(self.cpu_radio)
        layout.addWidget(self.cuda_radio)
        layout.addWidget(QLabel(_tr("Packages go to {folder} (QGIS's own numpy, GDAL and PyQt "
                                    "are kept).").format(folder=self.target), self))

        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.log, 1)

        manual_row = QHBoxLayout()
        self.manual_label = QLabel(_tr("Manual command:"), self)
        self.manual_command = QLineEdit(self)
        self.manual_command.setReadOnly(True)
        self.copy_button = QPushButton(_tr("Copy"), self)
        self.copy_button.clicked.connect(
            lambda: QApplication.clipboard().setText(self.manual_command.text()))
        for widget in (self.manual_label, self.manual_command, self.copy_button):
            manual_row.addWidget(widget)
            widget.setVisible(False)
        layout.addLayout(manual_row)

        buttons = QDialogButtonBox(self)
        self.install_button = buttons.addButton(_tr("Install"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.install_button.clicked.connect(lambda: self.start())
        self.close_button.clicked.connect(self.reject)
        self.install_button.setEnabled(bool(self.requirements))
        layout.addWidget(buttons)

    def _explanation(self) -> str:
        lines = [_tr("GeoDistill runs deep models with PyTorch and reads rasters with rasterio. "
                     "The Python used by QGIS has:")]
        lines += [f"• {status.describe()} — {status.dependency.purpose}" for status in self.statuses]
        if self.requirements:
            lines.append(_tr("Install the missing packages now? This downloads them with pip "
                             "(PyTorch is large: about 200 MB for the CPU build, 2-3 GB for CUDA)."))
        else:
            lines.append(_tr("Everything GeoDistill needs is installed."))
        return "\n".join(lines)

    # -- the plan ---------------------------------------------------------------------
    def chosen_build(self) -> str:
        """"cpu" or the CUDA build offered for the detected GPU, as the radio buttons say."""
        return self.cuda_build if self.cuda_radio.isChecked() else "cpu"

    def plan(self, requirements: list[str] | None = None,
             extra_args: list[str] | None = None) -> installer.InstallPlan:
        """The pip run for the current choice (requirements default to what is missing)."""
        return installer.InstallPlan(
            requirements=list(self.requirements if requirements is None else requirements),
            target=self.target, build=self.chosen_build(), extra_args=list(extra_args or []))

    # -- running ----------------------------------------------------------------------
    def start(self, plan: installer.InstallPlan | None = None) -> None:
        """Run pip for `plan` (default: `self.plan()`), then the import check."""
        self.current_plan = plan or self.plan()
        self.current_plan.write_constraints()
        self.succeeded = None
        self.install_button.setEnabled(False)
        self.cpu_radio.setEnabled(False)
        self.cuda_radio.setEnabled(False)
        self.log.clear()
        self.manual_command.setText(self.current_plan.manual_command())
        self._set_manual_visible(False)
        self.status_label.setText(_tr("Installing with pip… (this can take several minutes)"))
        self._append(" ".join(self.current_plan.pip_command()) + "\n")
        self._run("pip", self.current_plan.pip_arguments())

    def _run(self, stage: str, arguments: list[str]) -> None:
        self._stage = stage
        self._output = ""
        self.process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        for key, value in installer.pip_environment().items():
            environment.insert(key, value)
        self.process.setProcessEnvironment(environment)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read_output)
        self.process.finished.connect(self._process_finished)
        self.process.errorOccurred.connect(self._process_error)
        self.process.start(self.current_plan.python, arguments)

    def _read_output(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        self._output += text
        self._append(text)

    def _append(self, text: str) -> None:
        self.log.moveCursor(QTextCursor.MoveOperation.End)
        self.log.insertPlainText(text)
        self.log.ensureCursorVisible()

    def _process_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._fail(_tr("Could not start {python}: {error}").format(
                python=self.current_plan.python, error=self.process.errorString()))

    def _process_finished(self, exit_code: int, exit_status) -> None:
        self._read_output()
        crashed = exit_status != QProcess.ExitStatus.NormalExit
        if self._stage == "pip":
            if exit_code != 0 or crashed:
                self._fail(_tr("pip failed (exit code {code}); see the log below.").format(code=exit_code))
                return
            self.status_label.setText(_tr("Checking that the packages import…"))
            self._append("\n" + _tr("Checking the installation…") + "\n")
            self._run("verify", self.current_plan.verify_arguments())
            return
        report = installer.parse_verify_output(self._output)
        if exit_code != 0 or crashed or report is None:
            self._fail(_tr("The packages were installed but do not import; see the log below."))
            return
        deps.use_packages_folder(self.target)
        versions = ", ".join(f"{name} {version}" for name, version in report["versions"].items())
        device = (_tr("CUDA works on {gpu}").format(gpu=report["cuda"]) if report["cuda"]
                  else _tr("CPU build"))
        self.status_label.setText(_tr("Installed and checked: {versions} ({device}). GeoDistill "
                                      "is ready; restart QGIS if a tool still reports a missing "
                                      "package.").format(versions=versions, device=device))
        self._finish(True)

    def _fail(self, message: str) -> None:
        self.status_label.setText(message + " " + _tr(
            "You can run the command below in a shell that uses QGIS's Python."))
        self._set_manual_visible(True)
        self._finish(False)

    def _finish(self, succeeded: bool) -> None:
        if self.succeeded is not None:
            return
        self.succeeded = succeeded
        self.install_button.setEnabled(not succeeded)
        self.cpu_radio.setEnabled(True)
        self.cuda_radio.setEnabled(self.cuda_build != "cpu")
        self.install_finished.emit(succeeded)

    def _set_manual_visible(self, visible: bool) -> None:
        for widget in (self.manual_label, self.manual_command, self.copy_button):
            widget.setVisible(visible)

    def reject(self) -> None:
        """Closing stops a running pip."""
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(3000)
        super().reject()
