"""Choosing the model package for an input, and the one check that a model fits it.

A task says what its input needs of a model (`ModelNeeds`: the task, the band count and, for
pansharpening, the PAN/MS resolution ratio) and how each mismatch is told to the user
(`FitReasons`: its own sentences). `card_fits` compares a model card with those needs, and
`load_fitting_model` picks the package (the one named, or the bundled one that fits) and refuses
one that does not fit.

A card's band count is config "ms_bands" for pansharpening and config "bands" otherwise (3 when
a classifier's card leaves it out); its ratio is the card's `ratio`, else config "ratio".
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..package import ModelCard, read_card
from ..registry import choose_package

BANDS_KEYS = {"pansharpening": "ms_bands"}
DEFAULT_BANDS = {"classification": 3}
#: a pixel size this many times larger or smaller than the model's gsd is worth a warning
GSD_TOLERANCE = 2.0


@dataclass(frozen=True)
class FitReasons:
    """A task's sentences for a model that does not fit. Each is a format string that may use
    {name} and {task} (the model's), {model_bands} and {bands} (the model's and the input's band
    counts), {model_ratio} and {ratio}, and {layer} (the input's name)."""

    wrong_task: str
    wrong_bands: str
    none_bundled: str
    """No bundled package fits (MODEL "default")."""
    wrong_ratio: str = ""


@dataclass(frozen=True)
class ModelNeeds:
    """What an input needs of a model, and the task's sentences for a model that does not fit."""

    task: str
    bands: int
    reasons: FitReasons
    ratio: int | None = None
    """The PAN/MS resolution ratio (pansharpening); None = not checked."""
    layer: str = ""


def card_bands(card: ModelCard) -> int | None:
    """The number of bands the model reads (see the module text)."""
    return card.config.get(BANDS_KEYS.get(card.task, "bands"), DEFAULT_BANDS.get(card.task))


def card_ratio(card: ModelCard) -> int | None:
    """The PAN/MS resolution ratio the model was made for."""
    return card.ratio or card.config.get("ratio")


def gsd_warning(card: ModelCard, pixel_metres: float | None, layer: str) -> str | None:
    """A sentence when `layer`'s pixels (`pixel_metres` wide) are more than GSD_TOLERANCE times
    larger or smaller than those the model was trained on (its card's gsd); None when they are
    close or either size is unknown."""
    if not card.gsd or not pixel_metres or pixel_metres <= 0:
        return None
    if 1 / GSD_TOLERANCE <= pixel_metres / card.gsd <= GSD_TOLERANCE:
        return None
    return (f"'{card.name}' was trained on {card.gsd:g} m pixels; '{layer}' has "
            f"{pixel_metres:.3g} m pixels, so results may be poor (resample the layer or pick a "
            f"model made for this resolution).")


def card_fits(card: ModelCard, needs: ModelNeeds) -> str | None:
    """None when the model fits the input, else the task's sentence saying why not."""
    values = dict(name=card.name, task=card.task, bands=needs.bands, ratio=needs.ratio,
                  layer=needs.layer)
    if card.task != needs.task:
        return needs.reasons.wrong_task.format(**values)
    model_bands = card_bands(card)
    if model_bands != needs.bands:
        return needs.reasons.wrong_bands.format(model_bands=model_bands, **values)
    model_ratio = card_ratio(card)
    if needs.ratio is not None and model_ratio != needs.ratio:
        return needs.reasons.wrong_ratio.format(model_ratio=model_ratio, **values)
    return None


def check_fits(card: ModelCard, needs: ModelNeeds) -> None:
    """Raise InputError with the task's sentence unless the model fits the input."""
    problem = card_fits(card, needs)
    if problem:
        raise InputError(problem)


def choose_fitting_package(needs: ModelNeeds, name_or_path: str, user_folder: str | None) -> Path:
    """The package named by `name_or_path`, or for "default" the bundled one that fits."""
    return choose_package(
        name_or_path, needs.task, user_folder, lambda card: card_fits(card, needs) is None,
        needs.reasons.none_bundled.format(bands=needs.bands, ratio=needs.ratio, layer=needs.layer))


def load_fitting_model(needs: ModelNeeds, name_or_path: str,
                       user_folder: str | None) -> tuple[Path, ModelCard]:
    """The chosen package's path and card, checked to fit the input (InputError otherwise)."""
    path = choose_fitting_package(needs, name_or_path, user_folder)
    card = read_card(path)
    check_fits(card, needs)
    return path, card
