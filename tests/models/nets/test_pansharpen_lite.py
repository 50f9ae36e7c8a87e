"""The lite pansharpening student and the multiply-add counter that sizes it against PSDNet."""
import pytest
import torch
from torch import nn

from geodistill.models.errors import InputError
from geodistill.models.nets import build
from geodistill.models.nets.flops import count_multiply_adds
from geodistill.models.nets.pansharpen_lite import PansharpenLite, PansharpenLiteConfig
from geodistill.models.nets.psdnet import PSDNetConfig


def _inputs(bands: int, ratio: int, ms_size: int = 8, batch: int = 2):
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(batch, bands, ms_size, ms_size, generator=generator),
            torch.rand(batch, 1, ms_size * ratio, ms_size * ratio, generator=generator))


@pytest.mark.parametrize("bands", [4, 8])
@pytest.mark.parametrize("ratio", [2, 4])
def test_output_and_feature_shapes(bands, ratio):
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=bands, ratio=ratio, width=8))
    ms, pan = _inputs(bands, ratio)
    outputs, features = net.forward_features(ms, pan)
    assert len(outputs) == 1 and outputs[0].shape == (2, bands, 8 * ratio, 8 * ratio)
    assert features["hidden"].shape == (2, 8, 8 * ratio, 8 * ratio)
    assert net.feature_channels == {"hidden": 8}
    assert torch.equal(net(ms, pan), outputs[0])


@pytest.mark.parametrize("bands", [4, 8])
@pytest.mark.parametrize("ratio", [2, 4])
def test_every_parameter_gets_a_finite_nonzero_gradient(bands, ratio):
    torch.manual_seed(0)
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=bands, ratio=ratio))
    ms, pan = _inputs(bands, ratio)
    net(ms, pan).square().mean().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_zero_output_conv_gives_the_bicubic_ms():
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4))
    nn.init.zeros_(net.output.project.weight)
    nn.init.zeros_(net.output.project.bias)
    ms, pan = _inputs(4, 4)
    bicubic = nn.functional.interpolate(ms, scale_factor=4, mode="bicubic", align_corners=False)
    # (the bicubic's overshoots below 0 are clamped)
    torch.testing.assert_close(net(ms, pan), bicubic.clamp_min(0.0), rtol=0, atol=1e-6)


def test_zero_output_conv_with_glp_window_gives_the_local_glp_injection():
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4, glp_window=2))
    nn.init.zeros_(net.output.project.weight)
    nn.init.zeros_(net.output.project.bias)
    # bands proportional to the PAN: the local regression recovers each band's scale and the
    # injection rebuilds the bands' detail from the PAN's
    pan = 0.2 + 0.6 * torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    scales = torch.tensor([0.5, 0.8, 1.0, 1.3]).view(1, 4, 1, 1)
    ms = scales * nn.functional.avg_pool2d(pan, 4)
    fused = net(ms, pan)
    bicubic = nn.functional.interpolate(ms, scale_factor=4, mode="bicubic", align_corners=False)
    truth = scales * pan
    inner = (Ellipsis, slice(8, -8), slice(8, -8))
    assert (fused - truth)[inner].abs().max() < 0.02
    assert (bicubic - truth)[inner].abs().mean() > 5 * (fused - truth)[inner].abs().mean()


def test_glp_window_keeps_the_net_translation_equivariant():
    torch.manual_seed(0)
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4, glp_window=8)).eval()
    nn.init.normal_(net.output.project.weight, std=0.1)
    ms, pan = _inputs(4, 4, ms_size=40, batch=1)
    with torch.no_grad():
        whole = net(ms, pan)
        tile = net(ms[..., 8:32, 4:28], pan[..., 32:128, 16:112])
    # a tile agrees with the whole image wherever its border (24 px: half the gain window,
    # the box low-pass and the convs) is out of reach: tiles blended over a 32 px overlap match
    torch.testing.assert_close(tile[..., 24:-24, 24:-24], whole[..., 56:104, 40:88])


def test_fused_image_is_never_negative():
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4, glp_window=2))
    nn.init.constant_(net.output.project.bias, -0.5)
    ms, pan = _inputs(4, 4)
    fused = net(ms, pan)
    assert fused.min() == 0.0 and (fused == 0).float().mean() > 0.3


def test_a_negative_glp_window_is_refused_by_name():
    with pytest.raises(InputError, match="glp_window"):
        PansharpenLiteConfig(ms_bands=4, ratio=4, glp_window=-1)


def test_pan_the_size_of_the_ms_times_the_ratio_is_required():
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4))
    ms, _ = _inputs(4, 4)
    with pytest.raises(InputError, match="needs a 32x32 PAN"):
        net(ms, torch.rand(2, 1, 16, 16))
    with pytest.raises(InputError, match="4-band"):
        net(torch.rand(2, 3, 8, 8), torch.rand(2, 1, 32, 32))


def test_counter_counts_conv_transposed_conv_and_linear_multiply_adds():
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ConvTranspose2d(5, 2, 4, stride=2, padding=1),
                          nn.Flatten(), nn.Linear(2 * 20 * 20, 7))
    # conv: 100 outputs x 5 channels x 3 inputs x 9 taps; transposed conv: 100 inputs x 5
    # channels x 2 outputs x 16 taps; linear: 7 x 800 for each of the 2 images
    per_image = 100 * 5 * 3 * 9 + 100 * 5 * 2 * 16 + 7 * 800
    assert count_multiply_adds(model, torch.rand(2, 3, 10, 10)) == 2 * per_image
    assert count_multiply_adds(model, torch.rand(1, 3, 10, 10)) == per_image  # hooks were removed


def test_counter_counts_grouped_convs_per_group():
    depthwise = nn.Conv2d(6, 6, 3, padding=1, groups=6)
    assert count_multiply_adds(depthwise, torch.rand(1, 6, 4, 4)) == 16 * 6 * 1 * 9


@pytest.mark.parametrize("bands", [4, 8])
@pytest.mark.parametrize("ratio", [2, 4])
def test_default_lite_needs_30_times_fewer_multiply_adds_than_psdnet(bands, ratio):
    ms, pan = _inputs(bands, ratio, ms_size=64 // ratio, batch=1)
    teacher = build("psdnet", PSDNetConfig(ms_bands=bands, ratio=ratio))
    student = build("pansharpen_lite", PansharpenLiteConfig(ms_bands=bands, ratio=ratio))
    teacher_count = count_multiply_adds(teacher, ms, pan)
    student_count = count_multiply_adds(student, ms, pan)
    assert student_count * 30 <= teacher_count
    # the student is dominated by its 3x3 convs at PAN resolution: (C+1)*16 + 2*16*16 + 16*C taps
    assert student_count == 64 * 64 * 9 * ((bands + 2) * 16 + 2 * 16 * 16 + 16 * bands)
