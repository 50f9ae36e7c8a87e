"""geodistill:pansharpen - sharpen a multispectral raster with a panchromatic one."""
from __future__ import annotations

from ...models.catalogue import PANSHARPEN
from .image_output import ImageOutputAlgorithm


class PansharpenAlgorithm(ImageOutputAlgorithm):
    """MS + PAN -> MS at the PAN's resolution, by a distilled net, MTF-GLP or GDAL Brovey."""

    task = PANSHARPEN
    display_layer = "MS"
    help_text = (
        "Sharpens a multispectral (MS) raster to the resolution of a panchromatic (PAN) raster "
        "of the same area.<br><b>MS</b>: the multispectral raster (any data type).<br>"
        "<b>PAN</b>: the panchromatic raster; its pixel size must be an integer fraction (1/2, "
        "1/4 ...) of the MS pixel size, in the same CRS.<br><b>PAN band</b>: the panchromatic "
        "band when the PAN raster has several.<br><b>Bands to use</b> (optional): the MS bands "
        "to sharpen, in the model's order (empty: every band but a real alpha band; a band "
        "tagged alpha that holds other values than 0 and 255 is data).<br>"
        "<b>Area to process</b> (optional): only the part of the scene under this extent is "
        "sharpened (widened to whole MS pixels).<br>"
        "<b>Method</b>: <i>auto</i> (default) sharpens a reduced-resolution sample of the scene "
        "with the model and with MTF-GLP first, says in the log which is better, and uses it; "
        "<i>model</i> runs a distilled deep model (by default the bundled lite student fitting the MS band count and ratio); "
        "<i>mtf_glp</i> is MTF-GLP with regression injection gains, the strongest classical "
        "method; <i>brovey</i> is GDAL's weighted Brovey.<br><b>Model</b>: 'default', a bundled "
        "model name or a .safetensors model file.<br><b>Scene adaptation iterations</b>: "
        "fine-tunes the model on this scene at reduced resolution first (no ground truth "
        "needed), for at most this many iterations or a minute, keeping the weights that score "
        "best on a held-back part of the scene; off (0) by default: on the small test scenes it "
        "did not help (try 300 on a large scene of an unusual sensor, and compare with "
        "<i>evaluate_pansharpen</i>).<br>"
        "<b>Sensor</b>: sets the MTF filters used by adaptation and MTF-GLP.<br><b>Device</b>, "
        "<b>Tile size</b>, <b>Tile overlap</b>: where and in which pieces the model runs.<br>"
        "<b>Output</b>: a GeoTIFF on the PAN grid (or the area's part of it) with the MS bands, "
        "data type and value range.")
