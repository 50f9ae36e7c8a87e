"""Ground sample distance (metres per pixel) of the training data of each bundled model: the
value its card declares, what the model-fit check compares a layer's pixel size with.

A model trained on images of several resolutions declares the middle (geometric mean) of the
range that most of its training images cover.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingGsd:
    """The gsd a bundled model's card declares, and where the number comes from."""

    metres: float
    source: str


#: AID: 600 px scenes of about 0.5-8 m (Xia et al., IEEE TGRS 2017); the shared chips are those
#: scenes resized to 150 px, so 2-32 m, whose geometric middle is 8 m
AID_CHIPS = TrainingGsd(8.0, "AID chips of 150 px from 600 px scenes of 0.5-8 m: 2-32 m")
#: the Dubai tiles carry no georeference; about 1 m from objects of known size in them (cars
#: 4-5 px long, power-line spans of 350-400 m about 400 px apart)
DUBAI = TrainingGsd(1.0, "Dubai aerial tiles (MBRSC): about 1 m, measured on objects of known size")

BUNDLED_GSD = {
    "dehazing_lite_rgb": TrainingGsd(
        AID_CHIPS.metres, f"{AID_CHIPS.source} (2970 of the 3016 training images; 45 Dubai "
                          "tiles at about 1 m and one 300 m Landsat scene are the rest)"),
    "segmentation_landcover_lite": DUBAI,
    "classification_aid_efficientnet_lite0": AID_CHIPS,
    "pansharpening_lite_4band_x4": TrainingGsd(0.5, "SpaceNet 6 Rotterdam PAN, 0.5 m (geotransform)"),
    "pansharpening_lite_8band_x4": TrainingGsd(0.5, "GRIP-UNINA WorldView-2 PAN, 0.5 m"),
}
