"""Band-order check: do the MS band descriptions name the bands a model expects, in its order?

A 4-band student learns blue, green, red, NIR in that order; an MS written red, green, blue,
NIR runs without error but mixes the bands' roles. When both the model card and the raster name
their bands with recognisable colour words, a different order is reported (the run goes on:
descriptions are often missing or loose, so they never block a run).
"""
from __future__ import annotations

import re

_COLOURS = {
    "coastal": ("coastal", "aerosol", "deep blue"),
    "blue": ("blue",),
    "green": ("green",),
    "yellow": ("yellow",),
    "red": ("red",),
    "red edge": ("red edge", "rededge", "red-edge"),
    "nir": ("nir", "near infrared", "near-infrared", "infrared"),
}


def colour_of(description: str) -> str | None:
    """The colour a band description names ("B2 (Blue)" -> "blue"), or None if unclear."""
    text = description.lower()
    found = [colour for colour, words in _COLOURS.items()
             if any(re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) for word in words)]
    if "red edge" in found:  # its words contain "red"
        found.remove("red")
    return found[0] if len(found) == 1 else None


def band_order_warning(expected: list[str], descriptions: list[str | None]) -> str | None:
    """A sentence when the raster's band colours differ from the model's expected ones, band by
    band; None when they agree or either side does not name every band's colour."""
    wanted = [colour_of(name or "") for name in expected]
    found = [colour_of(name or "") for name in descriptions]
    if len(wanted) != len(found) or None in wanted or None in found or wanted == found:
        return None
    return (f"Warning: the MS bands are described as {', '.join(found)} but the model expects "
            f"{', '.join(wanted)}, in that order. Reorder the MS bands (e.g. with GDAL Translate "
            f"-b) if the descriptions are right.")
