"""Opening a model package for inference on the resolved backend.

A package is given as its `.onnx` or its `.safetensors` path. ONNX Runtime runs the `.onnx`
(for a `.safetensors`, the `.onnx` next to it with the same card; without one, and with torch
installed, the package is converted first, next to it where the folder is writable). torch
CUDA runs the `.safetensors` weights; where only the `.onnx` exists the run falls back to ONNX
Runtime on the CPU and says so; a net that does not convert (its graph would fix the tile
size) runs on torch's CPU. The net is never built here for ONNX Runtime, so nothing on
that path imports torch.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError, PackageError
from ..inference.backoff import TileModel
from ..package import ModelCard, read_card
from .backends import CPU_PROVIDER, ORT, TORCH, Backend, resolve_backend, torch_installed
from .onnx_file import (SUFFIX, ConversionError, OnnxPackage, RuntimeInfo, load_onnx_package,
                        read_onnx_card)

WEIGHTS_SUFFIX = ".safetensors"


def require_torch(purpose: str) -> None:
    """Raise InputError naming the pack to install when `purpose` needs torch and it is missing."""
    if not torch_installed():
        raise InputError(f"{purpose} runs on torch, which is not installed: install the 'Train "
                         f"models' pack (GeoDistill > Install dependencies).")


@dataclass
class InferenceModel:
    """A package opened for inference: its card, backend and what that backend runs."""

    card: ModelCard
    backend: Backend
    runtime: RuntimeInfo | None = None
    onnx: OnnxPackage | None = None
    net: object | None = None
    """The torch net (torch backend only)."""
    notes: list[str] = field(default_factory=list)

    @property
    def multiple_of(self) -> int:
        """Tile sides must be multiples of this."""
        if self.runtime is not None:
            return self.runtime.multiple_of
        return int(getattr(self.net.config, "multiple_of", 1) or 1)

    def config_value(self, name: str) -> int:
        """A size from the net's config (input_size, global_size) on either backend."""
        if self.runtime is not None:
            return int(getattr(self.runtime, name))
        return int(getattr(self.net.config, name))

    def tile_model(self) -> TileModel:
        """The engine model for dense tasks (pansharpening reads (pan, ms), dehazing (image))."""
        if self.onnx is not None:
            from .onnx_models import OnnxTileModel
            return OnnxTileModel(self.onnx, self.backend)
        from .torch_models import PanFirst, TorchTileModel
        return TorchTileModel(PanFirst(self.net) if self.card.task == "pansharpening" else self.net)

    def ginet_tile_model(self, global_image: np.ndarray, scene_shape: tuple[int, int],
                         offset: tuple[int, int]) -> TileModel:
        """The engine model for GINet: its global part run once on `global_image`."""
        if self.onnx is not None:
            from .onnx_models import OnnxGINetTileModel
            return OnnxGINetTileModel(self.onnx, self.backend, global_image, scene_shape, offset)
        from .torch_models import GINetTileModel
        return GINetTileModel(self.net, global_image, scene_shape, offset)

    def classifier(self) -> Callable[[np.ndarray], np.ndarray]:
        """chips float32 (N, bands, S, S) -> logits (N, classes)."""
        if self.onnx is not None:
            from .onnx_models import OnnxClassifier
            return OnnxClassifier(self.onnx, self.backend).logits
        from .torch_models import TorchClassifier
        return TorchClassifier(self.net, self.backend).logits

    def describe(self) -> str:
        """Backend and provider, for the log and the run report."""
        return self.backend.describe()


def _onnx_twin(weights: Path, card: ModelCard, log: Callable[[str], None]) -> Path:
    """The `.onnx` of a `.safetensors` package with the same card: the one next to it, or a
    fresh conversion (next to it where writable, else in the temporary folder)."""
    twin = weights.with_suffix(SUFFIX)
    if twin.is_file():
        try:
            if read_onnx_card(twin).sha256 == card.sha256:
                return twin
        except PackageError:
            pass  # damaged or foreign: converted again below
    if not torch_installed():
        raise PackageError(f"{weights.name} has no ONNX version and torch, which converts it, is "
                           f"not installed: install the 'Train models' pack once, or convert it "
                           f"with scripts/export_onnx.py on a machine with torch.")
    from ..onnx_export import export_package

    target = twin if os.access(weights.parent, os.W_OK) else \
        Path(tempfile.mkdtemp(prefix="geodistill-onnx-")) / twin.name
    log(f"Converting {weights.name} to ONNX ({target}).")
    try:
        return export_package(weights, target)
    except PackageError:
        raise
    except Exception as error:  # the exporter raises many types for nets it cannot trace
        raise ConversionError(f"{weights.name} does not convert to ONNX: {error}") from error


def _torch_model(weights: Path, backend: Backend) -> InferenceModel:
    from ..package import load_model

    card, net = load_model(weights, device="cpu")
    return InferenceModel(card, backend, net=net)


def open_for_inference(path: str | Path, device: str = "auto", precision: str = "auto",
                       log: Callable[[str], None] = lambda text: None) -> InferenceModel:
    """Open the package at `path` on the backend `device` resolves to (see the module text)."""
    path = Path(path)
    backend = resolve_backend(device, precision)
    notes = []
    weights = path if path.suffix == WEIGHTS_SUFFIX else path.with_suffix(WEIGHTS_SUFFIX)
    if backend.engine == TORCH:
        if weights.is_file():
            return _torch_model(weights, backend)
        notes.append(f"{path.name} ships as ONNX only: it runs on ONNX Runtime on the CPU")
        backend = Backend(ORT, CPU_PROVIDER)
    if path.suffix == WEIGHTS_SUFFIX:
        try:
            path = _onnx_twin(path, read_card(path), log)
        except ConversionError as error:
            # a net whose graph keeps tile sizes fixed (PSDNet's quadrant stitching) runs on torch
            log(f"{error} It runs on PyTorch instead.")
            model = _torch_model(weights, Backend(TORCH, "cpu"))
            model.notes.append(f"{weights.name} runs on PyTorch (no ONNX graph)")
            return model
    package = load_onnx_package(path)
    return InferenceModel(package.card, backend, package.runtime, package, notes=notes)
