"""The device line of the dock: the backend and provider `auto` runs on ("ONNX Runtime 1.32.0,
CPUExecutionProvider", or torch CUDA with its GPU and free memory), and the device choice
(auto / cpu / cuda:N) remembered in the settings."""
from __future__ import annotations

from dataclasses import dataclass

from qgis.PyQt.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from .. import deps, settings
from ..translation import tr as _tr


@dataclass(frozen=True)
class ComputeInfo:
    """What the dock says about the compute device."""

    summary: str  # "ONNX Runtime 1.32.0, CPUExecutionProvider", "PyTorch 2.x, GPU: <name> ..."
    cuda_devices: int
    torch_version: str | None


def compute_info() -> ComputeInfo:
    """Describe the backend `auto` would use; imports torch only where a CUDA build is installed."""
    from ...models.errors import DeviceError
    from ...models.runtime.backends import CUDA_PROVIDER, TORCH, resolve_backend, torch_cuda_build

    try:
        backend = resolve_backend("auto")
        summary = backend.describe()
    except DeviceError as error:
        return ComputeInfo(str(error), 0, deps.installed_version("torch"))
    except Exception as error:  # a broken driver must not stop the dock from opening
        return ComputeInfo(_tr("CPU (the CUDA device could not be queried: {error})").format(error=error),
                           0, deps.installed_version("torch"))
    cuda_devices = 1 if backend.provider == CUDA_PROVIDER else 0
    if backend.engine == TORCH or (torch_cuda_build() and cuda_devices):
        import torch

        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else cuda_devices
    return ComputeInfo(summary, cuda_devices, deps.installed_version("torch"))


def short_summary(summary: str) -> str:
    """The device without the reason in brackets ("CPU" for "CPU (no CUDA device found: ...)")."""
    return summary.split(" (", 1)[0]


def device_choices(cuda_devices: int) -> list[str]:
    """auto, cpu, then cuda:0 ... cuda:N-1."""
    return ["auto", "cpu", *(f"cuda:{index}" for index in range(cuda_devices))]


class DeviceLine(QWidget):
    """A label with the device summary and a combo box with the device choice."""

    def __init__(self, parent=None, info: ComputeInfo | None = None):
        super().__init__(parent)
        self.info = compute_info() if info is None else info
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel(short_summary(self.info.summary), self)
        self.summary.setWordWrap(True)
        self.summary.setToolTip(self.info.summary)
        self.choice = QComboBox(self)
        self.choice.setToolTip(_tr("Where the models run: auto uses a CUDA GPU (ONNX Runtime, "
                                   "else PyTorch), DirectML or CoreML when there is one, else "
                                   "ONNX Runtime on the CPU"))
        self.choice.addItems(device_choices(self.info.cuda_devices))
        remembered = settings.device()
        # a GPU remembered from another machine (or a removed one) falls back to auto
        self.choice.setCurrentText(remembered if self.choice.findText(remembered) >= 0 else "auto")
        self.choice.currentTextChanged.connect(settings.set_device)
        layout.addWidget(QLabel(_tr("Device:"), self))
        layout.addWidget(self.choice)
        layout.addWidget(self.summary, 1)

    def device(self) -> str:
        """The chosen device name."""
        return self.choice.currentText()
