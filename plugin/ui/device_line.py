"""The device line of the dock: which GPU (and its free memory) or why the CPU is used, and the
device choice (auto / cpu / cuda:N) remembered in the settings."""
from __future__ import annotations

from dataclasses import dataclass

from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from .. import settings


def _tr(text: str) -> str:
    return QCoreApplication.translate("GeoDistill", text)


@dataclass(frozen=True)
class ComputeInfo:
    """What the dock says about the compute device."""

    summary: str  # "GPU: <name>, <free>/<total> GB free" or "CPU (no CUDA device found: ...)"
    cuda_devices: int
    torch_version: str | None


def compute_info() -> ComputeInfo:
    """Describe the device `auto` would use; imports torch lazily (never at module level)."""
    try:
        import torch

        from ...models.inference.device import describe_device, resolve_device
    except ImportError:
        return ComputeInfo(_tr("No compute device: PyTorch is not installed "
                               "(GeoDistill > Install dependencies)"), 0, None)
    try:
        summary = describe_device(resolve_device("auto"))
    except Exception as error:  # a broken driver must not stop the dock from opening
        summary = _tr("CPU (the CUDA device could not be queried: {error})").format(error=error)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ComputeInfo(summary, count, torch.__version__)


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
        self.choice.setToolTip(_tr("Where the models run: auto uses the first CUDA GPU when "
                                   "there is one, else the CPU"))
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
