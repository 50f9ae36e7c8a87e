"""Losses of the KTDN dehazing nets: L1 + Laplacian pyramid + Lab colour + knowledge transfer.

KTDN's objective (design section 6): L1 + 0.3 Laplacian-pyramid L1 + 0.5 Lab L2 + 1.0 L1
between the student's and the teacher's bottleneck features. The transfer term is an L1
(the paper's), so `losses.feature_distillation_loss` (an MSE) is not used for it.

The Lab term is only defined for 3-band images taken as (R, G, B) in sRGB-like [0, 1] units;
N-band (multispectral) nets skip it (`colour_loss` returns 0): per-band percentile scaling
leaves no common radiometric scale to define a colour space on, and L1 plus the Laplacian
pyramid already constrain every band.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)
_SRGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
                (0.212671, 0.715160, 0.072169),
                (0.019334, 0.119193, 0.950227))
_D65_WHITE = (0.950456, 1.0, 1.088754)
_LAB_SCALE = 100.0
"""L (0-100) and a, b (about -100..100) are divided by this so the L2 is of order 1."""


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial blur of each band, borders reflected (the Burt-Adelson pyramid kernel)."""
    taps = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device)
    taps = taps / taps.sum()
    bands = x.shape[1]
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, taps.view(1, 1, 1, 5).expand(bands, 1, 1, 5), groups=bands)
    return F.conv2d(x, taps.view(1, 1, 5, 1).expand(bands, 1, 5, 1), groups=bands)


def laplacian_pyramid(x: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
    """Band-pass levels (finest first) and the final low-pass image of [B, C, H, W].

    Each level is the image minus its blurred, decimated and bilinearly re-expanded version;
    the pyramid stops early when the image would shrink below 4 pixels.
    """
    pyramid = []
    current = x
    for _ in range(levels - 1):
        if min(current.shape[-2:]) < 8:
            break
        low = _blur(current)[..., ::2, ::2]
        expanded = F.interpolate(low, size=current.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(current - expanded)
        current = low
    pyramid.append(current)
    return pyramid


def laplacian_pyramid_loss(output: torch.Tensor, target: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Sum over pyramid levels of the mean L1 of (output - target) (the pyramid is linear)."""
    return sum(level.abs().mean() for level in laplacian_pyramid(output - target, levels))


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] sRGB in [0, 1] (clipped) -> CIE L*a*b* (D65), L in [0, 100]."""
    rgb = rgb.clamp(0.0, 1.0)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_SRGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_D65_WHITE, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear) / white
    delta = 6.0 / 29.0
    f = torch.where(xyz > delta ** 3, xyz.clamp_min(delta ** 3) ** (1.0 / 3.0),
                    xyz / (3 * delta ** 2) + 4.0 / 29.0)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], 1)


def colour_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared Lab difference (Lab / 100) for 3-band RGB; 0 for other band counts."""
    if output.shape[1] != 3:
        return output.new_zeros(())
    return F.mse_loss(rgb_to_lab(output) / _LAB_SCALE, rgb_to_lab(target) / _LAB_SCALE)


def knowledge_transfer_loss(student_features: dict[str, torch.Tensor],
                            teacher_features: dict[str, torch.Tensor],
                            key: str = "bottleneck") -> torch.Tensor:
    """Mean L1 between the student's and the (detached) teacher's features under `key`.

    Raises ValueError when the shapes differ: map the student's features with a
    `losses.FeatureAdapter` first.
    """
    student, teacher = student_features[key], teacher_features[key]
    if student.shape != teacher.shape:
        raise ValueError(f"feature '{key}' is {tuple(student.shape)} in the student but "
                         f"{tuple(teacher.shape)} in the teacher; adapt the student's features")
    return F.l1_loss(student, teacher.detach())
