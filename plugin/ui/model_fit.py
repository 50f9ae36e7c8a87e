"""Does a model fit the chosen layers? Plain checks (no Qt) behind the dock's warning line: the
band count and ratio as the tools read them from the card (`models.tasks.model_fit`), and the
pixel size against the card's gsd."""
from __future__ import annotations

from dataclasses import dataclass

from ...models.tasks.model_fit import card_bands, card_ratio, gsd_warning

#: relative tolerance on the MS/PAN pixel size ratio
RATIO_TOLERANCE = 0.05


@dataclass(frozen=True)
class LayerFacts:
    """What the checks need to know about a layer chosen for a raster parameter."""

    parameter: str  # the algorithm parameter name, e.g. "MS", "PAN", "INPUT"
    name: str
    band_count: int
    pixel_size: float  # pixel width in metres, or in map units when the CRS does not say
    metres: bool  # whether pixel_size is in metres


def _expected_bands(card, layers: list[LayerFacts]) -> dict[str, int]:
    """Parameter name -> band count the model reads from it, by the rule the tools apply
    (`card_bands`): the MS of a pansharpening model, else the one raster input."""
    bands = card_bands(card)
    if bands is None or not layers:
        return {}
    if card.task == "pansharpening":
        return {layer.parameter: bands for layer in layers if layer.parameter == "MS"}
    return {layers[0].parameter: bands}


def fit_problems(card, layers: list[LayerFacts]) -> list[str]:
    """Sentences saying where the layers do not fit the model card ([] when they do)."""
    problems = []
    for layer in layers:
        wanted = _expected_bands(card, layers).get(layer.parameter)
        if wanted is not None and wanted != layer.band_count:
            problems.append(f"'{card.name}' expects {wanted} band(s) for {layer.parameter}; "
                            f"'{layer.name}' has {layer.band_count}. Choose another model or layer.")
    by_size = sorted(layers, key=lambda layer: layer.pixel_size)
    model_ratio = card_ratio(card)
    if model_ratio and len(by_size) >= 2 and by_size[0].pixel_size > 0:
        ratio = by_size[-1].pixel_size / by_size[0].pixel_size
        if abs(ratio - model_ratio) > RATIO_TOLERANCE * model_ratio:
            problems.append(f"'{card.name}' sharpens by a ratio of {model_ratio}; the pixel sizes of "
                            f"'{by_size[-1].name}' and '{by_size[0].name}' differ by {ratio:.2f}.")
    if by_size and by_size[0].metres:
        warning = gsd_warning(card, by_size[0].pixel_size, by_size[0].name)
        if warning:
            problems.append(warning)
    return problems
