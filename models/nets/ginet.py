"""GINet: land-cover segmentation of large scenes with a global view guiding local crops.

Two branches of the same design (an encoder and an FPN decoder); the encoder is a ResNet from
`backbones` (`GINetConfig`) or an ImageNet-pretrained EfficientNet-Lite (`GINetEfficientConfig`,
`lite_stages`), whose local branch reads the crop average-pooled by `input_stride`:
- the global branch sees the whole scene downsampled to about `global_size` pixels a side and
  predicts coarse class logits;
- the local branch sees full-resolution crops. After every encoder stage (and after the
  decoder) a `GlobalGuidedNorm` normalizes the local features and scales/shifts them with
  parameters predicted from the global features of the crop's own region.

Where a crop lies in the scene is given by its window as fractions of the scene,
`(top, left, bottom, right)` in [0, 1] (values slightly outside are allowed for tiles that
reach past the border; the global map's border values are repeated there). The window's part
of a global map is cut out with RoI-style bilinear sampling at the centres of the local
feature map's cells (`crop_windows`), so window (0.5, 0.5, 1, 1) of an 8x8 map at 4x4 is
exactly its bottom-right 4x4 cells.

The modulation parameters are predicted at the global map's resolution and then cropped: the
predictor runs once per scene, and each tile only samples it. `global_context` computes
everything the global branch gives (once per scene at inference); `forward_local` runs a
batch of crops against it.

Local affinity distillation (`models.training.ginet_losses`) uses `forward_features`: the local
decoder features and the global decoder features cropped to the same region and size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from . import register
from .backbones import EncoderSpec, ResNetEncoder, conv_bn, stage_features
from .blocks import conv
from .efficientnet_lite import stage_plan
from .lite_stages import LiteStages, load_imagenet


@dataclass
class GINetConfig:
    """Hyper-parameters of GINet (defaults: the paper-sized net, ResNet-18 encoders)."""

    bands: int = 3
    classes: int = 6
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    """Channels of each encoder stage (strides 4, 8, 16, ...)."""
    blocks: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    """Basic residual blocks per stage."""
    stem: str = "conv7"
    """Encoder stem (`backbones.EncoderSpec.stem`): "conv7" as ResNet, "conv3" for students."""
    decoder_width: int = 128
    guidance_width: int = 64
    """Hidden width of the networks predicting the scale/shift of each guided normalization."""
    global_size: int = 512
    """Side of the global view: the whole scene is resized to global_size x global_size."""
    use_global_view: bool = True
    """False gives the "local-only" ablation: the global branch sees a blank view, so the
    guided normalizations reduce to learned affine normalizations shared by every crop."""

    @property
    def multiple_of(self) -> int:
        """Crop and global-view sides must be multiples of this (the deepest stage's stride)."""
        return 4 * 2 ** (len(self.widths) - 1)


@dataclass
class GINetLiteConfig(GINetConfig):
    """The lite student: narrow, shallow branches made for CPU throughput."""

    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 192])
    blocks: list[int] = field(default_factory=lambda: [1, 2, 2, 1])
    stem: str = "conv3"
    decoder_width: int = 64
    guidance_width: int = 32


@dataclass
class GINetEfficientConfig(GINetConfig):
    """GINet on EfficientNet-Lite encoders (both branches the same `encoder` variant), made for
    CPU throughput: the local branch sees each crop average-pooled by `input_stride` and its
    logits are upsampled back. `widths` follow from the variant (stage ends at strides 4-32)."""

    encoder: str = "lite0"
    input_stride: int = 2
    decoder_width: int = 64
    guidance_width: int = 32
    global_size: int = 256

    def __post_init__(self):
        plan = stage_plan(self.encoder)
        self.widths = [plan[i][0].channels for i in (1, 2, 4, len(plan) - 1)]

    @property
    def multiple_of(self) -> int:
        return self.input_stride * 4 * 2 ** (len(self.widths) - 1)


class FPNDecoder(nn.Module):
    """Feature pyramid fusion: 1x1 laterals, top-down upsampling sums, a 3x3 conv at stride 4.

    `forward(features)` takes the encoder stages' outputs (shallowest first) and returns
    `width` channels at the shallowest stage's resolution.
    """

    def __init__(self, in_widths: list[int], width: int):
        super().__init__()
        self.laterals = nn.ModuleList(conv(w, width, 1) for w in in_widths)
        self.fuse = conv_bn(width, width)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.laterals[-1](features[-1])
        for lateral, feature in zip(reversed(self.laterals[:-1]), reversed(features[:-1])):
            x = lateral(feature) + F.interpolate(x, size=feature.shape[-2:], mode="bilinear",
                                                 align_corners=False)
        return self.fuse(x)


def interpolation_matrix(start: torch.Tensor, stop: torch.Tensor, cells: int, size: int) -> torch.Tensor:
    """[B, cells, size] bilinear weights sampling a map axis of `size` pixels at the centres of
    `cells` output cells spread over fractions `start` .. `stop` [B] of it (grid_sample's
    align_corners=False convention; coordinates outside the map clamp to its border)."""
    centres = (torch.arange(cells, dtype=start.dtype, device=start.device) + 0.5) / cells
    fraction = start[:, None] + (stop - start)[:, None] * centres[None]
    position = (fraction * size - 0.5).clamp(0, size - 1)
    below = position.floor()
    weight_above = (position - below)[..., None]
    pixels = torch.arange(size, dtype=start.dtype, device=start.device)
    lower = (pixels == below[..., None]).to(start.dtype)
    upper = (pixels == (below + 1).clamp_max(size - 1)[..., None]).to(start.dtype)
    return lower * (1 - weight_above) + upper * weight_above


def crop_windows(maps: torch.Tensor, windows: torch.Tensor, size: tuple[int, int],
                 scene_index: torch.Tensor) -> torch.Tensor:
    """Each window's region of its scene's map, bilinearly resampled to `size` (RoI align).

    `maps` [S, C, h, w] covers whole scenes; `windows` [B, 4] holds (top, left, bottom, right)
    fractions; `scene_index` [B] says which map each window belongs to. Samples are taken at
    the centres of the output cells; outside the map its border values are repeated. Windows
    are axis-aligned, so the bilinear sampling is two small matrix products (rows, then
    columns), which ONNX Runtime runs much faster than a sampling grid.
    """
    windows = windows.to(maps.dtype)
    top, left, bottom, right = windows.unbind(dim=1)
    rows = interpolation_matrix(top, bottom, size[0], maps.shape[2])
    cols = interpolation_matrix(left, right, size[1], maps.shape[3])
    # one map broadcasts over every window (no copy); otherwise each window takes its scene's
    source = maps if maps.shape[0] == 1 else maps[scene_index]
    return rows[:, None] @ source @ cols[:, None].transpose(-1, -2)


class GlobalGuidedNorm(nn.Module):
    """Normalizes local features, then scales and shifts them with global guidance.

    `modulation_map(global_features)` predicts (gamma, beta) over the whole global map; the
    crop of that map for a local crop's window (`crop_windows`) is then applied as
    `norm(x) * (1 + gamma) + beta`. The last predictor conv starts at zero, so an untrained
    guidance is plain normalization.
    """

    def __init__(self, channels: int, guide_channels: int, hidden: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.predictor = nn.Sequential(conv(guide_channels, hidden, 3, bias=True), nn.ReLU(inplace=True),
                                       conv(hidden, 2 * channels, 3, bias=True))
        nn.init.zeros_(self.predictor[-1].weight)
        nn.init.zeros_(self.predictor[-1].bias)

    def modulation_map(self, global_features: torch.Tensor) -> torch.Tensor:
        """[S, 2C, h, w]: gamma and beta for every cell of the global feature map."""
        return self.predictor(global_features)

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        gamma, beta = modulation.chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


@dataclass
class GlobalContext:
    """What the global branch gives for S scenes: the maps local crops are guided by."""

    modulations: list[torch.Tensor]
    """Per guided normalization, [S, 2C, h, w] (encoder stages, then the decoder)."""
    features: torch.Tensor
    """Global decoder features [S, D, G/4, G/4]."""
    logits: torch.Tensor
    """Global class logits [S, classes, G, G]."""

    def to(self, device: torch.device) -> "GlobalContext":
        """The same context on `device`."""
        return GlobalContext([m.to(device) for m in self.modulations], self.features.to(device),
                             self.logits.to(device))


@register("ginet_efficientnet", GINetEfficientConfig)
@register("ginet_lite", GINetLiteConfig)
@register("ginet", GINetConfig)
class GINet(nn.Module):
    """Global-guided segmentation net: `net(local, global_image, windows) -> logits`.

    `local` [B, bands, H, W] are normalized full-resolution crops, `global_image`
    [S, bands, G, G] the normalized downsampled scene(s) (S = 1: every crop is from the same
    scene; S = B: crop b is from scene b, unless `scene_index` says otherwise), `windows`
    [B, 4] each crop's (top, left, bottom, right) in scene fractions. H, W and G must be
    multiples of `config.multiple_of`. Returns class logits [B, classes, H, W].
    """

    def __init__(self, config: GINetConfig):
        super().__init__()
        self.config = config
        widths, width = list(config.widths), config.decoder_width
        if isinstance(config, GINetEfficientConfig):
            self.local_encoder = LiteStages(config.encoder, config.bands)
            self.global_encoder = LiteStages(config.encoder, config.bands)
        else:
            spec = EncoderSpec(in_channels=config.bands, block="basic", depths=tuple(config.blocks),
                               planes=tuple(widths), stem=config.stem, stem_width=widths[0])
            self.local_encoder = ResNetEncoder(spec)
            self.global_encoder = ResNetEncoder(spec)
        self.local_decoder = FPNDecoder(widths, width)
        self.global_decoder = FPNDecoder(widths, width)
        self.guidance = nn.ModuleList(GlobalGuidedNorm(w, w, config.guidance_width)
                                      for w in widths + [width])
        self.local_head = conv(width, config.classes, 1, bias=True)
        self.global_head = conv(width, config.classes, 1, bias=True)

    def load_imagenet_encoders(self) -> None:
        """Start both EfficientNet-Lite encoders from their ImageNet weights."""
        if not isinstance(self.config, GINetEfficientConfig):
            raise InputError("only EfficientNet-Lite encoders have ImageNet weights here")
        for encoder in (self.local_encoder, self.global_encoder):
            load_imagenet(encoder, self.config.encoder)

    @property
    def feature_channels(self) -> dict[str, int]:
        """Channels of the features `forward_features` returns."""
        return {"local": self.config.decoder_width, "global_region": self.config.decoder_width}

    def _check(self, image: torch.Tensor, what: str) -> None:
        multiple = self.config.multiple_of
        if image.dim() != 4 or image.shape[1] != self.config.bands:
            raise InputError(f"the {what} must be [batch, {self.config.bands} bands, height, width], "
                             f"got {tuple(image.shape)}; choose a model made for these bands")
        if image.shape[2] % multiple or image.shape[3] % multiple:
            raise InputError(f"the {what} sides must be multiples of {multiple} pixels, got "
                             f"{image.shape[2]}x{image.shape[3]}; use a tile size that is")

    def global_context(self, global_image: torch.Tensor) -> GlobalContext:
        """Run the global branch on the downsampled scene(s) [S, bands, G, G]."""
        self._check(global_image, "global view")
        if not self.config.use_global_view:
            global_image = global_image * 0.0  # zeros that keep the view an input of exported graphs
        encoded = stage_features(self.global_encoder.stem, self.global_encoder.layers, global_image)
        stages = [encoded[f"layer{i + 1}"] for i in range(len(self.config.widths))]
        features = self.global_decoder(stages)
        modulations = [guide.modulation_map(f) for guide, f in zip(self.guidance, stages + [features])]
        logits = F.interpolate(self.global_head(features), size=global_image.shape[-2:],
                               mode="bilinear", align_corners=False)
        return GlobalContext(modulations, features, logits)

    def forward_local(self, local: torch.Tensor, context: GlobalContext, windows: torch.Tensor,
                      scene_index: torch.Tensor | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, classes, H, W], local decoder features before guidance) of the crops."""
        self._check(local, "local crops")
        index = self._scene_index(len(local), context.features.shape[0], scene_index, local.device)
        stride = getattr(self.config, "input_stride", 1)
        x = self.local_encoder.stem(F.avg_pool2d(local, stride) if stride > 1 else local)
        stages = []
        for stage, guide, modulation in zip(self.local_encoder.layers, self.guidance, context.modulations):
            x = stage(x)
            x = guide(x, crop_windows(modulation, windows, x.shape[-2:], index))
            stages.append(x)
        features = self.local_decoder(stages)
        guided = self.guidance[-1](features, crop_windows(context.modulations[-1], windows,
                                                          features.shape[-2:], index))
        logits = F.interpolate(self.local_head(guided), size=local.shape[-2:], mode="bilinear",
                               align_corners=False)
        return logits, features

    @staticmethod
    def _scene_index(count: int, scenes: int, scene_index: torch.Tensor | None,
                     device: torch.device) -> torch.Tensor:
        if scene_index is not None:
            return scene_index.to(device)
        if scenes not in (1, count):
            raise InputError(f"{count} crops and {scenes} global views: give one global view, one "
                             "per crop, or a scene index for each crop")
        return torch.arange(count, device=device) if scenes > 1 else torch.zeros(count, dtype=torch.long,
                                                                                 device=device)

    def forward(self, local: torch.Tensor, global_image: torch.Tensor, windows: torch.Tensor,
                scene_index: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_local(local, self.global_context(global_image), windows, scene_index)[0]

    def forward_features(self, local: torch.Tensor, global_image: torch.Tensor, windows: torch.Tensor,
                         scene_index: torch.Tensor | None = None,
                         ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(outputs, features) for training.

        outputs: "local" logits [B, classes, H, W], "global" logits [S, classes, G, G].
        features: "local" decoder features [B, D, H/4, W/4] and "global_region", the global
        decoder features of each crop's window resampled to the same size (for the local
        affinity distillation).
        """
        context = self.global_context(global_image)
        logits, features = self.forward_local(local, context, windows, scene_index)
        index = self._scene_index(len(local), context.features.shape[0], scene_index, local.device)
        region = crop_windows(context.features, windows, features.shape[-2:], index)
        return {"local": logits, "global": context.logits}, {"local": features, "global_region": region}
