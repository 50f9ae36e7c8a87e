"""KTDN dehazing nets, their teacher and lite student; the ResNet/Res2Net encoders."""
import pytest
import torch
from torch import nn

from geodistill.models.errors import InputError
from geodistill.models.nets import build
from geodistill.models.nets.backbones import EncoderSpec, ResNetEncoder
from geodistill.models.nets.blocks import AttentionResidualBlock
from geodistill.models.nets.flops import count_multiply_adds
from geodistill.models.nets.ktdn import KTDN, DehazeLiteConfig, KTDNConfig, KTDNTeacherConfig, \
    decoder_widths


def tiny_configs(bands: int) -> dict[str, KTDNConfig]:
    """Narrow versions of the three registered configs (the lite one is the real default)."""
    return {
        "ktdn": KTDNConfig(bands=bands, encoder_depths=(1, 1, 1), encoder_planes=(16, 32, 64),
                           stem_width=16, sr_width=16, sr_blocks=1),
        "ktdn_teacher": KTDNTeacherConfig(bands=bands, encoder_depths=(1, 1, 1),
                                          encoder_planes=(8, 32, 64), stem_width=16,
                                          bottleneck_width=256),
        "dehaze_lite": DehazeLiteConfig(bands=bands),
    }


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("bands", [3, 8])
@pytest.mark.parametrize("name", ["ktdn", "ktdn_teacher", "dehaze_lite"])
def test_output_and_bottleneck_shapes_on_a_non_square_tile(name, bands):
    config = tiny_configs(bands)[name]
    net = build(name, config).eval()
    assert isinstance(net, KTDN) and config.multiple_of == 32
    x = torch.rand(2, bands, 64, 96)
    output, features = net.forward_features(x)
    assert output.shape == (2, bands, 64, 96)
    width = {"ktdn": 256, "ktdn_teacher": 256, "dehaze_lite": 64}[name]
    assert features["bottleneck"].shape == (2, width, 4, 6)
    assert net.feature_channels == {"bottleneck": width}
    assert torch.equal(net(x), output)


@pytest.mark.parametrize("bands", [3, 8])
@pytest.mark.parametrize("name", ["ktdn", "ktdn_teacher", "dehaze_lite"])
def test_every_parameter_gets_a_finite_nonzero_gradient(name, bands):
    torch.manual_seed(0)
    net = build(name, tiny_configs(bands)[name])
    if net.config.output == "affine":  # starts as the identity (zero last conv): move off it
        torch.nn.init.normal_(net.tail.project[-1].weight, std=0.01)
    net(torch.rand(2, bands, 32, 64)).square().mean().backward()
    for parameter_name, parameter in net.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), parameter_name
        # an attention bottleneck of 1-2 ReLU units may be off for one input: no gradient there
        if "attention" not in parameter_name:
            assert parameter.grad.abs().sum() > 0, parameter_name


def test_tiles_must_be_multiples_of_32_and_have_the_model_bands():
    net = build("dehaze_lite", DehazeLiteConfig(bands=3))
    with pytest.raises(InputError, match="multiples of 32"):
        net(torch.rand(1, 3, 48, 64))
    with pytest.raises(InputError, match="3-band"):
        net(torch.rand(1, 4, 64, 64))


def test_config_dicts_rebuild_the_same_net():
    config = tiny_configs(8)["ktdn"]
    net = build("ktdn", config)
    rebuilt = build("ktdn", {**vars(config), "encoder_depths": [1, 1, 1]})  # JSON gives lists
    assert rebuilt.config == config
    rebuilt.load_state_dict(net.state_dict())


def test_decoder_widths_follow_the_paper_and_refuse_indivisible_widths():
    assert decoder_widths((256, 512), 1024) == [256, 192, 112, 28]
    assert decoder_widths((64, 128), 1024) == [256, 96, 40, 10]  # the ResNet-18 teacher
    with pytest.raises(ValueError, match="step 4 gets 10"):
        decoder_widths((16, 32), 256)  # 256/4 + 32 = 96 -> 24; 24 + 16 = 40 -> 10
    with pytest.raises(ValueError, match="step 1"):
        decoder_widths((16, 32), 30)


def test_paper_sized_net_has_the_papers_parameter_count_and_the_lite_is_30x_cheaper():
    big = build("ktdn", {})
    assert sum(p.numel() for p in big.parameters()) == pytest.approx(49.5e6, rel=0.02)
    counts = {}
    for bands in (3, 8):
        x = torch.rand(1, bands, 64, 64)
        counts[bands] = (count_multiply_adds(build("ktdn", {"bands": bands}), x),
                         count_multiply_adds(build("dehaze_lite", {"bands": bands}), x))
        assert counts[bands][1] * 30 <= counts[bands][0]
    # 24.6 G multiply-adds (49 GFLOPs) per 256^2 RGB tile, as the paper's 40.8 GFLOPs; lite ~87x less
    assert counts[3][0] * 16 == pytest.approx(24.6e9, rel=0.01)
    assert counts[3][0] / counts[3][1] == pytest.approx(87, rel=0.05)


def test_encoders_return_layers_at_1_4_1_8_1_16_with_their_channels():
    x = torch.rand(1, 3, 64, 64)
    for spec in (EncoderSpec(block="basic", depths=(1, 1, 1), planes=(8, 16, 32), stem_width=8),
                 EncoderSpec(block="bottleneck", depths=(1, 2, 1), planes=(8, 16, 32),
                             stem_width=8, avg_down=True),
                 EncoderSpec(block="res2net", depths=(2, 1, 1), planes=(16, 16, 32),
                             stem="deep", stem_width=16, avg_down=True)):
        features = ResNetEncoder(spec)(x)
        assert spec.reduction == 16
        for name, size in (("stem", 16), ("layer1", 16), ("layer2", 8), ("layer3", 4)):
            assert features[name].shape == (1, spec.channels[name], size, size)


def test_res2net_101_v1b_has_its_published_parameter_count():
    spec = EncoderSpec(block="res2net", depths=(3, 4, 23, 3), planes=(64, 128, 256, 512),
                       stem="deep", avg_down=True)
    classifier = 2048 * 1000 + 1000
    count = sum(p.numel() for p in ResNetEncoder(spec).parameters())
    assert count + classifier == pytest.approx(45.2e6, rel=0.005)  # Res2Net-101 v1b 26w4s


def test_attention_block_with_a_zero_second_conv_is_the_identity():
    block = AttentionResidualBlock(8)
    nn.init.zeros_(block.second.weight)
    nn.init.zeros_(block.second.bias)
    x = torch.rand(2, 8, 16, 16)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)


def test_affine_lite_starts_as_the_identity_and_passes_detail_through():
    """The lite student's tail gives a gain and an offset: untrained it returns its input, and
    any output is x * (1 + gain) + offset with the gain and offset from the tail."""
    torch.manual_seed(0)
    net = build("dehaze_lite", DehazeLiteConfig(bands=3)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(net(x), x)
        torch.nn.init.normal_(net.tail.project[-1].weight, std=0.1)
        gain_offset = {}
        net.tail.register_forward_hook(lambda module, args, out: gain_offset.update(out=out))
        y = net(x)
    gain, offset = gain_offset["out"].split(3, dim=1)
    torch.testing.assert_close(y, x * (1 + gain) + offset)
    assert not torch.equal(y, x)
    assert build("ktdn", KTDNConfig(bands=3, encoder_depths=(1, 1, 1))).config.output == "direct"

