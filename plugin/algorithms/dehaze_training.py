"""geodistill:train_dehaze and geodistill:evaluate_dehaze."""
from __future__ import annotations

from ...models.catalogue import EVALUATE_DEHAZE, TRAIN_DEHAZE
from .base import GeoDistillAlgorithm

DATA_HELP = (
    "<b>Clear images</b> and/or <b>Clear images folder</b>: haze-free images (every image "
    "file directly inside the folder is used); synthetic haze that varies across each image is "
    "laid over them. <b>Hazy layers</b> and <b>Clear layers</b>: optional real pairs, the n-th "
    "hazy layer showing the same pixels as the n-th clear layer. All images need the same band "
    "count.<br>")
PAIR_MISMATCH = ("Give as many clear layers as hazy layers ({first} hazy, {second} clear): the "
                 "n-th hazy layer is paired with the n-th clear layer.")


class TrainDehazeAlgorithm(GeoDistillAlgorithm):
    """Trains (and distils) a dehazing model on the user's clear images and hazy/clear pairs."""

    task = TRAIN_DEHAZE
    pair_mismatch = PAIR_MISMATCH
    help_text = (
        "Trains a dehazing model on your own imagery: no hazy image is needed, synthetic haze "
        "is laid over clear images (real hazy/clear pairs can be added).<br>" + DATA_HELP +
        "<b>Architecture</b>: <i>lite</i> (small and fast, the kind of model that ships with "
        "the plugin): a KTDN teacher autoencoder is trained on the clear patches first, then "
        "the student learns from the data and from the teacher's features (with fewer than 32 "
        "patches the student is trained alone). With the defaults this takes about 10 minutes "
        "on a 2-core CPU. <i>ktdn</i>: the paper's 50 M-parameter net with its ResNet-18 "
        "teacher: several hours on a CPU (about 8 h on 2 cores), minutes on a GPU.<br>"
        "<b>Teacher</b>: optional <i>ktdn</i> model package whose outputs the lite student "
        "also learns from.<br><b>Epochs</b>, <b>Patch size</b> (a multiple of 32), <b>Samples"
        "</b>: training length, patch side in pixels, and patches cut from the images.<br>"
        "<b>Output model</b>: the .safetensors model package (its model card records the data "
        "and validation metrics); use it as MODEL in 'Dehaze'.")


class EvaluateDehazeAlgorithm(GeoDistillAlgorithm):
    """Scores a dehazing model against the dark channel prior (PSNR, SSIM)."""

    task = EVALUATE_DEHAZE
    pair_mismatch = PAIR_MISMATCH
    help_text = (
        "Compares a dehazing model with the dark channel prior (He et al.) and with the "
        "untouched hazy image, on images with a known clear version: PSNR (dB) and SSIM, per "
        "image and on average, plus the speed of each method.<br>" + DATA_HELP +
        "Synthetic haze is seeded, so a report can be reproduced; a central crop of up to 256 "
        "pixels a side of each image is scored.<br><b>Model</b>: 'default' or a model package."
        "<br><b>Output report</b>: an HTML page; a JSON file with the same numbers is written "
        "beside it.")
