"""ResNet / Res2Net encoders written here (no torchvision), returning every stage's features.

Blocks follow He et al. 2016 ("Deep residual learning": `BasicBlock` of ResNet-18/34,
`Bottleneck` of ResNet-50/101) and Gao et al. 2019 ("Res2Net: a new multi-scale backbone
architecture": `Res2NetBottleneck`, whose 3x3 conv is split into `scale` groups of `base_width`
channels per 64 planes, each group adding the previous group's output before its own conv).
The "v1b" variants use a deep stem (three 3x3 convs) and average-pool shortcuts when
downsampling (`stem="deep"`, `avg_down=True`).

`ResNetEncoder(EncoderSpec)` stacks a stem (1/4 resolution) and one layer per entry of
`depths`, the first at stride 1 and every later one at stride 2, and returns a dict
{"stem", "layer1", "layer2", ...}: the dehazing nets use layers 1-3, a classifier can add a
fourth layer and pool the last one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import conv

BLOCK_NAMES = ("basic", "bottleneck", "res2net")
STEM_NAMES = ("conv7", "deep", "conv3")


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
            relu: bool = True) -> nn.Sequential:
    """conv (no bias) + BatchNorm (+ ReLU): the unit every ResNet is made of."""
    layers = [conv(in_channels, out_channels, kernel_size, stride=stride),
              nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def shortcut(in_channels: int, out_channels: int, stride: int, avg_down: bool) -> nn.Module:
    """The projection added to a block's output when it changes width or resolution.

    Plain ResNets use a strided 1x1 conv (which drops 3 of 4 pixels); with `avg_down`
    (ResNet-D / Res2Net-v1b) the pixels are averaged first and the 1x1 conv keeps stride 1.
    """
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if avg_down and stride > 1:
        return nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                             conv_bn(in_channels, out_channels, 1, relu=False))
    return conv_bn(in_channels, out_channels, 1, stride, relu=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut (ResNet-18/34); `planes` output channels."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, avg_down: bool = False):
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_channels, planes, 3, stride),
                                  conv_bn(planes, planes, 3, relu=False))
        self.shortcut = shortcut(in_channels, planes, stride, avg_down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand to 4 * planes, plus a shortcut (ResNet-50/101)."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, avg_down: bool = False):
        super().__init__()
        out_channels = planes * self.expansion
        self.body = nn.Sequential(conv_bn(in_channels, planes, 1), conv_bn(planes, planes, 3, stride),
                                  conv_bn(planes, out_channels, 1, relu=False))
        self.shortcut = shortcut(in_channels, out_channels, stride, avg_down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class Res2NetBottleneck(nn.Module):
    """Res2Net bottleneck: the 3x3 conv works on `scale` channel groups in a hierarchy.

    Group i (i < scale - 1) is convolved after adding group i-1's output, so receptive fields
    grow inside the block; the last group passes through unchanged. In the first block of a
    layer (`first`, which may stride) the groups are not chained and the last one is
    average-pooled to the new resolution instead.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, avg_down: bool = False,
                 first: bool = False, base_width: int = 26, scale: int = 4):
        super().__init__()
        if scale < 2:
            raise ValueError(f"a Res2Net block needs a scale of at least 2, got {scale}")
        group = planes * base_width // 64
        out_channels = planes * self.expansion
        self.first, self.group = first, group
        self.reduce = conv_bn(in_channels, group * scale, 1)
        self.group_convs = nn.ModuleList(conv_bn(group, group, 3, stride) for _ in range(scale - 1))
        self.pass_through = (nn.AvgPool2d(3, stride, 1) if first else nn.Identity())
        self.expand = conv_bn(group * scale, out_channels, 1, relu=False)
        self.shortcut = shortcut(in_channels, out_channels, stride, avg_down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = torch.split(self.reduce(x), self.group, dim=1)
        outputs = []
        for index, group_conv in enumerate(self.group_convs):
            inputs = groups[index] if self.first or index == 0 else groups[index] + outputs[-1]
            outputs.append(group_conv(inputs))
        outputs.append(self.pass_through(groups[-1]))
        return F.relu(self.expand(torch.cat(outputs, 1)) + self.shortcut(x))


@dataclass
class EncoderSpec:
    """Shape of a ResNet-family encoder.

    Res2Net-101 v1b (26w x 4s) through layer3: block "res2net", depths (3, 4, 23), planes
    (64, 128, 256), stem "deep", avg_down True -> 256/512/1024 channels at 1/4, 1/8, 1/16.
    ResNet-18 through layer3: block "basic", depths (2, 2, 2), stem "conv7" -> 64/128/256.
    """

    in_channels: int = 3
    block: str = "basic"
    depths: tuple[int, ...] = (2, 2, 2)
    planes: tuple[int, ...] = (64, 128, 256)
    stem: str = "conv7"
    """"conv7" (ResNet: 7x7 stride-2 conv), "deep" (three 3x3 convs, v1b) or "conv3" (one
    3x3 stride-2 conv, for small students); each is followed by a stride-2 max pool."""
    stem_width: int = 64
    avg_down: bool = False
    res2_base_width: int = 26
    res2_scale: int = 4

    def __post_init__(self):
        self.depths, self.planes = tuple(self.depths), tuple(self.planes)
        if self.block not in BLOCK_NAMES:
            raise ValueError(f"unknown encoder block '{self.block}' (use {', '.join(BLOCK_NAMES)})")
        if self.stem not in STEM_NAMES:
            raise ValueError(f"unknown stem '{self.stem}' (use {', '.join(STEM_NAMES)})")
        if not self.depths or len(self.depths) != len(self.planes):
            raise ValueError("an encoder needs one depth and one plane count per layer, got "
                             f"{len(self.depths)} depths and {len(self.planes)} plane counts")

    @property
    def expansion(self) -> int:
        """Output channels of a block per plane (1 for basic blocks, 4 for bottlenecks)."""
        return 1 if self.block == "basic" else 4

    @property
    def channels(self) -> dict[str, int]:
        """Channels of every feature the encoder returns."""
        layers = {f"layer{i + 1}": p * self.expansion for i, p in enumerate(self.planes)}
        return {"stem": self.stem_width, **layers}

    @property
    def reduction(self) -> int:
        """Size of the input divided by the size of the last layer's features."""
        return 4 * 2 ** (len(self.depths) - 1)


def _stem(spec: EncoderSpec) -> nn.Sequential:
    width = spec.stem_width
    if spec.stem == "deep":
        layers = [conv_bn(spec.in_channels, width // 2, 3, 2), conv_bn(width // 2, width // 2),
                  conv_bn(width // 2, width)]
    else:
        kernel = 7 if spec.stem == "conv7" else 3
        layers = [conv_bn(spec.in_channels, width, kernel, 2)]
    return nn.Sequential(*layers, nn.MaxPool2d(3, 2, 1))


class ResNetEncoder(nn.Module):
    """Stem + residual layers; `forward(x) -> {"stem": 1/4, "layer1": 1/4, "layer2": 1/8, ...}`."""

    def __init__(self, spec: EncoderSpec):
        super().__init__()
        self.spec = spec
        self.stem = _stem(spec)
        block_class = {"basic": BasicBlock, "bottleneck": Bottleneck,
                       "res2net": Res2NetBottleneck}[spec.block]
        res2net = spec.block == "res2net"
        in_channels = spec.stem_width
        self.layers = nn.ModuleList()
        for index, (depth, planes) in enumerate(zip(spec.depths, spec.planes)):
            blocks = []
            for position in range(depth):
                stride = 2 if index > 0 and position == 0 else 1
                extra = ({"first": position == 0, "base_width": spec.res2_base_width,
                          "scale": spec.res2_scale} if res2net else {})
                blocks.append(block_class(in_channels, planes, stride, spec.avg_down, **extra))
                in_channels = planes * spec.expansion
            self.layers.append(nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return stage_features(self.stem, self.layers, x)


def stage_features(stem: nn.Module, layers: nn.ModuleList, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"stem": stem(x), "layer1": ..., "layerN": ...}: the output of the stem and of each stage."""
    features = {"stem": stem(x)}
    current = features["stem"]
    for index, layer in enumerate(layers):
        current = layer(current)
        features[f"layer{index + 1}"] = current
    return features


def make_divisible(channels: float, divisor: int = 8) -> int:
    """`channels` rounded to a multiple of `divisor`, never below 90 % of it (MobileNet rule)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


class InvertedResidual(nn.Module):
    """MobileNetV2 block (Sandler et al. 2018): 1x1 expand (ReLU6), 3x3 depth-wise (ReLU6),
    1x1 linear projection; the input is added back when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


#: MobileNetV2's stages as (expansion t, channels c, blocks n, first stride s)
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 feature extractor: 3x3 stride-2 stem, the seven inverted-residual stages and
    a 1x1 conv to `last_channels` (ReLU6), at 1/32 of the input.

    `width_multiplier` scales every width (rounded to multiples of 8); `forward` returns
    {"stem", "layer1", ..., "layer7", "head"}.
    """

    def __init__(self, in_channels: int = 3, width_multiplier: float = 1.0,
                 last_channels: int = 1280):
        super().__init__()
        stem_width = make_divisible(32 * width_multiplier)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_width, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(stem_width), nn.ReLU6(inplace=True))
        self.layers = nn.ModuleList()
        width = stem_width
        for expansion, channels, blocks, stride in MOBILENETV2_STAGES:
            out = make_divisible(channels * width_multiplier)
            self.layers.append(nn.Sequential(*(
                InvertedResidual(width if i == 0 else out, out, stride if i == 0 else 1, expansion)
                for i in range(blocks))))
            width = out
        self.out_channels = make_divisible(last_channels * max(width_multiplier, 1.0))
        self.head = nn.Sequential(nn.Conv2d(width, self.out_channels, 1, bias=False),
                                  nn.BatchNorm2d(self.out_channels), nn.ReLU6(inplace=True))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = stage_features(self.stem, self.layers, x)
        features["head"] = self.head(features[f"layer{len(self.layers)}"])
        return features
