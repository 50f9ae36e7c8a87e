"""Training GINet on a synthetic scene whose classes can be learnt from the pixel colours."""
import numpy as np
import pytest
import torch

from geodistill.models.data.labels import align_label_raster
from geodistill.models.data.patches import sample_patches
from geodistill.models.training.train_segmentation import Batch, TrainConfig, train_segmentation
from geodistill.models.errors import Cancelled, InputError
from geodistill.models.nets import build
from geodistill.models.nets.ginet import GINetConfig, GINetLiteConfig, crop_windows

from rasters import smooth_field, write_raster

COLOURS = np.array([[200, 900, 300], [800, 300, 200], [400, 400, 900]])  # one per class


def tiny(config_class=GINetConfig, classes=3, **changes):
    values = dict(bands=3, classes=classes, widths=[8, 16], blocks=[1, 1], decoder_width=8,
                  guidance_width=8, global_size=32)
    values.update(changes)
    return config_class(**values)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """A 96x96 scene of three colour-coded classes, a third of its pixels labelled (values 1-3)."""
    folder = tmp_path_factory.mktemp("scene")
    rng = np.random.default_rng(0)
    field = smooth_field((96, 96), rng, scale=16)
    classes = np.digitize(field, [0.35, 0.65])
    image = COLOURS[classes].transpose(2, 0, 1) + rng.normal(0, 60, (3, 96, 96))
    labels = np.where(rng.random((96, 96)) < 0.33, classes + 1, 0).astype(np.uint8)
    raster = write_raster(folder / "scene.tif", np.clip(image, 0, 2000).astype(np.uint16))
    label_raster = write_raster(folder / "labels.tif", labels)
    scene = align_label_raster(label_raster, raster, ignore_value=0)
    return sample_patches([scene], patch_size=32, count=40, global_size=32, seed=0)


def config(**changes):
    values = dict(epochs=6, batch_size=4, learning_rate=3e-3, patience=10, device="cpu", seed=0)
    values.update(changes)
    return TrainConfig(**values)


def test_training_lowers_the_loss_and_learns_the_classes(samples):
    torch.manual_seed(0)
    reports = []
    result = train_segmentation(samples, config(), progress=reports.append, net_config=tiny())
    history = [h for h in result.history if h["epoch"] > 0]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert result.best_val_loss < 0.5 * result.history[0]["val_loss"]
    assert result.metrics["miou"] > 0.7 and result.metrics["overall_accuracy"] > 0.85
    assert result.architecture == "ginet" and [c["id"] for c in result.classes] == [1, 2, 3]
    assert build(result.architecture, result.config).config == result.model.config
    assert reports == sorted(reports) and reports[-1] == 1.0


def test_lite_student_distilled_from_a_teacher(samples):
    teacher = train_segmentation(samples, config(epochs=2), net_config=tiny()).model
    result = train_segmentation(samples, config(epochs=3), teacher=teacher,
                                net_config=tiny(GINetLiteConfig, widths=[8, 8]))
    assert result.architecture == "ginet_lite" and result.distilled_from == "ginet"
    history = [h for h in result.history if h["epoch"] > 0]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result.metrics["validation_samples"] == 6


def test_more_classes_than_the_model_has_is_refused(samples):
    with pytest.raises(InputError, match="3 classes but the model has only 2"):
        train_segmentation(samples, config(), net_config=tiny(classes=2))


def test_teacher_with_other_classes_is_refused(samples):
    teacher = build("ginet", tiny(classes=5))
    with pytest.raises(InputError, match="teacher has 5 classes"):
        train_segmentation(samples, config(), teacher=teacher, net_config=tiny())


def test_cancel_stops_training(samples):
    with pytest.raises(Cancelled):
        train_segmentation(samples, config(), is_cancelled=lambda: True, net_config=tiny())


def test_time_box_stops_after_the_epoch_that_passes_it(samples):
    """minutes=0: the first epoch ends past the limit, so one epoch of the 6 runs."""
    logs = []
    result = train_segmentation(samples, config(minutes=1e-9), log=logs.append, net_config=tiny())
    assert [h["epoch"] for h in result.history] == [0, 1]
    assert "time limit reached after epoch 1" in logs[-1]


def test_flipped_batch_keeps_each_patch_on_its_region_of_the_global_view():
    scene = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(1, 2, 16, 16)
    windows = torch.tensor([[0.25, 0.5, 0.75, 1.0]])  # rows 4-12, cols 8-16
    batch = Batch(scene[:, :, 4:12, 8:16].clone(), torch.zeros(1, 8, 8, dtype=torch.long), windows,
                  torch.zeros(1, dtype=torch.long), scene, torch.zeros(1, 16, 16, dtype=torch.long))
    for flips in [(True, False, False), (False, True, False), (False, False, True), (True, True, True)]:
        moved = batch.flipped(*flips)
        crop = crop_windows(moved.global_images, moved.windows, (8, 8), moved.scene_index)
        assert torch.equal(crop, moved.images)
