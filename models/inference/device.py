"""torch's device resolver: names ("auto", "cpu", "cuda", "cuda:N") -> torch devices, for
training and for the torch backend (which backend runs inference: `models.runtime.backends`).

Also picks the autocast precision for a device and describes the device for the user
("GPU: NVIDIA RTX A4000, 14.2/16.0 GB free" or "CPU (no CUDA device found: ...)").
"""
from __future__ import annotations

import contextlib

import torch

from ..errors import DeviceError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used, in words, or None when it can."""
    if torch.version.cuda is None:
        return "this PyTorch build is CPU-only; install the CUDA build of torch to use a GPU"
    if not torch.cuda.is_available():
        return "no NVIDIA driver or GPU was detected by PyTorch"
    return None


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` (CUDA if available, else CPU), `cpu`, `cuda` or `cuda:N` -> torch.device.

    Raises DeviceError when CUDA is asked for but cannot be used, naming the reason.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if cuda_unavailable_reason() is None else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise DeviceError(f"Device '{name}' cannot be used: {reason}. Choose 'cpu' or 'auto'.")
        index_text = text.partition(":")[2]
        if index_text:
            if not index_text.isdigit():
                raise DeviceError(f"Device '{name}' is not valid: write cuda:0, cuda:1, ...")
            count = torch.cuda.device_count()
            if int(index_text) >= count:
                raise DeviceError(f"Device '{name}' does not exist: this machine has {count} CUDA "
                                  f"device(s), numbered from cuda:0.")
            return torch.device("cuda", int(index_text))
        return torch.device("cuda", torch.cuda.current_device())
    raise DeviceError(f"Unknown device '{name}': use auto, cpu, cuda or cuda:N.")


def resolve_precision(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for `device`, or None for plain float32.

    `auto` gives bf16 where the GPU supports it, else fp16, on CUDA; fp32 on CPU. Half
    precisions are a CUDA feature here: on the CPU they fall back to fp32.
    """
    if precision not in PRECISIONS:
        raise DeviceError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}.")
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def precision_name(dtype: torch.dtype | None) -> str:
    """"fp32", "fp16" or "bf16" for an autocast dtype from `resolve_precision`."""
    return {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast context for `dtype` on `device`, or a no-op context for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def describe_device(device: torch.device) -> str:
    """One line for the user: which GPU and its free/total memory, or why the CPU is used."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return (f"GPU: {torch.cuda.get_device_name(index)}, "
                f"{free / 2**30:.1f}/{total / 2**30:.1f} GB free")
    reason = cuda_unavailable_reason()
    if reason is None:
        return "CPU (chosen although a CUDA device is available)"
    return f"CPU (no CUDA device found: {reason})"


def empty_cache(device: torch.device) -> None:
    """Release cached allocator blocks after an out-of-memory error."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
