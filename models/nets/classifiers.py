"""Scene classifiers: a backbone, global average pooling and a linear head.

Three registered architectures share one net class, told apart by their config:
- "resnet50_classifier": ResNet-50 (bottleneck blocks, depths 3-4-6-3, 2048 features), the
  class-centric teacher;
- "resnet18_classifier": ResNet-18 (basic blocks, depths 2-2-2-2, 512 features), a student;
- "mobilenetv2_classifier": MobileNetV2 (inverted residuals, 1280 features), a student.
`width` (ResNets) and `width_multiplier` (MobileNetV2) shrink a net for tests or fast CPUs.
Chips are resized to `input_size` pixels a side before they reach the net (any size works, the
pooling is global; the size is recorded so inference resizes chips as training did).
`forward_features` returns the logits and {"embedding": pooled features, "stages": the pooled
features of the last three stages}: what the class-centre and class-aware losses work on.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import register
from .backbones import EncoderSpec, MobileNetV2Encoder, ResNetEncoder
from .classifier_config import ClassifierConfig


@dataclass
class ResNet18ClassifierConfig(ClassifierConfig):
    """ResNet-18-class scene classifier."""

    dropout: float = 0.0
    width: int = 64
    """Channels of the stem and of layer1's blocks; layers 2-4 double it each time."""
    depths: tuple[int, ...] = (2, 2, 2, 2)

    def __post_init__(self):
        super().__post_init__()
        self.depths = tuple(self.depths)

    block = "basic"


@dataclass
class ResNet50ClassifierConfig(ResNet18ClassifierConfig):
    """ResNet-50-class scene classifier (the teacher)."""

    depths: tuple[int, ...] = (3, 4, 6, 3)

    block = "bottleneck"


@dataclass
class MobileNetV2ClassifierConfig(ClassifierConfig):
    """MobileNetV2-class scene classifier."""

    width_multiplier: float = 1.0
    last_channels: int = 1280


def _resnet_spec(config: ResNet18ClassifierConfig) -> EncoderSpec:
    planes = tuple(config.width * 2 ** i for i in range(len(config.depths)))
    return EncoderSpec(in_channels=config.bands, block=config.block, depths=config.depths,
                       planes=planes, stem="conv7", stem_width=config.width)


@register("mobilenetv2_classifier", MobileNetV2ClassifierConfig)
@register("resnet50_classifier", ResNet50ClassifierConfig)
@register("resnet18_classifier", ResNet18ClassifierConfig)
class SceneClassifier(nn.Module):
    """Backbone -> global average pool -> dropout -> linear logits over `classes`."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        if isinstance(config, MobileNetV2ClassifierConfig):
            self.encoder = MobileNetV2Encoder(config.bands, config.width_multiplier,
                                              config.last_channels)
            self.embedding_channels = self.encoder.out_channels
            self.last_key = "head"
            self.stage_keys = ("layer5", "layer6", "head")
        else:
            spec = _resnet_spec(config)
            self.encoder = ResNetEncoder(spec)
            self.embedding_channels = spec.channels[f"layer{len(config.depths)}"]
            self.last_key = f"layer{len(config.depths)}"
            self.stage_keys = tuple(f"layer{i}" for i in range(max(len(config.depths) - 2, 1),
                                                                 len(config.depths) + 1))
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.embedding_channels, config.classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(logits [B, classes], {"embedding": [B, D], "stages": [[B, C_s], ...]})."""
        features = self.encoder(x)
        stages = [F.adaptive_avg_pool2d(features[key], 1).flatten(1) for key in self.stage_keys]
        embedding = stages[-1]
        logits = self.head(self.dropout(embedding))
        return logits, {"embedding": embedding, "stages": stages}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


ARCHITECTURES = {"teacher": "resnet50_classifier", "resnet18": "resnet18_classifier",
                 "mobilenetv2": "mobilenetv2_classifier"}
"""The ARCHITECTURE choices of the training tool and their registered names."""
