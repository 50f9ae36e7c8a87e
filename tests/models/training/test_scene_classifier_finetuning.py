"""Scene classifier training options: crop and colour augmentation, frozen blocks, resuming
from an epoch checkpoint, and fine-tuning from the bundled classifier on tiny chips."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from classification_scenes import CLASS_LOOKS

from geodistill.models.data.chip_files import load_chip_folder
from geodistill.models.training.train_classifier import (ClassifierTrainConfig, jitter_colours,
                                                        random_crops, train_classifier)
from geodistill.models.errors import InputError
from geodistill.models.package import load_model
from geodistill.models.registry import resolve_model
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.classify import DEFAULT_MIN_CONFIDENCE, NO_CLASS, mark_uncertain, uncertain_class
from geodistill.models.tasks.classify_training import (BUNDLED_CLASSIFIER, ClassifierTrainingRequest,
                                                       train_scene_classifier)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL_NET = {"variant": "lite0", "input_size": 32}


@pytest.fixture(scope="module")
def chips(chip_folder):
    return load_chip_folder(chip_folder)


def quick(**changes):
    values = dict(epochs=2, batch_size=6, device="cpu", validation_fraction=0.3, patience=8)
    values.update(changes)
    return ClassifierTrainConfig(**values)


def test_random_crops_stay_inside_the_chip_and_shrink_its_view():
    ramp = torch.linspace(0, 1, 64).expand(64, 64)  # grows from left to right
    images = torch.stack([ramp, ramp.T, ramp * 0 + 0.5])[None].repeat(16, 1, 1, 1)
    same = random_crops(images, 64, 0.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    crops = random_crops(images, 32, 0.5, torch.Generator().manual_seed(0))
    assert crops.shape == (16, 3, 32, 32)
    assert crops.min() >= 0 and crops.max() <= 1
    spans = crops[:, 0, 0, -1] - crops[:, 0, 0, 0]  # the ramp's range across each crop
    assert (spans < 1.0).all() and (spans > 0.45).all() and spans.std() > 0.02


def test_colour_jitter_scales_brightness_contrast_and_saturation_within_bounds():
    images = torch.rand(64, 3, 8, 8)
    torch.testing.assert_close(jitter_colours(images, 0.0, torch.Generator()), images)
    jittered = jitter_colours(images, 0.2, torch.Generator().manual_seed(1))
    ratio = jittered.mean(dim=(1, 2, 3)) / images.mean(dim=(1, 2, 3))
    assert (ratio > 0.79).all() and (ratio < 1.21).all() and ratio.std() > 0.03


def test_frozen_blocks_keep_their_weights_and_statistics(chips):
    result = train_classifier(chips, "efficientnet_lite_classifier", SMALL_NET,
                              quick(frozen_until="stride8", epochs=1))
    torch.manual_seed(0)  # the seed training builds its net with: the same starting weights
    fresh = result.model.__class__(result.model.config)
    for frozen, trained in zip(fresh.frozen_blocks("stride8"), result.model.frozen_blocks("stride8")):
        for (name, before), after in zip(frozen.state_dict().items(), trained.state_dict().values()):
            assert torch.equal(before, after), name
    assert not torch.equal(fresh.encoder.blocks[-1].project.conv.weight,
                           result.model.encoder.blocks[-1].project.conv.weight)
    with pytest.raises(InputError, match="only EfficientNet-Lite"):
        train_classifier(chips, "resnet18_classifier", {"width": 8, "depths": (1, 1, 1, 1)},
                         quick(frozen_until="stride8"))


def test_a_stopped_run_resumes_after_its_last_epoch(chips, tmp_path):
    checkpoint = tmp_path / "run.pt"
    net = {"width": 8, "depths": (1, 1, 1, 1), "input_size": 24}
    first = train_classifier(chips, "resnet18_classifier", net, quick(epochs=2), checkpoint=checkpoint)
    assert checkpoint.exists() and [h["epoch"] for h in first.history] == [0, 1, 2]
    lines = []
    resumed = train_classifier(chips, "resnet18_classifier", net, quick(epochs=4),
                               checkpoint=checkpoint, log=lines.append)
    assert any("resumed after epoch 2" in line for line in lines)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3, 4]
    assert resumed.history[:3] == first.history
    assert not list(tmp_path.glob("*.partial"))


def test_mark_uncertain_relabels_cells_below_the_threshold():
    top = np.array([[[2, 0], [1, 2], [NO_CLASS, NO_CLASS]]], dtype=np.uint8)
    probabilities = np.array([[[0.9, 0.05], [0.3, 0.25], [0.0, 0.0]]], dtype=np.float32)
    assert mark_uncertain(top, probabilities, 0.4, 3) == 1
    assert top.tolist() == [[[2, 0], [3, 1], [NO_CLASS, NO_CLASS]]]
    assert probabilities[0, 1].tolist() == pytest.approx([0.3, 0.3])
    assert probabilities[0, 0].tolist() == pytest.approx([0.9, 0.05])
    assert uncertain_class([{"id": 4, "name": "a", "color": "#000000"}, {"id": 9, "name": "b", "color": "#ffffff"}]) \
        == {"id": 10, "name": "uncertain", "color": "#a0a0a0"}
    assert 0 < DEFAULT_MIN_CONFIDENCE < 1


def test_plugin_default_minimum_confidence_is_the_engines():
    from geodistill.models.catalogue import CLASSIFY_SCENES

    assert CLASSIFY_SCENES.parameter("MIN_CONFIDENCE").default == DEFAULT_MIN_CONFIDENCE


@pytest.mark.slow
def test_fine_tuning_starts_from_the_bundled_classifier(chip_folder, tmp_path):
    bundled_card, bundled = load_model(resolve_model(BUNDLED_CLASSIFIER, task="classification"))
    lines = []
    path = tmp_path / "mine.safetensors"
    card = train_scene_classifier(ClassifierTrainingRequest(
        output_model=str(path), chips_folder=str(chip_folder), epochs=8, batch_size=8,
        device="cpu"), Callbacks(log=lines.append))
    loaded_card, model = load_model(path)
    assert card.architecture == "efficientnet_lite_classifier" and card.config["variant"] == "lite0"
    assert card.config["input_size"] == bundled_card.config["input_size"]
    assert [c["name"] for c in card.classes] == sorted(CLASS_LOOKS)
    # the first blocks are the bundled ones, unchanged; the rest learned the new classes
    for kept, source in zip(model.frozen_blocks("stride8"), bundled.frozen_blocks("stride8")):
        for name, value in kept.state_dict().items():
            assert torch.equal(value, source.state_dict()[name]), name
    assert not torch.equal(model.encoder.head.conv.weight, bundled.encoder.head.conv.weight)
    assert card.metrics["validation_overall_accuracy"] >= 0.9
    assert any(BUNDLED_CLASSIFIER in line for line in lines)
    assert any("validation overall accuracy" in line for line in lines)


def test_fine_tuning_needs_an_efficientnet_package(chip_folder, tmp_path):
    other = tmp_path / "resnet.safetensors"
    train_scene_classifier(ClassifierTrainingRequest(
        output_model=str(other), chips_folder=str(chip_folder), architecture="resnet18",
        epochs=1, net_options={"width": 8, "depths": [1, 1, 1, 1]}, device="cpu"))
    with pytest.raises(InputError, match="not an EfficientNet-Lite0 classifier"):
        train_scene_classifier(ClassifierTrainingRequest(
            output_model=str(tmp_path / "x.safetensors"), chips_folder=str(chip_folder),
            start_from=str(other), epochs=1, device="cpu"))
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("method", ["plain", "class_centric", "class_aware"])
def test_heads_on_frozen_embeddings_learn_separable_classes(method):
    from geodistill.models.training.train_heads import HeadTrainConfig, train_head

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(40)
    centres = torch.randn(3, 16, generator=generator) * 5
    embeddings = centres[labels] + torch.randn(120, 16, generator=generator)
    order = torch.randperm(120, generator=generator)
    train, validation = order[:90], order[90:]
    teacher_logits = F.one_hot(labels, 3).float() * 5  # a confident, correct teacher
    head, scores = train_head(embeddings, labels, train, validation, 3,
                              HeadTrainConfig(method=method, epochs=30, batch_size=30),
                              teacher_logits)
    assert scores["overall_accuracy"] >= 0.95 and scores["kappa"] >= 0.9
    assert head.weight.shape == (3, 16)
    with pytest.raises(ValueError, match="teacher's logits"):
        train_head(embeddings, labels, train, validation, 3, HeadTrainConfig(method="class_centric"))
