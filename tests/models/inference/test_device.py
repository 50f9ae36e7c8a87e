"""Device and precision resolution."""
import pytest
import torch

from geodistill.models.errors import DeviceError
from geodistill.models.inference.device import (describe_device, resolve_device,
                                                resolve_precision)

HAS_CUDA = torch.cuda.is_available()


def test_cpu_and_auto_without_cuda_resolve_to_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    if not HAS_CUDA:
        assert resolve_device("auto") == torch.device("cpu")


def test_unknown_device_names_are_refused():
    with pytest.raises(DeviceError, match="Unknown device 'gpu'"):
        resolve_device("gpu")


@pytest.mark.skipif(HAS_CUDA, reason="needs a machine without CUDA")
def test_cuda_without_cuda_names_the_reason():
    reason = "CPU-only" if torch.version.cuda is None else "no NVIDIA driver or GPU"
    for name in ("cuda", "cuda:1"):
        with pytest.raises(DeviceError, match=f"'{name}' cannot be used: .*{reason}"):
            resolve_device(name)
    assert describe_device(torch.device("cpu")).startswith("CPU (no CUDA device found: ")


def test_precision_is_fp32_on_cpu_and_names_are_checked():
    for name in ("auto", "fp32", "fp16", "bf16"):
        assert resolve_precision(torch.device("cpu"), name) is None
    with pytest.raises(DeviceError, match="Unknown precision 'fp8'"):
        resolve_precision(torch.device("cpu"), "fp8")


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_device_resolution_and_description():
    device = resolve_device("auto")
    assert device.type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert describe_device(device).startswith("GPU: ")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert resolve_precision(device, "auto") == expected
    assert resolve_precision(device, "fp16") == torch.float16
    with pytest.raises(DeviceError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
