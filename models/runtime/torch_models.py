"""torch backends for the engine: an `nn.Module` or GINet on a torch device.

Used for torch CUDA, for nets built in memory (classical modules, adapted students) and by the
benchmarks that compare backends. Only imported where torch is installed and used.
"""
from __future__ import annotations

import numpy as np
import torch

from ..inference.backoff import TileModel
from ..inference.device import (autocast, describe_device, empty_cache, precision_name,
                                resolve_device, resolve_precision)
from ..inference.global_context import shift_windows, window_fractions
from ..inference.tiling import TileWindow


class PanFirst(torch.nn.Module):
    """A pansharpening net `net(ms, pan)` called with the engine's input order (pan, ms)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, pan: torch.Tensor, ms: torch.Tensor) -> torch.Tensor:
        return self.net(ms, pan)


class TorchClassifier:
    """A scene classifier on a torch device: `logits(chips)` for float32 (N, bands, S, S)."""

    def __init__(self, net: torch.nn.Module, backend):
        self.device = resolve_device(backend.provider)
        self.dtype = resolve_precision(self.device, "auto" if backend.fp16 else "fp32")
        self.net = net.eval().to(self.device)

    def logits(self, chips: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast(self.device, self.dtype):
            output = self.net(torch.from_numpy(np.ascontiguousarray(chips, np.float32)).to(self.device))
        return output.float().cpu().numpy()


class TorchTileModel(TileModel):
    """Runs `module(*tensors)` under inference mode and autocast on the run's device."""

    channels_last = True

    def __init__(self, module: torch.nn.Module):
        self.module = module.eval()
        self.torch_device = torch.device("cpu")
        self.dtype: torch.dtype | None = None

    @property
    def device(self) -> str:
        return str(self.torch_device)

    @property
    def precision(self) -> str:
        return precision_name(self.dtype)

    def prepare(self, device: str, precision: str) -> None:
        self.torch_device = resolve_device(device)
        self.dtype = resolve_precision(self.torch_device, precision)
        self._move()

    def _move(self) -> None:
        self.module.to(self.torch_device)

    def describe(self) -> str:
        return f"PyTorch {torch.__version__}, {describe_device(self.torch_device)}"

    def predict_tensors(self, tensors: list[torch.Tensor], windows: list[TileWindow]) -> torch.Tensor:
        """The prediction for a batch of tensors on the device."""
        return self.module(*tensors)

    def predict(self, arrays, windows) -> np.ndarray:
        # channels-last input (the reader's layout, so no copy here): oneDNN runs the narrow
        # convs of the lite students 2-3x faster; the output keeps the model's layout
        tensors = [torch.from_numpy(a).to(self.torch_device, non_blocking=True)
                   .contiguous(memory_format=torch.channels_last) for a in arrays]
        with torch.inference_mode(), autocast(self.torch_device, self.dtype):
            output = self.predict_tensors(tensors, windows)
        return output.float().cpu().numpy()

    def is_out_of_memory(self, error: BaseException) -> bool:
        if isinstance(error, torch.OutOfMemoryError):
            empty_cache(self.torch_device)
            return True
        return False

    def move_to_cpu(self) -> None:
        if self.torch_device.type == "cpu":
            super().move_to_cpu()
        self.torch_device, self.dtype = torch.device("cpu"), None
        self._move()


class GINetTileModel(TorchTileModel):
    """Engine adapter for GINet on torch: `GINetTileModel(net, global_image, scene_shape, offset)`.

    `global_image` is the normalized global view (bands, G, G) or (1, bands, G, G) of the
    scene whose reference grid is `scene_shape` = (height, width) pixels. The global branch
    runs once, here; `predict` runs the local branch on the tiles (input 0) guided by it.
    `offset` = (row, column) of the engine's grid in the scene: a run over part of it.
    """

    def __init__(self, net: torch.nn.Module, global_image: np.ndarray | torch.Tensor,
                 scene_shape: tuple[int, int], offset: tuple[int, int] = (0, 0)):
        super().__init__(net)
        self.offset = offset
        image = torch.as_tensor(np.asarray(global_image, dtype=np.float32))
        image = image[None] if image.dim() == 3 else image
        self.scene_shape = (int(scene_shape[0]), int(scene_shape[1]))
        self.torch_device = next(net.parameters()).device
        with torch.no_grad():
            self.context = net.global_context(image.to(self.torch_device))

    def _move(self) -> None:
        self.module.to(self.torch_device)
        self.context = self.context.to(self.torch_device)

    def predict_tensors(self, tensors, windows) -> torch.Tensor:
        local = tensors[0]
        fractions = window_fractions(shift_windows(windows, self.offset), self.scene_shape)
        return self.module.forward_local(local, self.context, torch.from_numpy(fractions).to(local.device))[0]
