"""Hostile model cards: each is refused with a message naming the file and the field, and one
bad card in the user's models folder never stops MODEL=default from working."""
import dataclasses
import json

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import save_file

from .outcomes import RecordingFeedback, run

from geodistill.models.errors import PackageError
from geodistill.models.package import CARD_KEY, ModelCard, read_card
from geodistill.models.registry import scan_packages

GOOD = dataclasses.asdict(ModelCard(name="card", task="dehazing", architecture="dehaze_lite",
                                    config={"bands": 3}))


def card_file(folder, name, text):
    path = folder / f"{name}.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={CARD_KEY: text})
    return path


def with_fields(**changes):
    return json.dumps({**GOOD, **changes})


HOSTILE_CARDS = {
    "deeply_nested": '{"name": ' + "[" * 5000 + "]" * 5000 + "}",
    "huge_integer": with_fields(tile_size=0).replace('"tile_size": 0', '"tile_size": ' + "9" * 5000),
    "gsd_nan": with_fields(gsd=float("nan")),
    "gsd_huge": with_fields(gsd=1e308),
    "gsd_negative": with_fields(gsd=-2.0),
    "ratio_zero": with_fields(ratio=0),
    "tile_billion": with_fields(tile_size=10**9),
    "input_size_absurd": with_fields(task="classification", architecture="resnet18_classifier",
                                     config={"bands": 3, "classes": 2, "input_size": 10**9}),
    "bands_zero": with_fields(config={"bands": 0}),
    "missing_bands": with_fields(config={}),
    "missing_task": json.dumps({k: v for k, v in GOOD.items() if k != "task"}),
    "not_json": "{name: card",
    "too_big": with_fields(description="x" * 1_100_000),
    "scaling_infinite": with_fields(scaling={"image": {"low": [0, 0, 0], "high": [1e400, 1, 1]}}),
    "ratio_disagrees": with_fields(task="pansharpening", architecture="pansharpen_lite", ratio=4,
                                   config={"ms_bands": 4, "ratio": 2}),
    "ratio_as_text": with_fields(task="pansharpening", architecture="pansharpen_lite",
                                 config={"ms_bands": 4, "ratio": "4"}),
}
EXPECTED = {
    "deeply_nested": "nested deeper than 12 levels",
    "huge_integer": "more than 18 digits",
    "gsd_nan": "gsd (metres) must be a number from 0.0001 to 100000 (it is nan)",
    "gsd_huge": "gsd (metres) must be a number from 0.0001 to 100000 (it is 1e+308)",
    "gsd_negative": "gsd (metres) must be a number from 0.0001 to 100000 (it is -2.0)",
    "ratio_zero": "ratio must be an integer from 1 to 32 (it is 0)",
    "tile_billion": "tile_size must be an integer from 16 to 8192 (it is 1000000000)",
    "input_size_absurd": "config 'input_size' must be an integer from 8 to 4096",
    "bands_zero": "config 'bands' must be an integer from 1 to 256 (it is 0)",
    "missing_bands": "config lacks 'bands'",
    "missing_task": "the model card lacks task",
    "not_json": "the model card is not valid JSON",
    "too_big": "more than the 1,000,000 a card may have",
    "scaling_infinite": "scaling values must be finite numbers",
    "ratio_disagrees": "ratio 4 and config 'ratio' 2 disagree",
    "ratio_as_text": "config 'ratio' must be an integer from 1 to 32 (it is \"4\")",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_CARDS))
def test_hostile_card_is_refused_naming_file_and_field(tmp_path, kind):
    path = card_file(tmp_path, kind, HOSTILE_CARDS[kind])
    with pytest.raises(PackageError) as raised:
        read_card(path)
    message = str(raised.value)
    assert message.startswith(f"{kind}.safetensors") and EXPECTED[kind] in message
    assert len(message) < 700


def test_scan_skips_each_bad_card_and_keeps_the_good_ones(tmp_path):
    for kind, text in HOSTILE_CARDS.items():
        card_file(tmp_path, kind, text)
    good = card_file(tmp_path, "good_user_model", json.dumps(GOOD))
    listing = scan_packages(tmp_path, task="dehazing")
    assert good in [entry.path for entry in listing.packages]
    assert {path.stem for path in listing.skipped} == set(HOSTILE_CARDS)
    assert all(EXPECTED[path.stem] in reason for path, reason in listing.skipped.items())


def test_default_model_still_works_with_bad_cards_in_the_user_folder(geodistill_provider, tmp_path, rgb):
    from geodistill.plugin import settings

    models = tmp_path / "models"
    models.mkdir()
    for kind in ("deeply_nested", "huge_integer", "gsd_nan", "missing_task"):
        card_file(models, kind, HOSTILE_CARDS[kind])
    previous = settings.user_model_folder()
    settings.set_user_model_folder(models)
    feedback = RecordingFeedback()
    try:
        result = run("geodistill:dehaze", {"INPUT": str(rgb), "MODEL": "default", "DEVICE": "cpu",
                                          "TILE_SIZE": 128, "OVERLAP": 16,
                                          "OUTPUT": str(tmp_path / "out.tif")}, feedback)
    finally:
        settings.set_user_model_folder(previous)
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(rgb) as source:
        assert out.shape == source.shape and out.transform == source.transform
        assert np.ptp(out.read()) > 0
    for kind in ("deeply_nested", "huge_integer", "gsd_nan", "missing_task"):
        assert any(f"{kind}.safetensors" in text for text in feedback.warnings), kind
    assert all("Traceback" not in text for text in feedback.warnings)
