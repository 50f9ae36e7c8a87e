"""geodistill:train_pansharpen and geodistill:evaluate_pansharpen."""
from __future__ import annotations

from ...models.catalogue import EVALUATE_PANSHARPEN, TRAIN_PANSHARPEN
from .base import GeoDistillAlgorithm


class TrainPansharpenAlgorithm(GeoDistillAlgorithm):
    """Trains (or distils) a pansharpening model on the user's MS + PAN pairs."""

    task = TRAIN_PANSHARPEN
    pair_mismatch = ("Give as many PAN layers as MS layers ({first} MS, {second} PAN): the n-th "
                     "MS is sharpened with the n-th PAN.")
    help_text = (
        "Trains a pansharpening model on your own imagery, with no ground truth needed: each MS "
        "+ PAN pair is degraded by the resolution ratio (Wald's protocol, with the sensor's MTF) "
        "and the model learns to recover the original MS.<br><b>MS layers</b> and <b>PAN "
        "layers</b>: the pairs, in the same order (all with the same MS band count and "
        "ratio).<br><b>Sensor</b>: sets the MTF filters of the degradation.<br><b>Architecture"
        "</b>: <i>lite</i> (small and fast, the default kind of model) or <i>psdnet</i> (the "
        "paper's large net, trained with its ground-truth teacher and, like the lite student, "
        "correcting an MTF-GLP fusion; slow on a CPU).<br><b>Teacher"
        "</b>: optional PSDNet model package to distil into the lite student.<br><b>Epochs</b>, "
        "<b>Patch size</b>: training length and patch side in pixels.<br><b>Output model</b>: "
        "the .safetensors model package (with a model card recording the data and validation "
        "metrics); use it as MODEL in 'Pansharpen'.")



class EvaluatePansharpenAlgorithm(GeoDistillAlgorithm):
    """Scores a model against bicubic, GDAL Brovey and MTF-GLP on one scene."""

    task = EVALUATE_PANSHARPEN
    help_text = (
        "Compares a pansharpening model with bicubic upsampling, GDAL's Brovey and MTF-GLP on "
        "one scene (a central crop of up to 256 MS pixels a side).<br>Reduced resolution "
        "(Wald's protocol): MS and PAN are degraded by the ratio and each result is compared "
        "with the original MS: SAM (degrees), ERGAS, Q2n, SCC.<br>Full resolution: D_lambda, "
        "D_s and QNR, which need no reference.<br>Only pixels with data are scored: no-data "
        "(the MS nodata value, a mask, or black in every band) is left out, and at reduced "
        "resolution so is a margin of half the ratio along it.<br><b>Model</b>: 'default' or a model package."
        "<br><b>Scene adaptation iterations</b>: when above 0, the model is also scored after "
        "adapting to the scene.<br><b>Sensor</b>: sets the MTF filters of the Wald degradation "
        "and of MTF-GLP.<br><b>Output report</b>: an HTML page; a JSON file with the "
        "same numbers is written beside it.")
