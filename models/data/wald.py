"""Wald-protocol degradation and pansharpening training pairs.

Wald's protocol trains and tests a pansharpener one scale down: the MS and the PAN are both
degraded by the resolution ratio (blurred with a Gaussian matched to the sensor's modulation
transfer function, then decimated), the degraded pair is the network input and the original
MS is the target (Wald et al. 1997; the MTF-matched filters follow Aiazzi et al. 2006 and the
gains tabulated in Vivone et al. 2015, "A critical comparison among pansharpening algorithms").

Grid convention (the "decimation phase"): a low-resolution pixel `i` covers the
high-resolution pixels `i*r .. i*r + r - 1`, exactly as an MS pixel covers `r x r` PAN pixels
in co-registered GeoTIFFs whose pixel corners coincide. Its value is therefore the blurred
image sampled at the centre of that block, high-resolution coordinate `i*r + (r - 1) / 2`. For
an even ratio that point lies between pixels, so the Gaussian is sampled at half-integer
offsets (a kernel of even length) instead of being centred on a pixel: there is no half-pixel
shift for any ratio, and the same convention is used by the upsamplers in
`models.classical.pansharpen` (torch's `align_corners=False`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import InputError
from .samples import SampleSet

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SensorMTF:
    """Nyquist gains of a sensor: the MTF value at the Nyquist frequency of each band's grid."""

    name: str
    ms_gains: tuple[float, ...]
    pan_gain: float
    band_order: str = ""


# MS gains per band (in the sensor's band order) and the PAN gain, from Vivone et al. 2015
# (Table/code of the pansharpening toolbox, Aiazzi et al. 2006). Pleiades has no table there:
# its values are approximate (flat 0.29 for B, G, R, NIR, like similar 4-band sensors).
SENSORS: dict[str, SensorMTF] = {
    "generic": SensorMTF("generic", (0.3,), 0.15, "any"),
    "worldview2": SensorMTF("worldview2", (0.35,) * 7 + (0.27,), 0.11,
                            "coastal, blue, green, yellow, red, red edge, NIR1, NIR2"),
    "worldview3": SensorMTF("worldview3", (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315),
                            0.14, "coastal, blue, green, yellow, red, red edge, NIR1, NIR2"),
    "quickbird": SensorMTF("quickbird", (0.34, 0.32, 0.30, 0.22), 0.15, "blue, green, red, NIR"),
    "ikonos": SensorMTF("ikonos", (0.26, 0.28, 0.29, 0.28), 0.17, "blue, green, red, NIR"),
    "geoeye1": SensorMTF("geoeye1", (0.23, 0.23, 0.23, 0.23), 0.16, "blue, green, red, NIR"),
    "pleiades": SensorMTF("pleiades", (0.29, 0.29, 0.29, 0.29), 0.15, "blue, green, red, NIR"),
}


def _sensor_key(sensor: str) -> str:
    return "".join(ch for ch in sensor.lower() if ch.isalnum())


def sensor_gains(sensor: str, band_count: int) -> tuple[list[float], float]:
    """MS Nyquist gains for `band_count` bands and the PAN gain of a sensor.

    Names are matched ignoring case, spaces, dashes and underscores ("WorldView-2" works).
    A single-gain table (generic) is repeated for every band. When the MS has another band
    count than the sensor's table (a band subset or reordering we cannot identify), every band
    gets the mean of the table's gains, which keeps the overall blur right without guessing
    which band is which.
    """
    key = _sensor_key(sensor)
    if key not in SENSORS:
        raise InputError(f"unknown sensor '{sensor}': use one of {', '.join(SENSORS)}")
    if band_count < 1:
        raise InputError(f"the multispectral image needs at least one band, got {band_count}")
    table = SENSORS[key]
    if len(table.ms_gains) == band_count:
        gains = list(table.ms_gains)
    else:
        gains = [float(np.mean(table.ms_gains))] * band_count
    return gains, table.pan_gain


def _tap_offsets(size: int) -> np.ndarray:
    return np.arange(size, dtype=np.float64) - (size - 1) / 2.0


def _normalized_gaussian(offsets: np.ndarray, sigma: float) -> np.ndarray:
    exponent = 0.5 * (offsets / sigma) ** 2
    taps = np.exp(-(exponent - exponent.min()))  # shifted so very narrow kernels do not underflow
    return taps / taps.sum()


def _nyquist_response(taps: np.ndarray, offsets: np.ndarray, ratio: int) -> float:
    # Frequency response of a symmetric kernel at the low-resolution Nyquist, 1/(2r) cycles/pixel.
    return float(np.sum(taps * np.cos(np.pi * offsets / ratio)))


@lru_cache(maxsize=256)
def _solve_kernel(ratio: int, nyquist_gain: float, size: int | None) -> tuple[float, ...]:
    # Continuous Gaussian: exp(-2 pi^2 sigma^2 f^2) = G at f = 1/(2r).
    sigma0 = ratio * math.sqrt(-2.0 * math.log(nyquist_gain)) / math.pi
    if size is None:
        size = max(ratio, int(math.ceil(8.0 * sigma0 + 1.0)))
        size += (size - ratio) % 2
    elif size < ratio or (size - ratio) % 2:
        raise ValueError(f"kernel size {size} must be at least the ratio {ratio} and have the same parity "
                         "(the kernel is centred on the low-resolution pixel's block centre)")
    offsets = _tap_offsets(size)
    # The sampled, truncated kernel misses G slightly; bisect sigma so the discrete response is exact.
    low, high = 1e-3 * sigma0, 3.0 * sigma0
    if _nyquist_response(_normalized_gaussian(offsets, low), offsets, ratio) < nyquist_gain:
        raise ValueError(f"Nyquist gain {nyquist_gain} is not reachable by a Gaussian of {size} taps at "
                         f"ratio {ratio}; use a lower gain")
    if _nyquist_response(_normalized_gaussian(offsets, high), offsets, ratio) > nyquist_gain:
        raise ValueError(f"Nyquist gain {nyquist_gain} needs a wider kernel than {size} taps at ratio {ratio}")
    for _ in range(80):
        middle = 0.5 * (low + high)
        if _nyquist_response(_normalized_gaussian(offsets, middle), offsets, ratio) > nyquist_gain:
            low = middle
        else:
            high = middle
    return tuple(_normalized_gaussian(offsets, 0.5 * (low + high)).tolist())


def gaussian_mtf_kernel(ratio: int, nyquist_gain: float, size: int | None = None) -> np.ndarray:
    """1-D Gaussian taps (sum 1) whose response at the low-resolution Nyquist equals the gain.

    The 2-D filter is the outer product of these taps (separable). Tap `k` sits at offset
    `k - (size - 1) / 2` from the block centre, so `size` has the parity of `ratio` (even
    kernels for even ratios, see the module docstring); the default size covers +-4 sigma.
    The response `sum_k h_k cos(pi * offset_k / ratio)` at 1/(2*ratio) cycles per pixel
    equals `nyquist_gain` to numerical precision: sigma is solved for the truncated, sampled
    kernel rather than taken from the continuous formula `sigma = r*sqrt(-2 ln G)/pi`.
    """
    ratio = int(ratio)
    if ratio < 2:
        raise ValueError(f"the resolution ratio must be an integer >= 2, got {ratio}")
    if not 0.0 < nyquist_gain < 1.0:
        raise ValueError(f"a Nyquist gain must lie strictly between 0 and 1, got {nyquist_gain}")
    return np.asarray(_solve_kernel(ratio, float(nyquist_gain), size), dtype=np.float64)


def _band_kernels(ratio: int, nyquist_gains: Sequence[float] | float, band_count: int) -> np.ndarray:
    """(bands, K) taps, shorter kernels zero-padded symmetrically to the longest one."""
    if np.isscalar(nyquist_gains):
        nyquist_gains = [float(nyquist_gains)] * band_count
    if len(nyquist_gains) != band_count:
        raise InputError(f"{len(nyquist_gains)} Nyquist gains given for {band_count} bands: give one per band")
    kernels = [gaussian_mtf_kernel(ratio, gain) for gain in nyquist_gains]
    size = max(len(k) for k in kernels)
    out = np.zeros((band_count, size))
    for band, taps in enumerate(kernels):
        start = (size - len(taps)) // 2
        out[band, start:start + len(taps)] = taps
    return out


def _symmetric_pad(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Half-sample symmetric padding (edge pixel repeated, numpy's "symmetric")."""
    import torch

    n = x.shape[dim]
    index = torch.arange(-before, n + after, device=x.device) % (2 * n)
    index = torch.where(index < n, index, 2 * n - 1 - index)
    return x.index_select(dim, index)


def degrade_tensor(x: torch.Tensor, ratio: int, nyquist_gains: Sequence[float] | float) -> torch.Tensor:
    """Torch version of `degrade` on a batch `[B, C, H, W]` -> `[B, C, H//r, W//r]`.

    Only the kept samples are computed: two depthwise 1-D convolutions with stride `ratio`.
    """
    import torch
    import torch.nn.functional as F

    batch, bands, height, width = x.shape
    ratio = int(ratio)
    out_h, out_w = height // ratio, width // ratio
    if out_h == 0 or out_w == 0:
        raise InputError(f"an image of {height}x{width} pixels is smaller than the ratio {ratio}")
    taps = torch.as_tensor(_band_kernels(ratio, nyquist_gains, bands), dtype=x.dtype, device=x.device)
    pad = (taps.shape[1] - ratio) // 2
    x = x[:, :, :out_h * ratio, :out_w * ratio]
    x = _symmetric_pad(_symmetric_pad(x, pad, pad, 2), pad, pad, 3)
    x = F.conv2d(x, taps[:, None, None, :], stride=(1, ratio), groups=bands)
    return F.conv2d(x, taps[:, None, :, None], stride=(ratio, 1), groups=bands)


def degrade(image: np.ndarray, ratio: int, nyquist_gains: Sequence[float] | float) -> np.ndarray:
    """MTF-matched Gaussian blur then decimation by `ratio` of a (bands, H, W) array (numpy; the
    same arithmetic as `degrade_tensor`).

    `nyquist_gains` is one gain for all bands or one per band (see `sensor_gains`). Rows and
    columns beyond a multiple of `ratio` are dropped; borders are extended symmetrically. Output
    pixel `i` is the blurred image at the centre of input block `i` (module docstring), so the
    mean of a constant or smooth image is kept and nothing shifts. float32 input stays float32,
    anything else gives float64.
    """
    if image.ndim != 3:
        raise InputError(f"expected a (bands, height, width) array, got shape {image.shape}")
    if image.shape[1] // ratio == 0 or image.shape[2] // ratio == 0:
        raise InputError(f"an image of {image.shape[1]}x{image.shape[2]} pixels is smaller than "
                         f"the ratio {ratio}")
    dtype = np.float32 if image.dtype == np.float32 else np.float64
    taps = _band_kernels(int(ratio), nyquist_gains, image.shape[0])
    return degrade_with_taps(image, ratio, taps).astype(dtype, copy=False)


def _symmetric_indices(n: int, before: int, after: int) -> np.ndarray:
    index = np.arange(-before, n + after) % (2 * n)
    return np.where(index < n, index, 2 * n - 1 - index)


def degrade_with_taps(image: np.ndarray, ratio: int, taps: np.ndarray) -> np.ndarray:
    """(..., H, W) blurred by the separable `taps` ((bands, K) for (..., bands, H, W), or (K,))
    and decimated by `ratio` to (..., H//r, W//r), float64."""
    ratio = int(ratio)
    x = np.asarray(image, dtype=np.float64)
    height, width = x.shape[-2] // ratio * ratio, x.shape[-1] // ratio * ratio
    x = x[..., :height, :width]
    taps = np.asarray(taps, dtype=np.float64)
    size = taps.shape[-1]
    pad = (size - ratio) // 2
    for axis, length in ((x.ndim - 2, height), (x.ndim - 1, width)):
        x = np.take(x, _symmetric_indices(length, pad, pad), axis=axis)
        starts = np.arange(0, length, ratio)
        out = 0.0
        for k in range(size):
            tap = taps[..., k]
            tap = tap.reshape(tap.shape + (1, 1)) if tap.ndim else tap
            out = out + np.take(x, starts + k, axis=axis) * tap
        x = out
    return x


@dataclass
class PansharpenSamples(SampleSet):
    """Aligned training triplets, numpy float32.

    `ms_lr` [N, C, p/r, p/r] (degraded MS), `pan_lr` [N, 1, p, p] (degraded PAN), `target`
    [N, C, p, p] (original MS), p being the patch size on the reduced PAN grid.
    """

    ms_lr: np.ndarray
    pan_lr: np.ndarray
    target: np.ndarray
    ratio: int = field(init=False)

    def __post_init__(self):
        count = self.target.shape[0]
        if self.ms_lr.shape[0] != count or self.pan_lr.shape[0] != count:
            raise ValueError("ms_lr, pan_lr and target must hold the same number of samples")
        self.ratio = self.target.shape[-1] // self.ms_lr.shape[-1] if count else 0


def make_training_pairs(ms: np.ndarray, pan: np.ndarray, ratio: int, sensor: str = "generic",
                        patch_size: int = 64, count: int = 256, rng: np.random.Generator | None = None,
                        augment: bool = True) -> PansharpenSamples:
    """Random Wald-protocol patches from one normalized MS (C, h, w) / PAN (1, h*r, w*r) pair.

    The whole MS and PAN are degraded once with the sensor's gains; patches are then cut at the
    same place in the degraded MS, the degraded PAN and the original MS (`patch_size` target
    pixels, which must be a multiple of `ratio`). With `augment`, each sample gets one random
    flip and quarter-turn, the same for its three arrays.
    """
    ratio = int(ratio)
    if ms.ndim != 3 or pan.ndim != 3 or pan.shape[0] != 1:
        raise InputError(f"expected MS (bands, h, w) and PAN (1, H, W), got {ms.shape} and {pan.shape}")
    if pan.shape[1] < ms.shape[1] * ratio or pan.shape[2] < ms.shape[2] * ratio:
        raise InputError(f"the PAN ({pan.shape[1]}x{pan.shape[2]}) must be {ratio} times the MS "
                         f"({ms.shape[1]}x{ms.shape[2]}): check the ratio or the input layers")
    if patch_size % ratio:
        raise InputError(f"patch size {patch_size} must be a multiple of the ratio {ratio}")
    if count < 1:
        raise InputError(f"ask for at least one training sample, got {count}")
    cells = patch_size // ratio
    rows, cols = ms.shape[1] // ratio, ms.shape[2] // ratio
    if rows < cells or cols < cells:
        raise InputError(f"the MS ({ms.shape[1]}x{ms.shape[2]}) is too small for {patch_size}-pixel patches "
                         f"at ratio {ratio}: use a smaller patch size or a larger image")
    rng = rng or np.random.default_rng()
    ms_gains, pan_gain = sensor_gains(sensor, ms.shape[0])
    target = np.asarray(ms[:, :rows * ratio, :cols * ratio], dtype=np.float32)
    ms_lr = degrade(target, ratio, ms_gains)
    pan_lr = degrade(np.asarray(pan[:, :rows * ratio * ratio, :cols * ratio * ratio], dtype=np.float32),
                     ratio, pan_gain)
    tops = rng.integers(0, rows - cells + 1, size=count)
    lefts = rng.integers(0, cols - cells + 1, size=count)
    turns = rng.integers(0, 4, size=count) if augment else np.zeros(count, dtype=int)
    flips = rng.integers(0, 2, size=count) if augment else np.zeros(count, dtype=int)

    def cut(array: np.ndarray, scale: int) -> np.ndarray:
        size = cells * scale
        patches = []
        for top, left, turn, flip in zip(tops, lefts, turns, flips):
            patch = array[:, top * scale:top * scale + size, left * scale:left * scale + size]
            patch = np.rot90(patch[:, :, ::-1] if flip else patch, k=turn, axes=(1, 2))
            patches.append(patch)
        return np.ascontiguousarray(np.stack(patches), dtype=np.float32)

    return PansharpenSamples(cut(ms_lr, 1), cut(pan_lr, ratio), cut(target, ratio))
