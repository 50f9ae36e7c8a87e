"""PSDNet: three-stage pansharpening net, and its teacher that sees the ground truth.

Stages, each ending in `tanh(conv) + base` (the bicubic MS in the paper):
1. DBPN: back-projection (`UpProjection`/`DownProjection`) on 4 quadrant sub-patches that
   overlap by 4 MS pixels (4 * ratio PAN pixels), run as one batch and stitched (outputs and
   features) with the raised-cosine weights of `models.inference.blending`.
2. UNet with 3 levels (width, 2*width, 3*width channels); the decoder goes up through
   TransBlocks (3x3 conv, 1x1 conv, PixelShuffle upsampling) and joins the encoder skips.
   Its input is [stage-1 features, stage-1 output, PAN, stage-2 image].
3. Original-resolution block: residual groups of (CAB, SAB, conv, PReLU), no resampling.

The stage-2 image is that base for the normal net. With `teacher=True` it is the
ground truth instead: `forward_features(ms, pan, stage2_input=target)` where `target`
[B, C, h*r, w*r] is the reference image in the same normalized units; everything else (stage 1,
the PAN, and the base that every stage adds its residual to) is unchanged, so teacher
and student share one architecture and their stage-2 decoder and stage-3 features can be
distilled one to one. The normal net ignores `stage2_input`, so a training loop may pass the
target to both.

With `glp_window` > 0 (not in the paper) every stage adds its residual not to the bicubic MS
but to the classical injection the lite student starts from (`InjectionBase`): a teacher has
to beat the student to be worth distilling, and PSDNet on the bicubic MS did not (README).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..inference.blending import tile_weights
from . import register
from .blocks import CAB, SAB, ConvPReLU, DownProjection, PixelShuffleUp, PixelUnshuffleDown, \
    UpProjection, conv
from .pansharpen_common import InjectionBase, ResidualImageHead, check_glp_window, \
    check_pansharpen_inputs

QUADRANT_OVERLAP_MS = 4
"""Overlap of neighbouring stage-1 quadrants, in MS pixels (the paper's 4 MS / 16 PAN)."""


@dataclass
class PSDNetConfig:
    """Hyper-parameters of PSDNet; the defaults follow the paper (width 28, three stages)."""

    ms_bands: int = 4
    ratio: int = 4
    width: int = 28
    teacher: bool = False
    projection_pairs: int = 2
    """Down/up back-projection pairs after stage 1's first up-projection."""
    unet_blocks: int = 1
    """CABs per UNet level (encoder and decoder alike)."""
    refine_blocks: int = 3
    """Residual (CAB, SAB, conv, PReLU) groups of stage 3."""
    attention_reduction: int = 4
    glp_window: int = 0
    """0: stage outputs are residuals on the bicubic MS (the paper). > 0: on the local MTF-GLP
    injection with gains regressed over windows of this many MS pixels (`InjectionBase`)."""

    def __post_init__(self):
        check_glp_window(self.glp_window)

    @property
    def multiple_of(self) -> int:
        """PAN tile sides must be multiples of this.

        The MS tile must split into quadrants that overlap by 4 pixels (even side >= 4) and the
        PAN must halve twice in the UNet: 4 MS pixels = 4 * ratio PAN pixels satisfies both.
        """
        return 4 * self.ratio


class _BackProjectionStage(nn.Module):
    """Stage 1 on a batch of sub-patches: DBPN with the PAN injected after the first up-step."""

    def __init__(self, config: PSDNetConfig):
        super().__init__()
        width, ratio = config.width, config.ratio
        self.ms_head = ConvPReLU(config.ms_bands, width)
        self.pan_head = ConvPReLU(1, width)
        self.first_up = UpProjection(width, ratio)
        self.inject_pan = ConvPReLU(2 * width, width, 1)
        self.downs = nn.ModuleList(DownProjection(width, ratio) for _ in range(config.projection_pairs))
        self.ups = nn.ModuleList(UpProjection(width, ratio) for _ in range(config.projection_pairs))
        self.merge = ConvPReLU((config.projection_pairs + 1) * width, width, 1)
        self.output = ResidualImageHead(width, config.ms_bands)

    def forward(self, ms: torch.Tensor, pan: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, residual image) at PAN resolution for each sub-patch."""
        high = self.inject_pan(torch.cat([self.first_up(self.ms_head(ms)), self.pan_head(pan)], 1))
        highs = [high]
        for down, up in zip(self.downs, self.ups):
            highs.append(up(down(highs[-1])))
        features = self.merge(torch.cat(highs, 1))
        return features, self.output.residual(features)


def split_quadrants(image: torch.Tensor, overlap: int) -> torch.Tensor:
    """[B, C, H, W] -> [4B, C, H/2 + overlap/2, W/2 + overlap/2]: TL, TR, BL, BR batches."""
    height, width = image.shape[-2:]
    rows = height // 2 + overlap // 2
    cols = width // 2 + overlap // 2
    return torch.cat([image[..., :rows, :cols], image[..., :rows, width - cols:],
                      image[..., height - rows:, :cols], image[..., height - rows:, width - cols:]])


def merge_quadrants(quadrants: torch.Tensor, height: int, width: int, overlap: int) -> torch.Tensor:
    """Inverse of `split_quadrants`: blend the 4 sub-patches with raised-cosine weights."""
    rows, cols = quadrants.shape[-2:]
    blended, total = 0, 0
    for index, part in enumerate(quadrants.chunk(4)):
        top, left = divmod(index, 2)
        weights = tile_weights(rows, cols, overlap, top=bool(top), bottom=not top,
                               left=bool(left), right=not left)
        weights = torch.from_numpy(weights).to(device=part.device, dtype=part.dtype)
        padding = (left * (width - cols), (1 - left) * (width - cols),
                   top * (height - rows), (1 - top) * (height - rows))
        blended = blended + F.pad(part * weights, padding)
        total = total + F.pad(weights, padding)
    return blended / total


def _trans_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """UNet up-step: 3x3 conv, PReLU, then 1x1 conv + PixelShuffle to twice the size."""
    return nn.Sequential(ConvPReLU(in_channels, in_channels),
                         PixelShuffleUp(in_channels, out_channels, 2), nn.PReLU())


def _cabs(channels: int, count: int, reduction: int) -> nn.Sequential:
    return nn.Sequential(*(CAB(channels, reduction) for _ in range(count)))


class _UNetStage(nn.Module):
    """Stage 2: 3-level UNet; returns the decoder features at 1/2 and full resolution."""

    def __init__(self, config: PSDNetConfig):
        super().__init__()
        w, bands, blocks, red = config.width, config.ms_bands, config.unet_blocks, config.attention_reduction
        self.head = ConvPReLU(w + 2 * bands + 1, w)
        self.encode1 = _cabs(w, blocks, red)
        self.down2 = nn.Sequential(PixelUnshuffleDown(w, 2 * w), nn.PReLU())
        self.encode2 = _cabs(2 * w, blocks, red)
        self.down3 = nn.Sequential(PixelUnshuffleDown(2 * w, 3 * w), nn.PReLU())
        self.bottom = _cabs(3 * w, blocks, red)
        self.up2 = _trans_block(3 * w, 2 * w)
        self.join2 = ConvPReLU(4 * w, 2 * w, 1)
        self.decode2 = _cabs(2 * w, blocks, red)
        self.up1 = _trans_block(2 * w, w)
        self.join1 = ConvPReLU(2 * w, w, 1)
        self.decode1 = _cabs(w, blocks, red)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip1 = self.encode1(self.head(x))
        skip2 = self.encode2(self.down2(skip1))
        bottom = self.bottom(self.down3(skip2))
        half = self.decode2(self.join2(torch.cat([self.up2(bottom), skip2], 1)))
        full = self.decode1(self.join1(torch.cat([self.up1(half), skip1], 1)))
        return half, full


class _RefineGroup(nn.Module):
    """x + PReLU(conv(SAB(CAB(x)))): one residual group of stage 3."""

    def __init__(self, width: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(CAB(width, reduction), SAB(), conv(width, width), nn.PReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register("psdnet", PSDNetConfig)
class PSDNet(nn.Module):
    """Three-stage pansharpening net (see the module docstring); `net(ms, pan) -> fused`."""

    def __init__(self, config: PSDNetConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.stage1 = _BackProjectionStage(config)
        self.stage2 = _UNetStage(config)
        self.stage2_output = ResidualImageHead(w, config.ms_bands)
        self.stage3_head = ConvPReLU(w + config.ms_bands + 1, w)
        self.stage3 = nn.Sequential(*(_RefineGroup(w, config.attention_reduction)
                                      for _ in range(config.refine_blocks)))
        self.stage3_output = ResidualImageHead(w, config.ms_bands)

    @property
    def feature_channels(self) -> dict[str, int]:
        """Channels of each tensor in `forward_features`'s feature dict."""
        w = self.config.width
        return {"stage2_decoder_half": 2 * w, "stage2_decoder": w, "stage3": w}

    def forward_features(self, ms: torch.Tensor, pan: torch.Tensor,
                         stage2_input: torch.Tensor | None = None
                         ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """([stage-1, stage-2, stage-3 outputs], distillable features).

        `stage2_input` is the ground truth [B, C, h*r, w*r], required by a teacher and ignored
        otherwise.
        """
        cfg = self.config
        check_pansharpen_inputs(ms, pan, cfg.ms_bands, cfg.ratio, cfg.multiple_of)
        base = InjectionBase(ms, pan, cfg.ratio, cfg.glp_window).base
        if cfg.teacher:
            if stage2_input is None or stage2_input.shape != base.shape:
                raise InputError("a PSDNet teacher needs the ground truth as stage2_input, shaped "
                                 f"like the fused output {tuple(base.shape)}")
            stage2_image = stage2_input
        else:
            stage2_image = base

        height, width = pan.shape[-2:]
        pan_overlap = QUADRANT_OVERLAP_MS * cfg.ratio
        features1, residual1 = self.stage1(split_quadrants(ms, QUADRANT_OVERLAP_MS),
                                           split_quadrants(pan, pan_overlap))
        features1 = merge_quadrants(features1, height, width, pan_overlap)
        output1 = merge_quadrants(residual1, height, width, pan_overlap) + base

        half, decoded = self.stage2(torch.cat([features1, output1, pan, stage2_image], 1))
        output2 = self.stage2_output(decoded, base)

        refined = self.stage3(self.stage3_head(torch.cat([decoded, output2, pan], 1)))
        output3 = self.stage3_output(refined, base)
        features = {"stage2_decoder_half": half, "stage2_decoder": decoded, "stage3": refined}
        return [output1, output2, output3], features

    def forward(self, ms: torch.Tensor, pan: torch.Tensor,
                stage2_input: torch.Tensor | None = None) -> torch.Tensor:
        """The fused image (stage-3 output), never negative."""
        # as the lite student: no radiance is negative, and the scaling keeps 0 at 0, so flat
        # black no-data corners stay black instead of +-noise (training sees the raw stages)
        return self.forward_features(ms, pan, stage2_input)[0][-1].clamp_min(0.0)
