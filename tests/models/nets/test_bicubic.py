"""Bicubic upsampling as convolution + pixel shuffle equals torch's bicubic interpolation."""
import pytest
import torch
import torch.nn.functional as F

from geodistill.models.nets.bicubic import bicubic_upsample, phase_weights


@pytest.mark.parametrize("ratio", [2, 3, 4])
def test_conv_upsampling_equals_torch_bicubic(ratio):
    x = torch.rand(2, 3, 7, 9, generator=torch.Generator().manual_seed(ratio)) * 1.2 - 0.2
    expected = F.interpolate(x, scale_factor=ratio, mode="bicubic", align_corners=False)
    result = bicubic_upsample(x, ratio)
    assert result.shape == (2, 3, 7 * ratio, 9 * ratio)
    assert torch.allclose(result, expected, atol=1e-6, rtol=0)


def test_phase_weights_sum_to_one_and_keep_constants():
    for weights in phase_weights(4):
        assert sum(weights) == pytest.approx(1.0, abs=1e-12)
    constant = torch.full((1, 1, 5, 5), 3.25)
    assert torch.allclose(bicubic_upsample(constant, 4), torch.full((1, 1, 20, 20), 3.25), atol=1e-6)


def test_ratio_one_returns_input():
    x = torch.rand(1, 2, 4, 4)
    assert bicubic_upsample(x, 1) is x
