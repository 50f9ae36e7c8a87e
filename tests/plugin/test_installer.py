"""The dependency installer: GPU detection, the two packs, pip commands and QGIS's interpreter
on each platform (mocked platform facts, real command strings), a real failing pip run, the
CPU fallback of onnxruntime-gpu, "don't offer again", and the About / diagnostics page."""
import sys
from pathlib import Path, PureWindowsPath

import pytest

from geodistill.plugin import deps, installer
from geodistill.plugin.installer import GpuInfo, InstallPlan

SMI_QUERY = "NVIDIA GeForce RTX 3060, 550.54.15, 12288 MiB\nNVIDIA RTX A4000, 550.54.15, 16376 MiB\n"
SMI_HEADER = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"


def statuses(*missing):
    """Dependency statuses with the modules in `missing` not installed."""
    return [deps.DependencyStatus(d, None if d.module in missing else "9.9") for d in deps.DEPENDENCIES]


def test_nvidia_smi_output_gives_gpus_and_cuda_build():
    gpus = installer.parse_nvidia_smi(SMI_QUERY, SMI_HEADER)
    assert gpus == [GpuInfo("NVIDIA GeForce RTX 3060", "550.54.15", 12288, (12, 4)),
                    GpuInfo("NVIDIA RTX A4000", "550.54.15", 16376, (12, 4))]
    assert installer.choose_torch_build(gpus) == "cu128"  # CUDA 12 minor-version compatibility
    old = installer.parse_nvidia_smi("Tesla K80, 470.82.01, 11441 MiB")
    assert old[0].cuda_version == (11, 8) and installer.choose_torch_build(old) == "cu118"
    assert installer.parse_nvidia_smi("Quadro, 390.10, 2048 MiB")[0].cuda_version is None
    assert installer.choose_torch_build([]) == "cpu"
    assert installer.choose_torch_build(installer.parse_nvidia_smi("B200, 580.65.06, 1 MiB")) == "cu130"


def test_pip_command_for_cpu_and_cuda(tmp_path):
    target = tmp_path / "python"
    cpu = InstallPlan(["torch==2.13.0", "safetensors==0.8.0"], target, "cpu", python="/qgis/python3",
                      pins=["numpy==1.24.2", "GDAL==3.6.2", "PyQt5==5.15.9"])
    command = cpu.pip_command()
    assert command[:4] == ["/qgis/python3", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(target)
    assert command[command.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert command[command.index("--extra-index-url") + 1] == "https://pypi.org/simple"
    assert command[-2:] == ["torch==2.13.0", "safetensors==0.8.0"]
    constraints = cpu.write_constraints()
    assert command[command.index("--constraint") + 1] == str(constraints)
    assert constraints.read_text().splitlines() == ["numpy==1.24.2", "GDAL==3.6.2", "PyQt5==5.15.9"]
    cuda = InstallPlan(["torch==2.13.0"], target, "cu128", python="/qgis/python3", pins=[])
    assert cuda.pip_command()[cuda.pip_command().index("--index-url") + 1] == \
        "https://download.pytorch.org/whl/cu128"
    assert cuda.verify_arguments()[4] == "torch-cuda" and cpu.verify_arguments()[4] == ""
    run = InstallPlan(["onnxruntime-gpu==1.32.0"], target, "cu128", pins=[])
    assert "--index-url" not in run.pip_command()  # onnxruntime comes from PyPI
    arguments = run.verify_arguments()
    assert arguments[3] == '["onnxruntime"]' and arguments[4] == "ort-cuda"
    assert arguments[5].endswith("pansharpening_lite_4band_x4.onnx")


def test_packs_pin_onnxruntime_or_its_gpu_build_and_torch():
    gpus = installer.parse_nvidia_smi(SMI_QUERY, SMI_HEADER)
    assert installer.pack_requirements([deps.RUN_PACK], []) == ["onnxruntime==1.32.0", "rasterio>=1.3"]
    assert installer.pack_requirements([deps.RUN_PACK], gpus)[0] == "onnxruntime-gpu==1.32.0"
    train = installer.pack_requirements([deps.TRAIN_PACK], gpus)
    assert train == ["onnxruntime-gpu==1.32.0", "rasterio>=1.3", "torch==2.13.0", "safetensors==0.8.0",
                     "torchmetrics==1.9.0", "onnx==1.23.2"]
    assert installer.cpu_fallback(train)[0] == "onnxruntime==1.32.0"


def test_interpreter_is_qgis_python_on_each_platform():
    windows_python = "C:\\Program Files\\QGIS 3.34\\apps\\Python312\\python.exe"
    assert installer.python_executable(
        "C:\\Program Files\\QGIS 3.34\\bin\\qgis-bin.exe", "C:\\Program Files\\QGIS 3.34\\apps\\Python312",
        "Windows", lambda path: path == windows_python) == windows_python
    mac_python = "/Applications/QGIS.app/Contents/MacOS/bin/python3"
    assert installer.python_executable(
        "/Applications/QGIS.app/Contents/MacOS/QGIS",
        "/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.9",
        "Darwin", lambda path: path == mac_python) == mac_python
    assert installer.python_executable("/usr/bin/python3", "/usr", "Linux", lambda path: False) == \
        "/usr/bin/python3"


def test_manual_command_is_quoted_for_the_platform_shell():
    posix = InstallPlan(["onnxruntime==1.32.0"], Path("/home/me/QGIS profile/python"), "cpu",
                        python="/opt/QGIS 3/bin/python3", pins=["numpy==1.24.2"])
    assert posix.manual_command("Linux") == (
        "printf '%s\\n' numpy==1.24.2 > '/home/me/QGIS profile/geodistill-constraints.txt' && "
        "'/opt/QGIS 3/bin/python3' -m pip install --upgrade --target '/home/me/QGIS profile/python' "
        "--constraint '/home/me/QGIS profile/geodistill-constraints.txt' --disable-pip-version-check "
        "--no-input --progress-bar off onnxruntime==1.32.0")
    windows = InstallPlan(["onnxruntime==1.32.0"], PureWindowsPath("C:/Users/Me/AppData/geodistill/python"),
                          "cpu", python="C:\\Program Files\\QGIS 3.34\\apps\\Python312\\python.exe",
                          pins=["numpy==1.24.2", "GDAL==3.8.4"])
    command = windows.manual_command("Windows")
    assert command.startswith("(echo numpy==1.24.2 & echo GDAL==3.8.4) > "
                              "C:\\Users\\Me\\AppData\\geodistill\\geodistill-constraints.txt && "
                              '"C:\\Program Files\\QGIS 3.34\\apps\\Python312\\python.exe" -m pip install')
    assert command.endswith("--progress-bar off onnxruntime==1.32.0")


def test_protected_pins_are_qgis_own_versions():
    import numpy

    pins = installer.protected_pins()
    assert f"numpy=={numpy.__version__}" in pins
    assert all(p.split("==")[0] in installer.PROTECTED for p in pins)


def test_dialog_installs_the_run_pack_and_offers_cuda_torch_only_with_a_gpu(qtbot, tmp_path):
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    without_gpu = InstallerDialog(tmp_path / "python", statuses("onnxruntime", "torch"), gpus=[])
    qtbot.addWidget(without_gpu)
    assert without_gpu.run_pack.isChecked() and not without_gpu.train_pack.isChecked()
    assert not without_gpu.cpu_radio.isEnabled() and not without_gpu.cuda_radio.isEnabled()
    assert without_gpu.plan().requirements == ["onnxruntime==1.32.0"]
    assert without_gpu.manual_command.text().endswith("--progress-bar off onnxruntime==1.32.0")
    assert "torch: not installed" in without_gpu.explanation.text()
    without_gpu.train_pack.setChecked(True)
    assert without_gpu.plan().requirements == ["onnxruntime==1.32.0", "torch==2.13.0"]
    assert without_gpu.cpu_radio.isEnabled() and not without_gpu.cuda_radio.isEnabled()

    with_gpu = InstallerDialog(tmp_path / "python", statuses("onnxruntime", "torch"),
                               gpus=installer.parse_nvidia_smi(SMI_QUERY, SMI_HEADER))
    qtbot.addWidget(with_gpu)
    assert "onnxruntime-gpu" in with_gpu.run_pack.text() and "RTX 3060" in with_gpu.run_pack.text()
    assert with_gpu.plan().requirements == ["onnxruntime-gpu==1.32.0"]
    with_gpu.train_pack.setChecked(True)
    assert with_gpu.cuda_radio.isChecked() and "RTX 3060" in with_gpu.cuda_radio.text()
    assert "download.pytorch.org/whl/cu128" in " ".join(with_gpu.plan().pip_command())
    with_gpu.cpu_radio.setChecked(True)
    assert "download.pytorch.org/whl/cpu" in " ".join(with_gpu.plan().pip_command())

    complete = InstallerDialog(tmp_path / "python", statuses(), gpus=[])
    qtbot.addWidget(complete)
    assert not complete.install_button.isEnabled()


def test_dont_offer_again_is_saved_and_honoured(qtbot, tmp_path, qgis_iface):
    from geodistill.plugin import settings
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    settings.set_ask_to_install(True)
    dialog = InstallerDialog(tmp_path / "python", statuses("onnxruntime"), gpus=[])
    qtbot.addWidget(dialog)
    assert not dialog.dont_ask.isChecked()
    try:
        dialog.dont_ask.setChecked(True)
        assert settings.ask_to_install() is False
        again = InstallerDialog(tmp_path / "python", statuses("onnxruntime"), gpus=[])
        qtbot.addWidget(again)
        assert again.dont_ask.isChecked()
    finally:
        settings.set_ask_to_install(True)


def test_onnxruntime_gpu_failing_its_cuda_check_falls_back_to_the_cpu_build(qtbot, tmp_path):
    """The real check script runs; this machine's onnxruntime has no CUDA provider, so the
    check fails and the dialog moves on to installing the CPU onnxruntime."""
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    target = tmp_path / "python"
    target.mkdir()
    dialog = InstallerDialog(target, statuses("onnxruntime"),
                             gpus=installer.parse_nvidia_smi(SMI_QUERY, SMI_HEADER))
    qtbot.addWidget(dialog)
    dialog.current_plan = InstallPlan(["onnxruntime-gpu==1.32.0"], target, "cpu",
                                      python=sys.executable, pins=[])
    started = []
    dialog.start = lambda plan=None, clear=True: started.append(plan)  # the pip run itself
    dialog._run("verify", dialog.current_plan.verify_arguments())
    qtbot.waitUntil(lambda: bool(started), timeout=60000)
    assert started[0].requirements == ["onnxruntime==1.32.0"]
    assert "CUDA" in dialog.fallback_reason
    assert "installing the CPU onnxruntime instead" in dialog.log.toPlainText()


def test_failing_pip_shows_its_log_and_the_manual_command(qtbot, tmp_path):
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    dialog = InstallerDialog(tmp_path / "python", statuses("torch"), gpus=[])
    qtbot.addWidget(dialog)
    plan = InstallPlan(["geodistill-no-such-requirement==1.0"], tmp_path / "python", "cpu",
                       python=sys.executable, pins=[], extra_args=["--no-index"])
    with qtbot.waitSignal(dialog.install_finished, timeout=120000) as finished:
        dialog.start(plan)
    assert finished.args == [False] and dialog.succeeded is False
    log = dialog.log.toPlainText()
    assert "geodistill-no-such-requirement" in log and "No matching distribution" in log
    assert "pip failed (exit code 1)" in dialog.status_label.text()
    assert not dialog.manual_command.isHidden()
    assert dialog.manual_command.text().endswith("--no-index geodistill-no-such-requirement==1.0")
    assert dialog.install_button.isEnabled()  # the user may try again


def test_verification_reports_versions_of_importable_packages(qtbot, tmp_path):
    """The import check run after pip, on packages that are importable (no download)."""
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    target = tmp_path / "python"
    target.mkdir()
    dialog = InstallerDialog(target, statuses("torch"), gpus=[])
    qtbot.addWidget(dialog)
    dialog.current_plan = InstallPlan(["safetensors>=0.4"], target, "cpu", python=sys.executable, pins=[])
    with qtbot.waitSignal(dialog.install_finished, timeout=60000) as finished:
        dialog._run("verify", dialog.current_plan.verify_arguments())
    import safetensors

    assert finished.args == [True]
    assert f"safetensors {safetensors.__version__}" in dialog.status_label.text()
    sys.path.remove(str(target))  # use_packages_folder appended it


def test_dependency_versions_are_read_without_importing():
    import torch

    statuses = {s.dependency.module: s for s in deps.dependency_statuses()}
    assert statuses["torch"].version == torch.__version__ and statuses["torch"].ok
    old = deps.DependencyStatus(deps.Dependency("torch", "torch>=2.1", "trains"), "1.13.1")
    assert not old.ok and old.describe() == "torch 1.13.1 (needs torch>=2.1)"
    assert deps.version_tuple("2.13.0+cu128") == (2, 13, 0)


def test_diagnostics_page_lists_versions_and_copies_them(qtbot, qgis_app):
    import rasterio
    import torch
    from qgis.core import Qgis
    from qgis.PyQt.QtWidgets import QApplication

    from geodistill.plugin.ui.diagnostics_dialog import DiagnosticsDialog

    dialog = DiagnosticsDialog()
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    import onnxruntime

    for expected in (f"QGIS {Qgis.QGIS_VERSION}", f"torch {torch.__version__}",
                     f"rasterio {rasterio.__version__}", f"onnxruntime {onnxruntime.__version__}",
                     f"Device: ONNX Runtime {onnxruntime.__version__}, CPUExecutionProvider",
                     "pansharpening_lite_4band_x4", "User models: ", "Installed packages folder: "):
        assert expected in text, expected
    assert dialog.copy() == text and QApplication.clipboard().text() == text


@pytest.mark.cuda
def test_detects_the_real_gpu():
    gpus = installer.detect_nvidia_gpus()
    if not gpus:
        pytest.skip("no NVIDIA GPU on this machine")
    assert gpus[0].cuda_version is not None and installer.choose_torch_build(gpus) != "cpu"
