"""PSDNet: shapes, gradients, residual form, quadrant stitching and the ground-truth teacher."""
import pytest
import torch

from geodistill.models.errors import InputError
from geodistill.models.nets import build
from geodistill.models.nets.pansharpen_common import InjectionBase, upsample_ms
from geodistill.models.nets.pansharpen_lite import PansharpenLite, PansharpenLiteConfig
from geodistill.models.nets.psdnet import PSDNet, PSDNetConfig, merge_quadrants, split_quadrants

TINY = dict(width=8, projection_pairs=1, unet_blocks=1, refine_blocks=1)


def _inputs(bands: int, ratio: int, ms_size: int = 8, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ms = torch.rand(batch, bands, ms_size, ms_size, generator=generator)
    pan = torch.rand(batch, 1, ms_size * ratio, ms_size * ratio, generator=generator)
    return ms, pan


@pytest.mark.parametrize("bands", [4, 8])
@pytest.mark.parametrize("ratio", [2, 4])
def test_stage_outputs_and_features_have_pan_resolution(bands, ratio):
    net = PSDNet(PSDNetConfig(ms_bands=bands, ratio=ratio, **TINY))
    ms, pan = _inputs(bands, ratio)
    outputs, features = net.forward_features(ms, pan)
    size = 8 * ratio
    assert [tuple(o.shape) for o in outputs] == [(2, bands, size, size)] * 3
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "stage2_decoder_half": (2, 16, size // 2, size // 2),
        "stage2_decoder": (2, 8, size, size),
        "stage3": (2, 8, size, size)}
    assert net.feature_channels == {k: v.shape[1] for k, v in features.items()}
    assert torch.equal(net(ms, pan), outputs[-1].clamp_min(0.0))


@pytest.mark.parametrize("bands", [4, 8])
@pytest.mark.parametrize("ratio", [2, 4])
def test_gradients_reach_every_stage_and_every_parameter(bands, ratio):
    torch.manual_seed(1)
    net = PSDNet(PSDNetConfig(ms_bands=bands, ratio=ratio, **TINY))
    ms, pan = _inputs(bands, ratio)
    outputs, _ = net.forward_features(ms, pan)
    sum(o.square().mean() for o in outputs).backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    # per stage rather than per tensor: a bias-free attention bottleneck whose few hidden
    # ReLUs all start negative passes no gradient, which is the block's nature, not a wiring bug
    for name, stage in net.named_children():
        assert sum(p.grad.abs().sum() for p in stage.parameters()) > 0, name


def test_zero_output_convs_give_the_bicubic_ms_at_every_stage():
    net = PSDNet(PSDNetConfig(ms_bands=4, ratio=4, **TINY))
    for head in (net.stage1.output.project, net.stage2_output.project, net.stage3_output.project):
        torch.nn.init.zeros_(head.weight)
    ms, pan = _inputs(4, 4)
    outputs, _ = net.forward_features(ms, pan)
    bicubic = torch.nn.functional.interpolate(ms, scale_factor=4, mode="bicubic", align_corners=False)
    for output in outputs:
        torch.testing.assert_close(output, bicubic, rtol=0, atol=1e-6)
    torch.testing.assert_close(upsample_ms(ms, 4), bicubic, rtol=0, atol=1e-6)


def test_with_a_glp_window_every_stage_starts_from_the_lite_students_injection():
    net = PSDNet(PSDNetConfig(ms_bands=4, ratio=4, glp_window=2, **TINY))
    lite = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4, glp_window=2))
    for head in (net.stage1.output.project, net.stage2_output.project, net.stage3_output.project,
                 lite.output.project):
        torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(lite.output.project.bias)
    # bands proportional to the PAN (the lite student's tests show the injection rebuilds them)
    pan = 0.2 + 0.6 * torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    ms = torch.tensor([0.5, 0.8, 1.0, 1.3]).view(1, 4, 1, 1) * torch.nn.functional.avg_pool2d(pan, 4)
    outputs, _ = net.forward_features(ms, pan)
    base = InjectionBase(ms, pan, 4, 2)
    assert (base.base - base.ms_up).abs().mean() > 0.02  # the injection is not the bicubic MS
    for output in outputs:
        torch.testing.assert_close(output, base.base, rtol=0, atol=1e-6)
    torch.testing.assert_close(lite(ms, pan), base.base, rtol=0, atol=1e-6)  # no clamping here


def test_fused_image_is_never_negative_but_training_sees_the_raw_stages():
    net = PSDNet(PSDNetConfig(ms_bands=4, ratio=4, **TINY))
    torch.nn.init.zeros_(net.stage3_output.project.weight)
    ms, pan = _inputs(4, 4)
    ms = ms - 0.5  # a bicubic base that dips below 0 in places
    fused = net(ms, pan)
    raw = net.forward_features(ms, pan)[0][-1]
    assert raw.min() < 0 and fused.min() == 0.0
    torch.testing.assert_close(fused, raw.clamp_min(0.0))


def test_a_negative_glp_window_is_refused_by_name():
    with pytest.raises(InputError, match="glp_window"):
        PSDNetConfig(ms_bands=4, ratio=4, glp_window=-2)


@pytest.mark.parametrize("ratio", [2, 4])
def test_quadrants_overlap_by_four_ms_pixels_and_stitch_back_exactly(ratio):
    image = torch.rand(2, 3, 8 * ratio, 12 * ratio)
    overlap = 4 * ratio
    quadrants = split_quadrants(image, overlap)
    assert quadrants.shape == (8, 3, 4 * ratio + overlap // 2, 6 * ratio + overlap // 2)
    top_left, top_right = quadrants[:2], quadrants[2:4]
    # the right quadrant starts `overlap` columns before the left one ends
    assert torch.equal(top_left[..., -overlap:], top_right[..., :overlap])
    torch.testing.assert_close(merge_quadrants(quadrants, 8 * ratio, 12 * ratio, overlap), image,
                               rtol=0, atol=1e-6)


def test_quadrant_seam_is_a_smooth_blend_of_both_sides():
    ratio, overlap = 4, 16
    ones = torch.ones(1, 1, 32, 32)
    quadrants = split_quadrants(ones, overlap)
    quadrants[1::2] = 0.0  # right-hand quadrants predict 0, left-hand ones 1
    row = merge_quadrants(quadrants, 32, 32, overlap)[0, 0, 0]
    overlap_start = 16 - overlap // 2
    assert torch.all(row[:overlap_start + ratio] == 1)      # left quadrant alone, then its margin
    assert torch.all(row[overlap_start + overlap - ratio:] == 0)
    seam = row[overlap_start + ratio:overlap_start + overlap - ratio]
    assert torch.all(seam[1:] < seam[:-1])                  # strictly decreasing ramp
    torch.testing.assert_close(seam + seam.flip(0), torch.ones_like(seam))


def test_teacher_output_depends_on_the_ground_truth_and_the_student_ignores_it():
    torch.manual_seed(0)
    teacher = PSDNet(PSDNetConfig(ms_bands=4, ratio=4, teacher=True, **TINY)).eval()
    student = PSDNet(PSDNetConfig(ms_bands=4, ratio=4, **TINY)).eval()
    ms, pan = _inputs(4, 4)
    truth_a, truth_b = torch.rand(2, 2, 4, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        teacher_a, _ = teacher.forward_features(ms, pan, truth_a)
        teacher_b, _ = teacher.forward_features(ms, pan, truth_b)
        student_a = student(ms, pan, truth_a)
        student_b = student(ms, pan, truth_b)
        student_plain = student(ms, pan)
    assert torch.equal(teacher_a[0], teacher_b[0])          # stage 1 never sees the truth
    assert (teacher_a[1] - teacher_b[1]).abs().max() > 1e-4  # stage 2 does
    assert (teacher_a[2] - teacher_b[2]).abs().max() > 1e-4
    assert torch.equal(student_a, student_b)
    assert torch.equal(student_a, student_plain)


def test_teacher_without_ground_truth_is_refused():
    teacher = PSDNet(PSDNetConfig(ms_bands=4, ratio=4, teacher=True, **TINY))
    ms, pan = _inputs(4, 4)
    with pytest.raises(InputError, match="ground truth"):
        teacher(ms, pan)


def test_pan_tile_must_be_a_multiple_of_the_config_constraint():
    config = PSDNetConfig(ms_bands=4, ratio=4, **TINY)
    assert config.multiple_of == 16 and PSDNetConfig(ratio=2).multiple_of == 8
    net = PSDNet(config)
    ms, pan = _inputs(4, 4, ms_size=6)  # 24 PAN pixels: not a multiple of 16
    with pytest.raises(InputError, match="multiples of 16"):
        net(ms, pan)


def test_registry_builds_psdnet_from_a_card_dict():
    net = build("psdnet", {"ms_bands": 8, "ratio": 2, "width": 8})
    assert isinstance(net, PSDNet)
    assert net.config == PSDNetConfig(ms_bands=8, ratio=2, width=8)
