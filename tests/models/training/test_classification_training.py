"""Scene classifier training on tiny synthetic chips, chip loading from folders and vectors."""
import numpy as np
import pytest
import rasterio
import torch

from classification_scenes import (CLASS_LOOKS, block_centre, scene_chip, write_block_mosaic,
                                   write_chip, write_chip_folder, write_points)

from geodistill.models.data.chip_files import chips_from_vector, load_chip_folder
from geodistill.models.data.chips import chip_scaling
from geodistill.models.training.train_classifier import (ChipBatches, ClassifierTrainConfig, teacher_targets,
                                                        train_classifier)
from geodistill.models.errors import InputError
from geodistill.models.nets import build
from geodistill.models.package import load_model
from geodistill.models.tasks.classify_training import (ClassifierTrainingRequest,
                                                       train_scene_classifier)

TINY_RESNET = {"width": 8, "depths": (1, 1, 1, 1)}
LAYOUT = [["forest", "water", "urban"], ["urban", "forest", "water"]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def chips(chip_folder):
    return load_chip_folder(chip_folder)


def quick(method, **changes):
    values = dict(method=method, epochs=8, batch_size=6, device="cpu", validation_fraction=0.3,
                  patience=8)
    values.update(changes)
    return ClassifierTrainConfig(**values)


def test_chip_folder_reads_png_and_tif_chips_by_class(chips):
    assert [c["name"] for c in chips.classes] == sorted(CLASS_LOOKS)
    assert chips.images.shape == (42, 3, 32, 32) and chips.images.dtype == np.uint8
    assert np.bincount(chips.labels).tolist() == [14, 14, 14]
    assert chips.chip_size == 32 and chips.gsd is None and chips.warnings == []
    assert {n.rsplit(".", 1)[1] for n in chips.names} == {"png", "tif"}


@pytest.mark.parametrize("method", ["plain", "class_aware"])
def test_training_on_separable_chips_reaches_high_accuracy(chips, method):
    result = train_classifier(chips, "resnet18_classifier", {**TINY_RESNET, "input_size": 32},
                              quick(method))
    assert result.metrics["overall_accuracy"] >= 0.9 and result.metrics["kappa"] >= 0.85
    assert result.config["classes"] == 3 and result.architecture == "resnet18_classifier"
    assert len(result.history) >= 2 and result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    if method == "class_aware":
        assert 0.05 <= result.train_config["final_margin"] < 1.0  # the margin adapted (shrank)


def test_class_centric_student_learns_from_a_teacher(chips):
    teacher = train_classifier(chips, "resnet50_classifier", {**TINY_RESNET, "input_size": 32},
                               quick("plain")).model
    # the student is narrower (64 features vs the teacher's 256) and sees smaller chips
    result = train_classifier(chips, "resnet18_classifier", {**TINY_RESNET, "input_size": 24},
                              quick("class_centric", per_class=2, epochs=12,
                                                    patience=12), teacher=teacher,
                              teacher_name="tiny_teacher")
    assert result.metrics["overall_accuracy"] >= 0.9
    assert result.distilled_from == "tiny_teacher" and result.config["input_size"] == 24


def test_teacher_soft_targets_are_its_logits_of_the_turned_chips_the_student_sees(chips):
    torch.manual_seed(0)
    # an untrained net: its logits change when a chip is turned, so a wrong view would show
    teacher = build("resnet50_classifier", {**TINY_RESNET, "bands": 3, "classes": 3, "input_size": 24}).eval()
    student = build("resnet18_classifier", {**TINY_RESNET, "bands": 3, "classes": 3, "input_size": 32})
    batches = ChipBatches(chips, chip_scaling(chips.images), torch.device("cpu"), seed=0)
    train_index = torch.tensor([3, 17, 40, 8])
    targets = teacher_targets(teacher, batches, train_index, 3, quick("class_centric"))
    table = targets.soft_targets
    assert targets.centres.shape == (3, student.embedding_channels * 4)
    assert table.shape == (len(chips), 8, 3)
    with torch.no_grad():
        for view in (0, 5):
            seen = batches.batch(train_index, 24, torch.full((4,), view))
            torch.testing.assert_close(table[train_index, view], teacher(seen), rtol=1e-4, atol=1e-5)
    assert not table[0].any()  # chips outside the training split are never looked up
    assert not torch.allclose(table[train_index, 0], table[train_index, 5])
    none = teacher_targets(teacher, batches, train_index, 3, quick("class_centric", kd_weight=0))
    assert none.soft_targets is None


@pytest.mark.parametrize("change", [{"per_class": 0}, {"kd_weight": -1.0}, {"temperature": 0.0}])
def test_class_centric_settings_out_of_range_are_named(change):
    with pytest.raises(InputError, match=next(iter(change))):
        quick("class_centric", **change)


def test_class_centric_without_teacher_says_what_to_give(chips):
    with pytest.raises(InputError, match="give a TEACHER"):
        train_classifier(chips, "resnet18_classifier", TINY_RESNET, quick("class_centric"))


def test_mixed_sizes_are_resized_and_bad_files_skipped_by_name(tmp_path):
    folder = write_chip_folder(tmp_path / "chips", per_class=3, size=32, classes=("forest", "water"))
    write_chip(folder / "forest" / "big.tif", scene_chip("forest", 48, np.random.default_rng(0)))
    (folder / "water" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    lines = []
    chips = load_chip_folder(folder, log=lines.append)
    assert chips.images.shape == (7, 3, 32, 32) and chips.chip_size == 32
    assert any("water/broken.jpg" in w and "cannot be decoded" in w for w in chips.warnings)
    assert any("1 chip(s) are not 32 x 32" in line for line in lines)
    resized = load_chip_folder(folder, input_size=16)
    assert resized.images.shape == (7, 3, 16, 16)


def test_empty_class_folder_is_named(tmp_path):
    folder = write_chip_folder(tmp_path / "chips", per_class=2, classes=("forest",))
    (folder / "desert").mkdir()
    with pytest.raises(InputError, match="class folder 'desert'.*holds no readable image chip"):
        load_chip_folder(folder)


def test_folder_without_class_folders(tmp_path):
    write_chip(tmp_path / "a.png", scene_chip("forest", 8, np.random.default_rng(0)))
    with pytest.raises(InputError, match="no class folders"):
        load_chip_folder(tmp_path)


def test_chips_are_cut_around_points_in_another_crs(tmp_path):
    raster = write_block_mosaic(tmp_path / "mosaic.tif", LAYOUT)
    # a quarter pixel off the block centres, so reprojection round-off cannot change the pixel
    points = [(x + 0.25, y - 0.25, name) for r, row in enumerate(LAYOUT)
              for c, name in enumerate(row) for x, y in [block_centre(r, c)]]
    utm = chips_from_vector(raster, write_points(tmp_path / "utm.geojson", points), "landuse", 32)
    from rasterio.warp import transform
    xs, ys = transform("EPSG:32633", "EPSG:4326", [p[0] for p in points], [p[1] for p in points])
    wgs = chips_from_vector(raster, write_points(tmp_path / "wgs.geojson",
                                                 [(x, y, p[2]) for x, y, p in zip(xs, ys, points)],
                                                 crs="EPSG:4326"), "landuse", 32)
    assert [c["name"] for c in utm.classes] == ["forest", "urban", "water"]
    assert utm.labels.tolist() == [0, 2, 1, 1, 0, 2] and utm.gsd == pytest.approx(1.0)
    with rasterio.open(raster) as dataset:
        assert np.array_equal(utm.images[0], dataset.read(window=((0, 32), (0, 32))))
    assert np.array_equal(wgs.images, utm.images) and wgs.labels.tolist() == utm.labels.tolist()


def test_points_outside_the_raster(tmp_path):
    raster = write_block_mosaic(tmp_path / "mosaic.tif", LAYOUT)
    far = write_points(tmp_path / "far.geojson", [(600000.0, 4400000.0, "forest")])
    with pytest.raises(InputError, match="outside the raster"):
        chips_from_vector(raster, far, "landuse", 32)


def test_training_pipeline_writes_a_complete_card(chip_folder, tmp_path):
    path = tmp_path / "scenes.safetensors"
    card = train_scene_classifier(ClassifierTrainingRequest(
        output_model=str(path), chips_folder=str(chip_folder), architecture="resnet18",
        method="plain", epochs=2, input_size=24, net_options=TINY_RESNET, device="cpu"))
    loaded, model = load_model(path)
    assert loaded == card and card.task == "classification"
    assert card.architecture == "resnet18_classifier" and card.config["input_size"] == 24
    assert [c["name"] for c in card.classes] == sorted(CLASS_LOOKS)
    assert card.tile_size == 32 and card.overlap == 0 and card.training_data == chip_folder.name
    assert len(card.scaling["image"]["low"]) == 3 and card.scaling["image"]["high"][0] > 100
    assert {"validation_overall_accuracy", "validation_kappa", "training_seconds"} <= set(card.metrics)
    assert model(torch.zeros(1, 3, 24, 24)).shape == (1, 3)


def test_teacher_only_for_class_centric(chip_folder, tmp_path):
    with pytest.raises(InputError, match="only used by METHOD class_centric"):
        train_scene_classifier(ClassifierTrainingRequest(
            output_model=str(tmp_path / "x.safetensors"), chips_folder=str(chip_folder),
            method="plain", teacher="some_teacher", epochs=1, device="cpu"))
    assert not (tmp_path / "x.safetensors").exists()
