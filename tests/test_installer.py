"""The dependency installer: GPU detection, pip commands for CPU/CUDA, a real failing pip run,
and the About / diagnostics page."""
import sys

import pytest

from geodistill.plugin import deps, installer
from geodistill.plugin.installer import GpuInfo, InstallPlan

SMI_QUERY = "NVIDIA GeForce RTX 3060, 550.54.15, 12288 MiB\nNVIDIA RTX A4000, 550.54.15, 16376 MiB\n"
SMI_HEADER = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"


def missing_torch_statuses():
    return [deps.DependencyStatus(d, None if d.module == "torch" else "9.9") for d in deps.DEPENDENCIES]


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
    cpu = InstallPlan(["torch>=2.1", "safetensors>=0.4"], target, "cpu", python="/qgis/python3",
                      pins=["numpy==1.24.2", "GDAL==3.6.2", "PyQt5==5.15.9"])
    command = cpu.pip_command()
    assert command[:4] == ["/qgis/python3", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(target)
    assert command[command.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert command[command.index("--extra-index-url") + 1] == "https://pypi.org/simple"
    assert command[-2:] == ["torch>=2.1", "safetensors>=0.4"]
    constraints = cpu.write_constraints()
    assert command[command.index("--constraint") + 1] == str(constraints)
    assert constraints.read_text().splitlines() == ["numpy==1.24.2", "GDAL==3.6.2", "PyQt5==5.15.9"]
    cuda = InstallPlan(["torch>=2.1"], target, "cu128", python="/qgis/python3", pins=[])
    assert cuda.pip_command()[cuda.pip_command().index("--index-url") + 1] == \
        "https://download.pytorch.org/whl/cu128"
    assert cuda.verify_arguments()[-1] == "cuda" and cpu.verify_arguments()[-1] == "cpu"
    no_torch = InstallPlan(["rasterio>=1.3"], target, "cu128", pins=[])
    assert "--index-url" not in no_torch.pip_command()  # rasterio comes from PyPI
    assert "--constraint" in cpu.manual_command() and "numpy==1.24.2" in cpu.manual_command()


def test_protected_pins_are_qgis_own_versions():
    import numpy

    pins = installer.protected_pins()
    assert f"numpy=={numpy.__version__}" in pins
    assert all(p.split("==")[0] in installer.PROTECTED for p in pins)


def test_dialog_offers_cuda_only_with_a_gpu(qtbot, tmp_path):
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    without_gpu = InstallerDialog(tmp_path / "python", missing_torch_statuses(), gpus=[])
    qtbot.addWidget(without_gpu)
    assert not without_gpu.cuda_radio.isEnabled() and without_gpu.cpu_radio.isChecked()
    assert without_gpu.plan().build == "cpu" and without_gpu.plan().requirements == ["torch>=2.1"]
    assert "torch: not installed" in without_gpu.explanation.text()
    with_gpu = InstallerDialog(tmp_path / "python", missing_torch_statuses(),
                               gpus=installer.parse_nvidia_smi(SMI_QUERY, SMI_HEADER))
    qtbot.addWidget(with_gpu)
    assert with_gpu.cuda_radio.isChecked() and "RTX 3060" in with_gpu.cuda_radio.text()
    assert "download.pytorch.org/whl/cu128" in " ".join(with_gpu.plan().pip_command())
    with_gpu.cpu_radio.setChecked(True)
    assert "download.pytorch.org/whl/cpu" in " ".join(with_gpu.plan().pip_command())


def test_failing_pip_shows_its_log_and_the_manual_command(qtbot, tmp_path):
    from geodistill.plugin.ui.installer_dialog import InstallerDialog

    dialog = InstallerDialog(tmp_path / "python", missing_torch_statuses(), gpus=[])
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
    dialog = InstallerDialog(target, missing_torch_statuses(), gpus=[])
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
    old = deps.DependencyStatus(deps.DEPENDENCIES[0], "1.13.1")
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
    for expected in (f"QGIS {Qgis.QGIS_VERSION}", f"torch {torch.__version__}",
                     f"rasterio {rasterio.__version__}", "Device: CPU (no CUDA device found",
                     "pansharpening_lite_4band_x4", "User models: ", "Installed packages folder: "):
        assert expected in text, expected
    assert dialog.copy() == text and QApplication.clipboard().text() == text


@pytest.mark.cuda
def test_detects_the_real_gpu():
    gpus = installer.detect_nvidia_gpus()
    if not gpus:
        pytest.skip("no NVIDIA GPU on this machine")
    assert gpus[0].cuda_version is not None and installer.choose_torch_build(gpus) != "cpu"
