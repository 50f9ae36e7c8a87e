"""geodistill:dehaze - remove haze from a raster with a distilled net or the dark channel prior."""
from __future__ import annotations

from ...models.catalogue import DEHAZE
from .image_output import ImageOutputAlgorithm


class DehazeAlgorithm(ImageOutputAlgorithm):
    """Hazy raster -> dehazed raster on the same grid, with the same data type and bands."""

    task = DEHAZE
    help_text = (
        "Removes haze (thin cloud, smog, aerosol veils) from an image, including haze that "
        "varies across the scene.<br><b>Input</b>: the hazy raster (any data type: uint8, "
        "uint16, float ...). It is scaled by a high percentile of all its bands (one value, as "
        "in training), the model runs tile by tile, and the result is scaled back to the "
        "input's values.<br><b>Bands to use</b> (optional): the bands to dehaze, in the model's "
        "order (e.g. the red, green and blue bands of a multispectral image for the RGB model); "
        "empty = every band but an alpha band.<br><b>Area to process</b> (optional): only the "
        "part of the raster under this extent is dehazed (scaled as in a whole run).<br>"
        "<b>Model</b>: "
        "'default' picks the bundled lite student fitting the band count (an RGB model ships "
        "with the plugin); or a model name or .safetensors file made with 'Train a dehazing "
        "model'; or <i>dark_channel_prior</i> for He et al.'s classical method (no model, any "
        "band count).<br><b>Device</b>, <b>Tile size</b>, <b>Tile overlap</b>: where and in "
        "which pieces the model runs.<br><b>Output</b>: a GeoTIFF with the input's grid (or the "
        "area's part of it), CRS, data type, bands (or the chosen ones) and nodata, shown like "
        "the input.")
