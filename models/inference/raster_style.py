"""Class legends of class rasters: entries (value, name, colour), one distinct colour per class,
and the QGIS style (`.qml`, paletted renderer) that shows them in any new project.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

#: hue step of generated colours (the golden angle spreads any number of hues evenly)
GOLDEN_ANGLE = 0.381966
QGIS_STYLE_VERSION = "3.22.0-Białowieża"
UNCERTAIN_NAME = "uncertain"
"""The class of pixels or cells whose best class is less likely than MIN_CONFIDENCE."""
UNCERTAIN_COLOUR = "#a0a0a0"


@dataclass(frozen=True)
class ClassEntry:
    """One class of a class raster: its pixel value, name and colour ('#rrggbb')."""

    value: int
    name: str
    colour: str

    def rgba(self) -> tuple[int, int, int, int]:
        """The colour as (red, green, blue, 255)."""
        text = self.colour.lstrip("#")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16), 255


def generated_colour(index: int) -> str:
    """The `index`-th of an endless sequence of well-separated colours ('#rrggbb')."""
    hue = (index * GOLDEN_ANGLE) % 1.0
    lightness, saturation = (0.45, 0.75) if index % 2 == 0 else (0.6, 0.6)
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in (red, green, blue)))


def class_entries(classes: list[dict]) -> list[ClassEntry]:
    """Entries of card classes ({"id", "name", "color"}) with one distinct colour per class: a
    colour already used by an earlier class (or missing) is replaced by a generated one."""
    used: set[str] = set()
    entries, generated = [], 0
    for item in classes:
        colour = str(item.get("color") or "").lower()
        while not _is_hex_colour(colour) or colour in used:
            colour = generated_colour(generated)
            generated += 1
        used.add(colour)
        entries.append(ClassEntry(int(item["id"]), str(item["name"]), colour))
    return entries


def as_card_classes(entries: list[ClassEntry]) -> list[dict]:
    """The entries as card class dicts ({"id", "name", "color"})."""
    return [{"id": e.value, "name": e.name, "color": e.colour} for e in entries]


def _is_hex_colour(text: str) -> bool:
    return len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdef" for c in text[1:])


def class_style_qml(entries: list[ClassEntry]) -> str:
    """A QGIS raster style: band 1 paletted, each class value in its colour with its name."""
    rows = "\n".join(
        f'        <paletteEntry value="{e.value}" color="{e.colour}" alpha="255" '
        f'label={quoteattr(e.name)}/>' for e in entries)
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="{QGIS_STYLE_VERSION}" styleCategories="Symbology">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{rows}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def uncertain_class(classes: list[dict], limit: int = 255) -> dict:
    """The grey "uncertain" class added to a model's classes (card class dicts): the lowest id
    above theirs that is below `limit` (a class raster's nodata), else the lowest free one."""
    ids = {int(c["id"]) for c in classes}
    free = [i for i in range(max(ids, default=-1) + 1, limit)] or \
        [i for i in range(limit) if i not in ids]
    if not free:
        raise ValueError("the model uses every class value")
    return {"id": free[0], "name": UNCERTAIN_NAME, "color": UNCERTAIN_COLOUR}

