"""geodistill:diagnostics - versions, compute device and model folders, for bug reports."""
from __future__ import annotations

import platform

from qgis.core import Qgis, QgsProcessingOutputString

from .base import BUNDLED_MODELS, GeoDistillAlgorithm, bundled_model_names


class DiagnosticsAlgorithm(GeoDistillAlgorithm):
    """Reports QGIS, Python, torch and CUDA versions and the device GeoDistill would use."""

    REPORT = "REPORT"
    group_name = "Utilities"
    help_text = ("Lists the versions of QGIS, Python, torch, rasterio and safetensors, whether "
                 "a CUDA GPU can be used (and why not when it cannot), and the bundled models. "
                 "DEVICE: the device to check (auto, cpu, cuda or cuda:N). "
                 "Output: REPORT, the same text as the log, to paste into a bug report.")

    def name(self) -> str:
        return "diagnostics"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Diagnostics (versions and device)")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_device_parameter()
        self.addOutput(QgsProcessingOutputString(self.REPORT, self.tr("Report")))

    def run_algorithm(self, parameters, context, feedback):
        import rasterio
        import safetensors
        import torch

        from ...models.inference.device import describe_device, resolve_device

        device = resolve_device(self.device_value(parameters, context))
        lines = [
            f"QGIS {Qgis.QGIS_VERSION}",
            f"Python {platform.python_version()} ({platform.platform()})",
            f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})",
            f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__})",
            f"safetensors {safetensors.__version__}",
            f"Device: {describe_device(device)}",
            f"Bundled models ({BUNDLED_MODELS}): {', '.join(bundled_model_names()) or 'none'}",
        ]
        for line in lines:
            feedback.pushInfo(line)
        return {self.REPORT: "\n".join(lines)}
