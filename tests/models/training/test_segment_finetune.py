"""train_segmentation's default start: the bundled land-cover model, fine-tuned on the user's
labels with new class heads; bands no bundled model reads are refused with the way out."""
import numpy as np
import pytest
import torch

from rasters import write_raster
from segmentation_scenes import CLASS_IDS, segmentation_scene

from geodistill.models.errors import InputError
from geodistill.models.package import load_model
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.segment import choose_model
from geodistill.models.tasks.segment_training import (SegmentationTrainingRequest,
                                                      train_segmentation_model)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_default_training_fine_tunes_the_bundled_model_with_the_labels_classes(tmp_path):
    scene = segmentation_scene(tmp_path, size=128)
    output = tmp_path / "tuned.safetensors"
    lines = []
    card = train_segmentation_model(SegmentationTrainingRequest(
        [str(scene.raster)], str(scene.label_raster), str(output), ignore_value=0, epochs=1,
        tile_size=64, samples_per_raster=16, batch_size=8, device="cpu"),
        Callbacks(log=lines.append))
    bundled_card, bundled = load_model(choose_model(3, "default", None))
    tuned_card, tuned = load_model(output)
    assert any(f"Fine-tuning the bundled model {bundled_card.name}" in line for line in lines)
    assert card.architecture == bundled_card.architecture
    assert [c["id"] for c in tuned_card.classes] == CLASS_IDS and tuned.config.classes == 3
    assert tuned.local_head.weight.shape[0] == 3
    if bundled_card.architecture == "ginet_efficientnet":
        # an EfficientNet-Lite model: its stems and first encoder layers stay frozen
        assert torch.equal(tuned.local_encoder.stem[1].conv.weight,
                           bundled.local_encoder.stem[1].conv.weight)
        assert torch.equal(tuned.global_encoder.layers[0][0].expand.conv.weight,
                           bundled.global_encoder.layers[0][0].expand.conv.weight)
    bundled_weights = dict(bundled.named_parameters())
    changed = [name for name, value in tuned.named_parameters()
               if value.shape == bundled_weights[name].shape
               and not torch.equal(value, bundled_weights[name])]
    assert changed, "fine-tuning left every bundled weight as it was"
    assert "fine-tuned from" in tuned_card.description


def test_bands_no_bundled_model_reads_are_refused_before_training(tmp_path):
    four = write_raster(tmp_path / "four.tif", np.ones((4, 64, 64), np.uint16))
    labels = write_raster(tmp_path / "labels.tif", np.ones((1, 64, 64), np.uint8))
    with pytest.raises(InputError, match="efficientnet, lite or ginet"):
        train_segmentation_model(SegmentationTrainingRequest(
            [str(four)], str(labels), str(tmp_path / "m.safetensors"), device="cpu"))
    assert not (tmp_path / "m.safetensors").exists()

