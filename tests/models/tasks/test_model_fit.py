"""One model-fit check serves every task: the card's band count and ratio are read the same
way for all of them, and each task's sentences name what to do."""
import pytest

from geodistill.models.errors import InputError
from geodistill.models.package import ModelCard
from geodistill.models.tasks import classify, pansharpen, segment
from geodistill.models.tasks.model_fit import card_fits, check_fits


def card(task, config, ratio=None):
    return ModelCard(name="m", task=task, architecture="a", config=config, ratio=ratio)


def pair(ms_bands=4, ratio=4):
    return pansharpen.PairInfo(ratio=ratio, ms_bands=ms_bands, ms_dtype="uint16", ms_nodata=None,
                               ms_descriptions=[], pan_band=1, pan_shape=(64, 64), ms_offset=(0, 0))


def test_a_fitting_pansharpening_model_passes_with_the_ratio_from_card_or_config():
    needs = pansharpen.model_needs(pair())
    assert card_fits(card("pansharpening", {"ms_bands": 4}, ratio=4), needs) is None
    assert card_fits(card("pansharpening", {"ms_bands": 4, "ratio": 4}), needs) is None


def test_pansharpening_names_the_wrong_ratio_and_the_wrong_task():
    needs = pansharpen.model_needs(pair())
    assert "ratio of 2, but this pair has ratio 4" in card_fits(
        card("pansharpening", {"ms_bands": 4}, ratio=2), needs)
    assert "is a dehazing model, not a pansharpening model" in card_fits(
        card("dehazing", {"bands": 4}), needs)


def test_a_classifier_card_without_bands_reads_three():
    assert card_fits(card("classification", {}), classify.model_needs(3)) is None
    with pytest.raises(InputError, match="reads 3-band chips but the raster has 4 band"):
        check_fits(card("classification", {}), classify.model_needs(4))


def test_segmentation_refuses_another_task_before_comparing_bands():
    assert card_fits(card("dehazing", {"bands": 3}), segment.model_needs(3)) == (
        "Model 'm' is a dehazing model; choose a segmentation model.")

