"""geodistill:diagnostics - versions, compute device and model folders, for bug reports."""
from __future__ import annotations

import platform

from qgis.core import Qgis

from .. import deps
from ...models.catalogue import DIAGNOSTICS
from .base import BUNDLED_MODELS, GeoDistillAlgorithm, bundled_model_names


class DiagnosticsAlgorithm(GeoDistillAlgorithm):
    """Reports QGIS, Python and package versions and the backend GeoDistill would use."""

    REPORT = "REPORT"
    task = DIAGNOSTICS
    dependency_pack = deps.RUN_PACK
    help_text = ("Lists the versions of QGIS, Python, ONNX Runtime, torch (optional: training), "
                 "rasterio and safetensors, the backend and provider the models would run on "
                 "(and why a GPU cannot be used when it cannot), and the bundled models. "
                 "DEVICE: the device to check (auto, cpu, cuda or cuda:N). "
                 "Output: REPORT, the same text as the log, to paste into a bug report.")

    def run_algorithm(self, parameters, context, feedback):
        import rasterio

        from ...models.runtime.backends import resolve_backend

        backend = resolve_backend(self.device_value(parameters, context))
        lines = [
            f"QGIS {Qgis.QGIS_VERSION}",
            f"Python {platform.python_version()} ({platform.platform()})",
            f"Backend: {backend.describe()}",
            *(status.describe() for status in deps.dependency_statuses()),
            f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__})",
            f"Bundled models ({BUNDLED_MODELS}): {', '.join(bundled_model_names()) or 'none'}",
        ]
        for line in lines:
            feedback.pushInfo(line)
        return {self.REPORT: "\n".join(lines)}
