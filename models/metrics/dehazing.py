"""Dehazing quality against a clear reference: PSNR and SSIM (torchmetrics).

Images are numpy (bands, H, W) arrays or torch [B, bands, H, W] batches in the same units,
scaled so that the reference spans about [0, 1]; `data_range` (default 1) is the value range
PSNR and SSIM are computed for. SSIM uses torchmetrics' defaults (11x11 Gaussian window,
sigma 1.5), averaged over bands and images; values outside [0, 1] are not clipped.

torchmetrics filters in float64 through an unfolded (im2col) convolution that takes about
1.6 GB per million band-pixels, so `ssim` hands it at most SSIM_CHUNK_ELEMENTS at a time:
several small images per call, or one large image in row strips with SSIM_HALO rows of real
neighbours above and below (the strips' maps join into exactly the whole image's map).
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, \
    structural_similarity_index_measure

from ..errors import InputError

#: band-pixels given to torchmetrics' SSIM in one call (a few hundred MB at its peak)
SSIM_CHUNK_ELEMENTS = 2 ** 18
#: rows of context the 11 x 11 Gaussian window needs on each side of a strip
SSIM_HALO = 5


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
    per_image = output[0].numel()
    if per_image <= SSIM_CHUNK_ELEMENTS or output.shape[2] <= 2 * SSIM_HALO + 1:
        step = max(1, SSIM_CHUNK_ELEMENTS // per_image)
        means = torch.cat([structural_similarity_index_measure(
            output[i:i + step], reference[i:i + step], data_range=data_range, reduction="none")
            for i in range(0, len(output), step)])
    else:
        means = torch.stack([_strip_ssim(o, r, data_range) for o, r in zip(output, reference)])
    return float(means.mean())


def _strip_ssim(output: torch.Tensor, reference: torch.Tensor, data_range: float) -> torch.Tensor:
    """Mean SSIM of one (bands, H, W) image computed over row strips of bounded size."""
    bands, height, width = output.shape
    rows = max(1, SSIM_CHUNK_ELEMENTS // (bands * width) - 2 * SSIM_HALO)
    total = torch.zeros((), dtype=output.dtype)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        # real rows around the strip; only the image's own border is reflection-padded
        start, stop = max(top - SSIM_HALO, 0), min(bottom + SSIM_HALO, height)
        _, full = structural_similarity_index_measure(
            output[None, :, start:stop], reference[None, :, start:stop], data_range=data_range,
            return_full_image=True)
        total += full[0, :, top - start:bottom - start].sum()
    return total / output.numel()


def dehazing_scores(output: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor,
                    data_range: float = 1.0) -> dict[str, float]:
    """{"psnr", "ssim"} of `output` against the clear `reference`."""
    return {"psnr": psnr(output, reference, data_range), "ssim": ssim(output, reference, data_range)}
