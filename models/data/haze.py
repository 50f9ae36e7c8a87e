"""Synthetic haze for training dehazers: clear images in, (hazy, clear) pairs out.

The atmospheric scattering model (Koschmieder; McCartney 1976; He et al. 2009):

    I(x) = J(x) t(x) + A(x) (1 - t(x))

with J the clear scene, t the transmission and A the airlight. Real haze over remote-sensing
scenes is not homogeneous, so both fields are random and smooth:
- opacity 1 - t is a smooth random field (a sum of bilinearly interpolated random grids of
  2, 4 and 8 cells: broad banks plus medium patches) stretched per image between two values
  drawn from `thickness`, so one image may hold both thin and thick haze;
- the airlight has a random brightness (`airlight`), a random tint per band (`tint`) and a
  smooth spatial variation (`airlight_variation`, relative).

Wavelength dependence (multispectral): aerosol optical depth falls with wavelength as
tau(lambda) = tau(lambda_ref) (lambda_ref / lambda)^gamma (Angstrom's law; gamma about 1-1.5
for haze, 4 for pure Rayleigh scattering, 0 for fog), so with t = exp(-tau) each band gets

    t_b = t_ref ^ ((lambda_ref / lambda_b) ^ gamma),

t_ref being the field above at `reference_wavelength`: near-infrared bands see through haze
better than blue ones. Without `wavelengths` every band shares t_ref.

Everything is drawn from the numpy Generator passed in, so a seed reproduces the haze.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..inference.scaling import BandScaling
from .samples import SampleSet

FIELD_CELLS = (2, 4, 8)
#: how a dehazing net sees a hazy scene (`BandScaling.from_array` / `scene_scaling` arguments):
#: one gain for all bands and no offset, so the haze's colour and its lift of the dark pixels,
#: the cues of its thickness, survive the scaling (a per-band percentile stretch removes them,
#: leaving the net to guess how much brighter and flatter the clear scene is)
MODEL_SCALING = {"mode": "common", "low_percentile": None, "high_percentile": 99.5}
"""Grid sizes (cells across the image) of the octaves summed into a smooth random field."""
DEFAULT_REFERENCE_WAVELENGTH = 550.0
"""nm; green, where the transmission field is defined when wavelengths are given."""


def smooth_random_field(height: int, width: int, rng: np.random.Generator,
                        cells: Sequence[int] = FIELD_CELLS) -> np.ndarray:
    """A smooth random (height, width) float64 field spanning exactly [0, 1].

    Octave k is a (c_k + 1)^2 grid of uniform values interpolated bilinearly (corners
    aligned) to the image and weighted 1 / c_k, so coarse structure dominates.
    """
    import torch
    import torch.nn.functional as F

    total = np.zeros((height, width))
    for count in cells:
        grid = torch.from_numpy(rng.random((1, 1, count + 1, count + 1)))
        total += F.interpolate(grid, size=(height, width), mode="bilinear",
                               align_corners=True)[0, 0].numpy() / count
    span = total.max() - total.min()
    return (total - total.min()) / span if span > 0 else np.zeros_like(total)


def _check_range(name: str, values: tuple[float, float], low: float, high: float) -> None:
    first, second = values
    if not low <= first <= second <= high:
        raise InputError(f"{name} must be an increasing pair within [{low}, {high}], got {values}")


def band_transmission(transmission: np.ndarray, wavelengths: Sequence[float] | None,
                      band_count: int, reference_wavelength: float = DEFAULT_REFERENCE_WAVELENGTH,
                      angstrom_exponent: float = 1.0) -> np.ndarray:
    """(bands, H, W) transmission from the (H, W) one at the reference wavelength.

    t_b = t ^ ((reference / wavelength_b) ^ angstrom_exponent); without wavelengths every band
    gets `transmission` unchanged.
    """
    if wavelengths is None:
        return np.repeat(transmission[None], band_count, axis=0)
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    if wavelengths.shape != (band_count,) or np.any(wavelengths <= 0):
        raise InputError(f"give one positive wavelength (nm) per band: {band_count} bands but "
                         f"wavelengths {wavelengths.tolist()}")
    exponents = (reference_wavelength / wavelengths) ** angstrom_exponent
    return transmission[None] ** exponents[:, None, None]


def synthesize_haze(clear: np.ndarray, rng: np.random.Generator,
                    thickness: tuple[float, float] = (0.2, 0.9),
                    airlight: tuple[float, float] = (0.7, 1.0), tint: float = 0.05,
                    airlight_variation: float = 0.1, wavelengths: Sequence[float] | None = None,
                    reference_wavelength: float = DEFAULT_REFERENCE_WAVELENGTH,
                    angstrom_exponent: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Haze over a clear (bands, H, W) image in [0, 1]: returns (hazy, transmission, airlight).

    `thickness` bounds the opacity 1 - t: two values drawn uniformly from it are the thinnest
    and thickest haze of this image, and the smooth field is stretched between them (so t lies
    in [1 - thickness[1], 1 - thickness[0]]; thickness (0, 0) gives t = 1 and hazy == clear).
    `airlight` bounds the airlight brightness, `tint` is the standard deviation of its relative
    per-band colour change and `airlight_variation` the relative amplitude of its spatial
    change. `wavelengths` (nm, one per band) turn on wavelength-dependent scattering (module
    docstring). All three outputs are float32 (bands, H, W); t is in (0, 1].
    """
    if clear.ndim != 3:
        raise InputError(f"expected a clear (bands, height, width) image, got shape {clear.shape}")
    _check_range("thickness", thickness, 0.0, 0.99)
    _check_range("airlight", airlight, 0.0, 1.0)
    bands, height, width = clear.shape
    clear64 = np.asarray(clear, dtype=np.float64)
    thinnest, thickest = np.sort(rng.uniform(*thickness, size=2))
    opacity = thinnest + (thickest - thinnest) * smooth_random_field(height, width, rng)
    transmission = band_transmission(1.0 - opacity, wavelengths, bands, reference_wavelength,
                                     angstrom_exponent)
    colour = rng.uniform(*airlight) * (1.0 + tint * rng.standard_normal(bands))
    variation = 1.0 + airlight_variation * (smooth_random_field(height, width, rng, (2, 4)) - 0.5)
    light = np.clip(colour[:, None, None] * variation[None], 0.0, 1.0)
    hazy = clear64 * transmission + light * (1.0 - transmission)
    return hazy.astype(np.float32), transmission.astype(np.float32), light.astype(np.float32)


@dataclass
class DehazeSamples(SampleSet):
    """Aligned training pairs, numpy float32: `hazy` and `clear`, both [N, bands, p, p]."""

    hazy: np.ndarray
    clear: np.ndarray

    def __post_init__(self):
        if self.hazy.shape != self.clear.shape:
            raise ValueError(f"hazy {self.hazy.shape} and clear {self.clear.shape} samples must "
                             "have the same shape")


def make_dehaze_pairs(images: Sequence[np.ndarray], patch_size: int, count: int,
                      rng: np.random.Generator | None = None, *, context_size: int | None = None,
                      normalize: bool = True, augment: bool = True,
                      **haze_options) -> DehazeSamples:
    """`count` random (hazy, clear) patches from clear (bands, H, W) images in [0, 1].

    For each sample an image is picked with probability proportional to its area and a
    context window (`context_size`, default 4 x `patch_size`, at most the image) is cut from
    it and given its own haze (`synthesize_haze` with `haze_options`: thickness, airlight,
    wavelengths ...), so the haze varies over the window as over a scene. With `normalize`
    the window is scaled with its hazy version's `MODEL_SCALING`, as the inference engine
    scales a hazy scene: the net learns to return the clear image in its
    input's units. The patch is then cut at random inside the window, and flipped and turned
    at random (`augment`), the same way for hazy and clear.
    """
    if not images:
        raise InputError("give at least one clear image to synthesize haze over")
    if count < 1:
        raise InputError(f"ask for at least one training sample, got {count}")
    bands = images[0].shape[0]
    for image in images:
        if image.ndim != 3 or image.shape[0] != bands:
            raise InputError(f"every clear image must be (bands, height, width) with {bands} bands, "
                             f"got {image.shape}")
        if image.shape[1] < patch_size or image.shape[2] < patch_size:
            raise InputError(f"an image of {image.shape[1]}x{image.shape[2]} pixels is smaller than "
                             f"the {patch_size}-pixel patches; use a smaller patch size")
    rng = rng or np.random.default_rng()
    context_size = max(context_size or 4 * patch_size, patch_size)
    areas = np.array([image.shape[1] * image.shape[2] for image in images], dtype=np.float64)
    hazy_patches, clear_patches = [], []
    for index in rng.choice(len(images), size=count, p=areas / areas.sum()):
        clear = _random_window(images[index], context_size, rng)
        hazy, _, _ = synthesize_haze(clear, rng, **haze_options)
        if normalize:
            scaling = BandScaling.from_array(hazy, **MODEL_SCALING)
            hazy, clear = scaling.normalize(hazy), scaling.normalize(clear)
        pair = _random_window(np.concatenate([hazy, clear]), patch_size, rng)
        if augment:
            pair = np.rot90(pair[:, :, ::-1] if rng.integers(2) else pair, k=int(rng.integers(4)),
                            axes=(1, 2))
        hazy_patches.append(pair[:bands])
        clear_patches.append(pair[bands:])
    return DehazeSamples(np.ascontiguousarray(np.stack(hazy_patches), dtype=np.float32),
                         np.ascontiguousarray(np.stack(clear_patches), dtype=np.float32))


def _random_window(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of at most `size` x `size` pixels of a (bands, H, W) array, as float32."""
    height, width = min(size, image.shape[1]), min(size, image.shape[2])
    top = rng.integers(0, image.shape[1] - height + 1)
    left = rng.integers(0, image.shape[2] - width + 1)
    return np.asarray(image[:, top:top + height, left:left + width], dtype=np.float32)
