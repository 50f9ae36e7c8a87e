"""Where inference runs: the one resolver from a DEVICE name to a backend and provider.

`auto` takes the first that works of: ONNX Runtime's CUDA execution provider (onnxruntime-gpu),
torch CUDA (when a CUDA build of torch is installed), DirectML on Windows or CoreML on macOS,
and ONNX Runtime on the CPU (torch's CPU where only torch is installed). `cpu` is ONNX Runtime
on the CPU; `cuda` / `cuda:N` is ONNX
Runtime's CUDA provider, else torch CUDA. Nothing here imports torch unless a CUDA build of it
is installed and a GPU is asked for (or `auto` gets that far).
"""
from __future__ import annotations

import importlib.util
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from ..catalogue import DEVICE_PATTERN
from ..errors import DeviceError

ORT = "onnxruntime"
TORCH = "torch"
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
PLATFORM_PROVIDERS = {"Windows": "DmlExecutionProvider", "Darwin": "CoreMLExecutionProvider"}
PIPELINE_THREADS = 1
"""Cores the engine's reader and writer threads take together (both mostly wait on GDAL)."""
_DEVICE = re.compile(DEVICE_PATTERN)


@dataclass(frozen=True)
class Backend:
    """A resolved backend: `engine` "onnxruntime" or "torch", with its provider or device."""

    engine: str
    provider: str
    """ORT execution provider name, or the torch device ("cuda:0", "cpu")."""
    device_id: int = 0
    fp16: bool = False
    """Half precision (torch autocast on CUDA GPUs; ONNX Runtime runs the fp32 graphs)."""

    @property
    def is_gpu(self) -> bool:
        return self.provider not in (CPU_PROVIDER, "cpu")

    @property
    def device(self) -> str:
        """The device as the run report names it: "cpu", "cuda:0", "directml", "coreml"."""
        if self.engine == TORCH:
            return self.provider
        if self.provider == CUDA_PROVIDER:
            return f"cuda:{self.device_id}"
        if self.provider == CPU_PROVIDER:
            return "cpu"
        return self.provider.replace("ExecutionProvider", "").lower()

    def describe(self) -> str:
        """"ONNX Runtime 1.32.0, CPUExecutionProvider" or "PyTorch 2.x, GPU: ..."."""
        if self.engine == ORT:
            return f"ONNX Runtime {onnxruntime_version()}, {self.provider}"
        from ..inference.device import describe_device
        import torch
        return f"PyTorch {torch.__version__}, {describe_device(torch.device(self.provider))}"


def onnxruntime_version() -> str | None:
    """The installed onnxruntime's version, or None without it."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def ort_providers() -> list[str]:
    """Execution providers this onnxruntime build offers ([] without onnxruntime)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def _torch_spec():
    """torch's module spec without importing it (None where it cannot be imported)."""
    try:
        return importlib.util.find_spec("torch")
    except (ImportError, ValueError):  # blocked, or set to None in sys.modules
        return None


def torch_installed() -> bool:
    """True when torch can be imported (without importing it)."""
    return _torch_spec() is not None


def torch_cuda_build() -> bool:
    """True when an installed torch is a CUDA build, judged from its version file (no import)."""
    spec = _torch_spec()
    if spec is None or not spec.submodule_search_locations:
        return False
    version_file = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(r"^cuda\s*(:[^=]*)?=\s*['\"]\d", text, re.MULTILINE) is not None


def _torch_cuda(index: int | None) -> Backend | None:
    """torch CUDA on device `index` (the current one for None), or None where it cannot run."""
    if not torch_cuda_build():
        return None
    import torch
    if not torch.cuda.is_available():
        return None
    if index is not None and index >= torch.cuda.device_count():
        raise DeviceError(f"Device 'cuda:{index}' does not exist: this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s), numbered from cuda:0.")
    index = torch.cuda.current_device() if index is None else index
    return Backend(TORCH, f"cuda:{index}", index, fp16=True)


def _cpu_backend() -> Backend:
    """ONNX Runtime on the CPU; torch's CPU where only torch is installed."""
    if CPU_PROVIDER in ort_providers():
        return Backend(ORT, CPU_PROVIDER)
    if torch_installed():
        return Backend(TORCH, "cpu")
    raise DeviceError("No inference backend is installed: install the 'Run models' pack "
                       "(GeoDistill > Install dependencies), which adds onnxruntime.")


def resolve_backend(device: str = "auto", precision: str = "auto") -> Backend:
    """The backend for a DEVICE name (see the module docstring); DeviceError says why a named
    device cannot be used. `precision` "fp32" turns half precision off on GPUs."""
    text = (device or "auto").strip().lower()
    if not _DEVICE.match(text):
        raise DeviceError(f"Unknown device '{device}': use auto, cpu, cuda or cuda:N.")
    providers = ort_providers()
    half = precision != "fp32"
    if text == "cpu":
        return _cpu_backend()
    if text.startswith("cuda"):
        index = int(text.partition(":")[2]) if ":" in text else None
        if CUDA_PROVIDER in providers:
            return Backend(ORT, CUDA_PROVIDER, index or 0)
        backend = _torch_cuda(index)
        if backend is None:
            raise DeviceError(f"Device '{device}' cannot be used: neither onnxruntime-gpu nor a "
                              f"CUDA build of torch found a CUDA GPU. Choose 'cpu' or 'auto'.")
        return Backend(TORCH, backend.provider, backend.device_id, fp16=half)
    if CUDA_PROVIDER in providers:
        return Backend(ORT, CUDA_PROVIDER, 0)
    backend = _torch_cuda(None)
    if backend is not None:
        return Backend(TORCH, backend.provider, backend.device_id, fp16=half)
    platform_provider = PLATFORM_PROVIDERS.get(platform.system())
    if platform_provider in providers:
        return Backend(ORT, platform_provider)
    return _cpu_backend()


def intra_op_threads(cores: int | None = None, pipelined: bool = True) -> int:
    """Threads for the model's operators: the cores, less what the reader and writer take when
    they run beside the model (`pipelined`, the tiled engine); all of them otherwise."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores - PIPELINE_THREADS) if pipelined else cores
