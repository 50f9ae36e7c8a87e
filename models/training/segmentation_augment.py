"""Photometric and scale augmentation of GINet training batches, so imagery from other sensors,
seasons and atmospheres does not collapse into one class.

Images are normalized to about [0, 1] per band (`models.inference.scaling`). One draw is
applied to a whole batch, local crops and global views alike (haze and illumination cover a
scene, and the global view must show the scene the crops come from):
- brightness gain and contrast around the batch mean;
- saturation (towards or away from the band mean) and a small gain per band (colour balance);
- haze with probability `haze_probability`: x * t + airlight * (1 - t), the atmospheric
  scattering model with a uniform transmission t;
- scale: the crops (not the global views) resized to another multiple of the net's stride
  (labels by nearest neighbour); a resized crop still covers its window, so it shows the same
  ground at another sampling distance and the windows stay right.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentRanges:
    """How far each augmentation may go (uniform draws in [1 - x, 1 + x] unless said)."""

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.4
    band_gain: float = 0.1
    haze_probability: float = 0.3
    transmission: tuple[float, float] = (0.55, 0.95)
    airlight: tuple[float, float] = (0.7, 1.1)
    scale: float = 0.25
    """Crops are resized by a factor in [1 - scale, 1 + scale] (to a multiple of the stride)."""


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def photometric(images: torch.Tensor, global_images: torch.Tensor, ranges: AugmentRanges,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, global views) under one random illumination, colour balance and haze."""
    bands = images.shape[1]
    gain = _uniform(generator, 1 - ranges.brightness, 1 + ranges.brightness)
    contrast = _uniform(generator, 1 - ranges.contrast, 1 + ranges.contrast)
    saturation = _uniform(generator, 1 - ranges.saturation, 1 + ranges.saturation)
    band_gain = 1 + ranges.band_gain * (2 * torch.rand(bands, generator=generator) - 1)
    hazy = float(torch.rand((), generator=generator)) < ranges.haze_probability
    transmission = _uniform(generator, *ranges.transmission)
    airlight = _uniform(generator, *ranges.airlight)
    mean = images.mean()

    def apply(x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * saturation
        x = x * band_gain.to(x.device).view(1, bands, 1, 1)
        x = (mean + (x - mean) * contrast) * gain
        if hazy:
            x = x * transmission + airlight * (1 - transmission)
        return x

    return apply(images), apply(global_images)


def rescaled(images: torch.Tensor, labels: torch.Tensor, ranges: AugmentRanges, multiple: int,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops and labels resized to a random multiple of `multiple` near size * [1 +- scale]."""
    size = images.shape[-1]
    factor = _uniform(generator, 1 - ranges.scale, 1 + ranges.scale)
    target = max(multiple, int(round(size * factor / multiple)) * multiple)
    if target == size:
        return images, labels
    images = F.interpolate(images, size=(target, target), mode="bilinear", align_corners=False,
                           antialias=target < size)
    labels = F.interpolate(labels[:, None].float(), size=(target, target), mode="nearest")[:, 0].long()
    return images, labels


def augment_batch(batch, ranges: AugmentRanges, multiple: int, generator: torch.Generator):
    """`batch` (a `train_segmentation.Batch`) with photometric and scale augmentation."""
    images, global_images = photometric(batch.images, batch.global_images, ranges, generator)
    images, labels = rescaled(images, batch.labels, ranges, multiple, generator)
    return dataclasses.replace(batch, images=images, labels=labels, global_images=global_images)
