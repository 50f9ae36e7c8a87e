"""Scene classifier on an EfficientNet-Lite encoder ("efficientnet_lite_classifier").

Chips arrive scaled to [0, 1] by the model's band scaling; the net maps them to [-1, 1], the
range the published ImageNet weights were trained on, pools the encoder's head and applies
dropout and a linear layer. `forward_features` returns what the distillation losses use, as
the other classifiers do: the logits and {"embedding": pooled head features, "stages": pooled
stride-16 and stride-32 features}.

`init_from_backbone` starts a net from another net's encoder weights (an ImageNet checkpoint
mapped with `imagenet_key_map`, or a trained classifier's encoder): every encoder tensor is
copied; when the band count differs, the stem's filters are the mean over the source's bands.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import register
from .classifier_config import ClassifierConfig
from .efficientnet_lite import VARIANTS, EfficientNetLiteEncoder

STEM_KEY = "stem.conv.weight"


@dataclass
class EfficientNetLiteClassifierConfig(ClassifierConfig):
    """EfficientNet-Lite scene classifier."""

    input_size: int = 128
    variant: str = "lite0"

    def __post_init__(self):
        super().__post_init__()
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant '{self.variant}' "
                             f"(known: {', '.join(VARIANTS)})")


@register("efficientnet_lite_classifier", EfficientNetLiteClassifierConfig)
class EfficientNetLiteClassifier(nn.Module):
    """[-1, 1] input -> EfficientNet-Lite encoder -> global average pool -> dropout -> linear."""

    def __init__(self, config: EfficientNetLiteClassifierConfig):
        super().__init__()
        self.config = config
        self.encoder = EfficientNetLiteEncoder(config.variant, config.bands)
        self.embedding_channels = self.encoder.out_channels
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.embedding_channels, config.classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(logits [B, classes], {"embedding": [B, 1280], "stages": [[B, C16], [B, 1280]]})."""
        features = self.encoder.stages(x * 2.0 - 1.0)
        stages = [F.adaptive_avg_pool2d(features[key], 1).flatten(1)
                  for key in ("stride16", "stride32")]
        embedding = stages[-1]
        return self.head(self.dropout(embedding)), {"embedding": embedding, "stages": stages}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding = F.adaptive_avg_pool2d(
            self.encoder.head(self.encoder.blocks_forward(self.encoder.stem(x * 2.0 - 1.0))), 1)
        return self.head(self.dropout(embedding.flatten(1)))

    def init_from_backbone(self, encoder_state: dict[str, torch.Tensor]) -> None:
        """Copy encoder weights (keys relative to the encoder) into this net's encoder."""
        own = self.encoder.state_dict()
        state = dict(encoder_state)
        stem = state.get(STEM_KEY)
        if stem is not None and stem.shape[1] != own[STEM_KEY].shape[1]:
            bands = own[STEM_KEY].shape[1]
            state[STEM_KEY] = stem.mean(dim=1, keepdim=True).repeat(1, bands, 1, 1) * (3.0 / bands)
        wrong = [key for key in own if key not in state or state[key].shape != own[key].shape]
        if wrong:
            raise ValueError(f"the backbone does not fit EfficientNet-{self.config.variant}: "
                             f"{len(wrong)} tensor(s) differ, e.g. {wrong[0]}")
        self.encoder.load_state_dict({key: state[key] for key in own})

    def frozen_blocks(self, stride: str) -> list[nn.Module]:
        """The stem and the blocks up to the end of output stride `stride` ("stride4", ...)."""
        return [self.encoder.stem, *self.encoder.blocks[:self.encoder.stage_ends[stride] + 1]]


def encoder_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A classifier's encoder tensors, keyed relative to the encoder."""
    return {key[len("encoder."):]: value for key, value in model.state_dict().items()
            if key.startswith("encoder.")}
