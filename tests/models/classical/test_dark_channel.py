"""Dark channel prior dehazing, its guided filter, and the PSNR/SSIM metrics."""
import numpy as np
import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from geodistill.models.classical.dehaze import DarkChannelModule, box_mean, dark_channel, \
    dark_channel_dehaze, estimate_airlight, guided_filter, min_filter
from geodistill.models.data.haze import synthesize_haze
from geodistill.models.metrics import dehazing
from geodistill.models.metrics.dehazing import dehazing_scores, psnr, ssim
from hazy_scenes import clear_scene


def windows_reduced(x: torch.Tensor, radius: int, reduce) -> torch.Tensor:
    """Brute force: `reduce(window, dim=(-2, -1))` of each (2r+1)^2 window clipped at the
    borders of [B, C, H, W]."""
    expected = torch.empty_like(x)
    for row in range(x.shape[-2]):
        for col in range(x.shape[-1]):
            window = x[..., max(row - radius, 0):row + radius + 1, max(col - radius, 0):col + radius + 1]
            expected[..., row, col] = reduce(window, dim=(-2, -1))
    return expected


def test_box_mean_matches_windows_clipped_at_the_borders():
    x = torch.rand(1, 2, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(box_mean(x, 2), windows_reduced(x, 2, torch.mean))


def test_guided_filter_keeps_constants_and_follows_the_guides_edges():
    guide = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    guide[..., 16:] = 1.0
    constant = torch.full_like(guide, 0.3)
    torch.testing.assert_close(guided_filter(guide, constant, 4, 1e-3, box_mean), constant)
    # a source that is an affine function of the guide is reproduced (edge kept, not blurred)
    torch.testing.assert_close(guided_filter(guide, 0.2 + 0.5 * guide, 4, 1e-6, box_mean), 0.2 + 0.5 * guide,
                               atol=1e-4, rtol=0)


def test_dark_channel_is_the_minimum_over_bands_and_the_patch():
    x = torch.ones(1, 3, 16, 16, dtype=torch.float64)
    x[0, 1, 8, 8] = 0.25
    dark = dark_channel(x, 5)
    assert dark.shape == (1, 1, 16, 16)
    assert torch.all(dark[0, 0, 6:11, 6:11] == 0.25)
    assert dark.sum() == 16 * 16 - 25 * 0.75


def test_min_filter_matches_windows_clamped_at_the_borders():
    """The separable filter equals a brute-force minimum over each window (borders replicated,
    so a window reaching past the edge takes the minimum of the pixels inside)."""
    x = torch.rand(2, 3, 11, 14, dtype=torch.float64)
    assert torch.equal(min_filter(x, 7), windows_reduced(x, 3, torch.amin))


def test_known_airlight_and_homogeneous_haze_are_inverted_exactly():
    clear = clear_scene()
    clear[0] = 0.0  # every patch holds a dark pixel, as the prior assumes
    airlight = np.array([0.9, 0.85, 0.8])
    hazy = clear * 0.6 + airlight[:, None, None] * 0.4
    module = DarkChannelModule(airlight, omega=1.0).double()
    with torch.no_grad():
        x = torch.from_numpy(hazy)[None]
        torch.testing.assert_close(module.transmission(x), torch.full((1, 1, 96, 96), 0.6,
                                                                      dtype=torch.float64))
        dehazed = module(x)[0].numpy()
    np.testing.assert_allclose(dehazed, clear, atol=1e-6)


def test_airlight_comes_from_the_haziest_region():
    clear = clear_scene()
    clear[:, 40:56, 40:56] = 0.95  # a bright, dark-channel-free area
    assert estimate_airlight(clear, patch_size=7) == pytest.approx([0.95] * 3)


def test_dark_channel_prior_improves_psnr_and_ssim_on_synthetic_haze():
    # the prior holds (scattered shadow pixels) and the haze is thick somewhere, so the
    # haziest pixels show the airlight; on such a scene He et al.'s method does well
    clear = clear_scene(size=128, seed=1)
    clear[:, ::6, ::6] = 0.02
    hazy, true_transmission, true_airlight = synthesize_haze(clear, np.random.default_rng(1),
                                                             thickness=(0.3, 0.9))
    dehazed, transmission, airlight = dark_channel_dehaze(hazy)
    assert dehazed.shape == hazy.shape and transmission.shape == (128, 128) and airlight.shape == (3,)
    np.testing.assert_allclose(airlight, true_airlight.mean(axis=(1, 2)), atol=0.1)
    before, after = dehazing_scores(hazy, clear), dehazing_scores(dehazed, clear)
    assert before["psnr"] == pytest.approx(11.4, abs=0.1)
    assert after["psnr"] > before["psnr"] + 8.0  # 11.4 -> 20.9 dB
    assert after["ssim"] > before["ssim"] + 0.3  # 0.50 -> 0.93


def test_psnr_and_ssim_values():
    reference = np.zeros((3, 32, 32))
    assert psnr(reference + 0.1, reference) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    image = np.random.default_rng(0).random((2, 3, 32, 32))
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(torch.from_numpy(image), torch.from_numpy(0.5 * image)) < 0.95


@pytest.mark.parametrize("chunk", [3 * 37 * 64 * 2, 3 * 37 * 14, 1])
def test_ssim_in_chunks_and_strips_equals_one_torchmetrics_call(monkeypatch, chunk):
    """Bounded memory: several images per call, or one image in row strips of 1-4 rows (with
    real neighbours around each strip) give the whole-batch value of torchmetrics."""
    rng = np.random.default_rng(1)
    clear = torch.from_numpy(rng.random((5, 3, 64, 37)))
    hazy = (0.7 * clear + 0.3 * torch.from_numpy(rng.random((5, 3, 64, 37)))).clamp(0, 1)
    expected = float(structural_similarity_index_measure(hazy, clear, data_range=1.0))
    monkeypatch.setattr(dehazing, "SSIM_CHUNK_ELEMENTS", chunk)
    assert ssim(hazy, clear) == pytest.approx(expected, abs=1e-12)
    assert 0.3 < expected < 0.95
