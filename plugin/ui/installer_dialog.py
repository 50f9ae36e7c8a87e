"""The dependency installer dialog: explains what is missing, installs the chosen packs with
pip, verifies them.

Packs: "Run models" (onnxruntime, or onnxruntime-gpu with an NVIDIA GPU) and "Train models"
(PyTorch, CPU or CUDA build). pip runs in a `QProcess` (QGIS stays responsive) and its output
is streamed into the dialog; the import check (with a tiny model on ONNX Runtime's CUDA
provider, and a CUDA operation for a torch CUDA build) runs the same way. When onnxruntime-gpu
fails its check, the CPU onnxruntime is installed in its place. The command is shown, quoted
for the platform's shell, to copy; on failure the log stays on screen. "Don't offer again"
stops the dialog from opening by itself when QGIS starts.
"""
from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QProcess, QProcessEnvironment, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase, QTextCursor
from qgis.PyQt.QtWidgets import (
    QApplication,
    QButtonGroup,
    QCheckBox,
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

from .. import deps, installer, settings
from ..translation import tr as _tr
from .dialog_frame import frame_dialog


def requirements_to_install(statuses: list[deps.DependencyStatus], packs: list[str],
                            gpus: list[installer.GpuInfo]) -> list[str]:
    """Pinned pip requirements of `packs` whose packages are missing or too old."""
    wanted = installer.pack_requirements(packs, gpus)
    missing = {s.dependency.module for s in statuses if not s.ok}
    return [r for r in wanted
            if installer.cpu_fallback([r])[0] in {s.dependency.requirement for s in statuses
                                                  if s.dependency.module in missing}]


class InstallerDialog(QDialog):
    """Offers the "Run models" and "Train models" packs (the CPU or the matching CUDA build of
    torch) and installs what they lack."""

    #: emitted once at the end: True when the packages were installed and import
    install_finished = pyqtSignal(bool)

    def __init__(self, target: str | Path, statuses: list[deps.DependencyStatus] | None = None,
                 gpus: list[installer.GpuInfo] | None = None, parent=None):
        super().__init__(parent)
        frame_dialog(self, _tr("install dependencies"), "GeoDistillInstallerDialog", 720, 520)
        self.target = Path(target)
        self.statuses = deps.dependency_statuses() if statuses is None else statuses
        self.gpus = installer.detect_nvidia_gpus() if gpus is None else gpus
        self.current_plan: installer.InstallPlan | None = None
        self.succeeded: bool | None = None
        self.fallback_reason: str | None = None
        """Why onnxruntime-gpu was replaced by the CPU onnxruntime (None: it was not)."""
        self.process: QProcess | None = None
        self._stage = ""
        self._output = ""

        layout = QVBoxLayout(self)
        self.explanation = QLabel(self._explanation(), self)
        self.explanation.setWordWrap(True)
        layout.addWidget(self.explanation)

        missing_packs = {s.dependency.pack for s in self.statuses if not s.ok}
        runtime = (_tr("onnxruntime-gpu for {name}").format(name=self.gpus[0].name) if self.gpus
                   else _tr("onnxruntime"))
        self.run_pack = QCheckBox(_tr("Run models: {runtime} (about 28 MB; runs every tool)").format(
            runtime=runtime), self)
        self.train_pack = QCheckBox(_tr("Train models: PyTorch (training, evaluation, scene "
                                        "adaptation)"), self)
        self.run_pack.setChecked(deps.RUN_PACK in missing_packs or not missing_packs)
        self.train_pack.setChecked(deps.TRAIN_PACK in missing_packs and deps.RUN_PACK not in missing_packs)
        layout.addWidget(self.run_pack)
        layout.addWidget(self.train_pack)

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
        self.dont_ask = QCheckBox(_tr("Don't offer to install when QGIS starts (the menu "
                                      "GeoDistill > Install dependencies stays)"), self)
        self.dont_ask.setChecked(not settings.ask_to_install())
        self.dont_ask.toggled.connect(lambda checked: settings.set_ask_to_install(not checked))
        for check in (self.run_pack, self.train_pack):
            check.toggled.connect(self._choice_changed)
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
        layout.addLayout(manual_row)

        buttons = QDialogButtonBox(self)
        self.install_button = buttons.addButton(_tr("Install"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.install_button.clicked.connect(lambda: self.start())
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(self.dont_ask)
        layout.addWidget(buttons)
        self._choice_changed()

    def _explanation(self) -> str:
        lines = [_tr("GeoDistill runs its models on ONNX Runtime and trains them with PyTorch. "
                     "The Python used by QGIS has:")]
        lines += [f"• {status.describe()} — {status.dependency.purpose}" for status in self.statuses]
        if any(not status.ok for status in self.statuses):
            lines.append(_tr("Install the missing packs now? pip downloads them (PyTorch is "
                             "large: about 200 MB for the CPU build, 2-3 GB for CUDA)."))
        else:
            lines.append(_tr("Everything GeoDistill needs is installed."))
        return "\n".join(lines)

    def _choice_changed(self) -> None:
        """Torch builds only with the Train pack; Install only when a chosen pack lacks something."""
        training = self.train_pack.isChecked()
        self.cpu_radio.setEnabled(training)
        self.cuda_radio.setEnabled(training and self.cuda_build != "cpu")
        self.requirements = requirements_to_install(self.statuses, self.chosen_packs(), self.gpus)
        self.install_button.setEnabled(bool(self.requirements))
        self.manual_command.setText(self.plan().manual_command() if self.requirements else "")

    def chosen_packs(self) -> list[str]:
        """The packs ticked."""
        return [pack for pack, check in ((deps.RUN_PACK, self.run_pack), (deps.TRAIN_PACK, self.train_pack))
                if check.isChecked()]

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
    def start(self, plan: installer.InstallPlan | None = None, clear: bool = True) -> None:
        """Run pip for `plan` (default: `self.plan()`), then the import check."""
        self.current_plan = plan or self.plan()
        self.current_plan.write_constraints()
        self.succeeded = None
        if clear:
            self.fallback_reason = None
            self.log.clear()
        for widget in (self.install_button, self.cpu_radio, self.cuda_radio, self.run_pack, self.train_pack):
            widget.setEnabled(False)
        self.manual_command.setText(self.current_plan.manual_command())
        self.status_label.setText(_tr("Installing with pip… (this can take several minutes)"))
        self._append(installer.quote_command(self.current_plan.pip_command()) + "\n")
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
        if report.get("ort_cuda") not in (None, "ok") and self.current_plan.installs_onnxruntime_gpu:
            self._append("\n" + _tr("onnxruntime-gpu failed its CUDA check ({error}); installing "
                                    "the CPU onnxruntime instead.").format(error=report["ort_cuda"]) + "\n")
            self.fallback_reason = report["ort_cuda"]
            fallback = installer.cpu_fallback(self.current_plan.requirements)
            self.start(self.plan([r for r in fallback if r.startswith(installer.ONNXRUNTIME)]), clear=False)
            return
        deps.use_packages_folder(self.target)
        versions = ", ".join(f"{name} {version}" for name, version in report["versions"].items())
        device = (_tr("CUDA works on {gpu}").format(gpu=report["cuda"]) if report["cuda"]
                  else _tr("ONNX Runtime's CUDA provider works") if report.get("ort_cuda") == "ok"
                  else _tr("CPU: onnxruntime-gpu failed its CUDA check") if self.fallback_reason
                  else _tr("CPU build"))
        self.status_label.setText(_tr("Installed and checked: {versions} ({device}). GeoDistill "
                                      "is ready; restart QGIS if a tool still reports a missing "
                                      "package.").format(versions=versions, device=device))
        self._finish(True)

    def _fail(self, message: str) -> None:
        self.status_label.setText(message + " " + _tr(
            "You can run the command below in a shell that uses QGIS's Python."))
        self._finish(False)

    def _finish(self, succeeded: bool) -> None:
        if self.succeeded is not None:
            return
        self.succeeded = succeeded
        self.run_pack.setEnabled(True)
        self.train_pack.setEnabled(True)
        training = self.train_pack.isChecked()
        self.cpu_radio.setEnabled(training)
        self.cuda_radio.setEnabled(training and self.cuda_build != "cpu")
        self.install_button.setEnabled(not succeeded)
        self.install_finished.emit(succeeded)

    def reject(self) -> None:
        """Closing stops a running pip."""
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(3000)
        super().reject()
