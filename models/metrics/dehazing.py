"""Dehazing quality against a clear reference: PSNR and SSIM (torchmetrics).

Images are numpy (bands, H, W) arrays or torch [B, bands, H, W] batches in the same units,
scaled so that the reference spans about [0, 1]; `data_range` (default 1) is the value range
PSNR and SSIM are computed for. SSIM uses torchmetrics' defaults (11x11 Gaussian window,
sigma 1.5), averaged over bands and images; values outside [0, 1] are not clipped.
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, \
    structural_similarity_index_measure

from ..errors import InputError


def _batch(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(image) if isinstance(image, np.ndarray) else image)
    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.dim() != 4:
        raise InputError(f"expected a (bands, H, W) image or a [B, bands, H, W] batch, got "
                         f"shape {tuple(tensor.shape)}")
    return tensor.detach().to(torch.float64)


def _pair(output, reference) -> tuple[torch.Tensor, torch.Tensor]:
    output, reference = _batch(output), _batch(reference)
    if output.shape != reference.shape:
        raise InputError(f"the dehazed image {tuple(output.shape)} and the reference "
                         f"{tuple(reference.shape)} must have the same shape")
    return output, reference


def psnr(output: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor,
         data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / MSE) over all pixels."""
    output, reference = _pair(output, reference)
    return float(peak_signal_noise_ratio(output, reference, data_range=data_range))


def ssim(output: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor,
         data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al. 2004) over bands and images, in [-1, 1]."""
    output, reference = _pair(output, reference)
    return float(structural_similarity_index_measure(output, reference, data_range=data_range))


def dehazing_scores(output: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor,
                    data_range: float = 1.0) -> dict[str, float]:
    """{"psnr", "ssim"} of `output` against the clear `reference`."""
    return {"psnr": psnr(output, reference, data_range), "ssim": ssim(output, reference, data_range)}
