"""Classical pansharpening: references for the learned models and model-free METHOD choices.

- `upsample_bicubic`: the MS interpolated to the PAN grid (no PAN used), the floor.
- `brovey_gdal` / `brovey_vrt_xml`: GDAL's weighted Brovey through a VRTPansharpenedDataset
  (the `gdal:pansharp` baseline), streamed window by window into a GeoTIFF; `brovey` is the
  same ratio formula in numpy for small arrays.
- `mtf_glp`: MTF-matched generalized Laplacian pyramid with regression injection gains,
  "MTF-GLP-CBD" in its global form (Aiazzi, Alparone, Baronti & Garzelli 2002, "Context-driven
  fusion ... based on oversampled multiresolution analysis"; Aiazzi et al. 2006, "MTF-tailored
  multiscale fusion"; Vivone et al. 2015):
      F_k = M~_k + g_k (P - P_L),   g_k = cov(M~_k, P_L) / var(P_L),
  M~_k the MS band upsampled to the PAN grid, P_L the PAN low-passed by an MTF-matched Gaussian,
  decimated by the ratio and interpolated back with the same interpolator as the MS (the GLP
  step: the detail P - P_L then holds exactly what the MS interpolation lacks). The gains are
  regression slopes of the band on the low-pass PAN, so they do not depend on a scaling shared
  by the MS and the PAN. `mtf_glp` (numpy, from `mtf_glp_numpy`) sharpens one pair in memory;
  `mtf_glp_gains` computes the gains once (e.g. from a decimated read of a whole scene) and
  `MtfGlpModule` applies them tile by tile like a network.
  `local_injection_gains` is the context-based form: the same slopes regressed over a sliding
  window around each pixel (the lite student's starting point).

Interpolation everywhere is torch's bicubic with `align_corners=False`, whose pixel grid is the
one of `models.data.wald` (low-resolution pixel i centred on high-resolution coordinate
i*r + (r-1)/2).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window
from torch import nn

from ..data.wald import degrade_tensor, sensor_gains
from ..errors import Cancelled, InputError
from ..inference.raster_io import NOT_GEOREFERENCED, band_list, display_transform
from ..inference.raster_writer import RasterDescription, RasterWriter, geotiff_profile
from .mtf_glp_numpy import (FILL_MARGIN, _check_pair, lowpass_gain,  # noqa: F401 (re-exported)
                            mtf_glp, mtf_glp_gains)


def upsample_tensor(x: torch.Tensor, ratio: int) -> torch.Tensor:
    """Bicubic upsampling of `[B, C, h, w]` to `[B, C, h*r, w*r]` (align_corners=False).

    torch's cubic convolution (a = -0.75, borders clamped) runs the same on CPU and GPU.
    """
    return F.interpolate(x, size=(x.shape[-2] * ratio, x.shape[-1] * ratio), mode="bicubic",
                         align_corners=False)


def _as_batch(array: np.ndarray) -> torch.Tensor:
    if array.ndim != 3:
        raise InputError(f"expected a (bands, height, width) array, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))[None]


def upsample_bicubic(ms: np.ndarray, ratio: int) -> np.ndarray:
    """The MS (bands, h, w) interpolated bicubically to (bands, h*r, w*r), float64."""
    return upsample_tensor(_as_batch(ms), int(ratio))[0].numpy()


def pan_lowpass_tensor(pan: torch.Tensor, ratio: int, lowpass_gain: float) -> torch.Tensor:
    """P_L: the PAN `[B, 1, H, W]` degraded by the ratio (MTF Gaussian) and interpolated back."""
    return upsample_tensor(degrade_tensor(pan, ratio, lowpass_gain), ratio)


def _box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of `x` [B, C, H, W] over a `window` x `window` box around each pixel (borders
    replicated), same size as `x`."""
    before, after = window // 2, window - 1 - window // 2
    padded = F.pad(x, (before, after, before, after), mode="replicate")
    # separable: two 1-D passes cost 2 * window additions a pixel instead of window^2
    return F.avg_pool2d(F.avg_pool2d(padded, (1, window), stride=1), (window, 1), stride=1)


LOCAL_GAIN_EPSILON = 1e-6
"""Added to the local PAN variance: a flat window gets a gain near zero (plain
interpolation) instead of a division by zero. In normalized units (about 0-1) a textured
window's variance is 1e-4 or more."""


def local_injection_gains(ms: torch.Tensor, pan_low: torch.Tensor, window: int) -> torch.Tensor:
    """Per-pixel injection gains g_k(x) = cov_W(M_k, P_L) / var_W(P_L) over the `window` x
    `window` pixels around x (the context-based form of MTF-GLP-CBD; Aiazzi et al. 2002).

    `ms` [B, C, H, W] and `pan_low` [B, 1, H, W] are the MS and the low-passed PAN on one grid
    (the PAN grid, or the MS grid with the PAN averaged down), in units shared by both.
    Translation-equivariant (box filters), so tiles agree wherever they overlap by at least
    half a window.
    """
    # covariances are unchanged by a constant shift; removing the means first keeps float32's
    # cancellation in E[xy] - E[x]E[y] small (a flat PAN gives exactly zero)
    pan_low = pan_low - pan_low.mean(dim=(2, 3), keepdim=True)
    ms = ms - ms.mean(dim=(2, 3), keepdim=True)
    mean_pan, mean_ms = _box_mean(pan_low, window), _box_mean(ms, window)
    covariance = _box_mean(ms * pan_low, window) - mean_ms * mean_pan
    variance = (_box_mean(pan_low * pan_low, window) - mean_pan * mean_pan).clamp_min(0.0)
    return covariance / (variance + LOCAL_GAIN_EPSILON)


class MtfGlpModule(nn.Module):
    """MTF-GLP detail injection with fixed gains, called like a pansharpening net.

    `module(ms [B, C, h, w], pan [B, 1, h*r, w*r]) -> [B, C, h*r, w*r]`; `gains` from
    `mtf_glp_gains`, `pan_gain` the Nyquist gain of the PAN low-pass (`lowpass_gain(sensor,
    bands)`). Inputs share one scaling (the project's "common" BandScaling); tiles must be a
    multiple of the ratio and overlap a little, the low-pass being extended symmetrically at
    tile borders.
    """

    def __init__(self, gains: Sequence[float], ratio: int, pan_gain: float):
        super().__init__()
        self.ratio = int(ratio)
        self.pan_gain = float(pan_gain)
        self.register_buffer("gains", torch.tensor([float(g) for g in gains]).view(1, -1, 1, 1))

    def forward(self, ms: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        detail = pan - pan_lowpass_tensor(pan, self.ratio, self.pan_gain)
        return upsample_tensor(ms, self.ratio) + self.gains.to(ms.dtype) * detail


def brovey(ms_up: np.ndarray, pan: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted Brovey on the PAN grid, GDAL's formula: F_k = M~_k * P / sum_j w_j M~_j.

    `ms_up` (bands, H, W) already on the PAN grid, `pan` (1, H, W) or (H, W); equal weights
    1/bands by default. Pixels whose pseudo-PAN is 0 give 0.
    """
    ms_up = np.asarray(ms_up, dtype=np.float64)
    weights = _brovey_weights(weights, ms_up.shape[0])
    pseudo_pan = np.tensordot(np.asarray(weights), ms_up, axes=1)
    factor = np.divide(np.asarray(pan, dtype=np.float64).reshape(pseudo_pan.shape), pseudo_pan,
                       out=np.zeros_like(pseudo_pan), where=pseudo_pan != 0)
    return ms_up * factor


def _brovey_weights(weights: Sequence[float] | None, band_count: int) -> list[float]:
    if weights is None:
        return [1.0 / band_count] * band_count
    if len(weights) != band_count:
        raise InputError(f"{len(weights)} Brovey weights given for {band_count} MS bands: give one per band")
    return [float(w) for w in weights]


def brovey_vrt_xml(ms_path: str | os.PathLike, pan_path: str | os.PathLike, pan_band: int = 1,
                   ms_bands: Sequence[int] | None = None, weights: Sequence[float] | None = None,
                   resampling: str = "cubic") -> str:
    """XML of a GDAL VRTPansharpenedDataset running GDAL's weighted Brovey on two rasters.

    `ms_bands` (1-based, default all) become the output bands in that order; `weights` weigh
    them in the pseudo-PAN (default equal). GDAL aligns the rasters through their geotransforms
    and resamples the MS with `resampling` (nearest, bilinear, cubic, cubicspline, lanczos,
    average). The result covers the part of the PAN grid the MS covers too (GDAL's default, the
    union of both extents, put an MS wider than the PAN on a larger, partly empty grid).
    rasterio/GDAL open the returned string directly.
    """
    ms_path, pan_path = Path(ms_path).resolve(), Path(pan_path).resolve()
    if ms_bands is None:
        with rasterio.open(ms_path) as ms:
            ms_bands = band_list(ms, None)
    weights = _brovey_weights(weights, len(ms_bands))
    ms_source = f'<SourceFilename relativeToVRT="0">{escape(str(ms_path))}</SourceFilename>'
    spectral = "\n".join(
        f'    <SpectralBand dstBand="{index}">{ms_source}<SourceBand>{band}</SourceBand></SpectralBand>'
        for index, band in enumerate(ms_bands, start=1))
    return f"""<VRTDataset subClass="VRTPansharpenedDataset">
  <PansharpeningOptions>
    <Algorithm>WeightedBrovey</Algorithm>
    <AlgorithmOptions><Weights>{",".join(repr(w) for w in weights)}</Weights></AlgorithmOptions>
    <Resampling>{escape(resampling.capitalize())}</Resampling>
    <NumThreads>ALL_CPUS</NumThreads>
    <SpatialExtentAdjustment>Intersection</SpatialExtentAdjustment>
    <PanchroBand>
      <SourceFilename relativeToVRT="0">{escape(str(pan_path))}</SourceFilename>
      <SourceBand>{int(pan_band)}</SourceBand>
    </PanchroBand>
{spectral}
  </PansharpeningOptions>
</VRTDataset>
"""


def brovey_gdal(ms_path: str | os.PathLike, pan_path: str | os.PathLike, out_path: str | os.PathLike,
                pan_band: int = 1, ms_bands: Sequence[int] | None = None,
                weights: Sequence[float] | None = None, resampling: str = "cubic", block_size: int = 512,
                progress: Callable[[float], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> Path:
    """GDAL weighted Brovey of an MS/PAN pair into a tiled, compressed GeoTIFF with overviews.

    Streams `block_size` windows of the pansharpened VRT (`brovey_vrt_xml`) through the same
    atomic writer as the tiled engine, so a failed or cancelled run (`cancel()` true between
    windows) leaves no output. The result has the PAN grid and CRS, the MS data type, nodata and
    band descriptions. `progress` gets the fraction done (0-1), as every other pipeline step does.
    """
    xml = brovey_vrt_xml(ms_path, pan_path, pan_band, ms_bands, weights, resampling)
    with rasterio.open(ms_path) as ms:
        bands = band_list(ms, ms_bands)
        descriptions = [ms.descriptions[band - 1] or "" for band in bands]
        nodata = ms.nodata
    with rasterio.open(pan_path) as pan:
        plain = display_transform(pan) is NOT_GEOREFERENCED  # pictures: GDAL uses pixel sizes
    with rasterio.open(xml) as vrt:
        profile = geotiff_profile(vrt.height, vrt.width, vrt.count, vrt.dtypes[0], vrt.crs,
                                  NOT_GEOREFERENCED if plain else vrt.transform, nodata)
        windows = [Window(col, row, min(block_size, vrt.width - col), min(block_size, vrt.height - row))
                   for row in range(0, vrt.height, block_size) for col in range(0, vrt.width, block_size)]
        with RasterWriter(out_path, profile, RasterDescription(descriptions)) as out:
            for done, window in enumerate(windows, start=1):
                if cancel is not None and cancel():
                    raise Cancelled("pansharpening was cancelled; the partial output was removed")
                out.write(vrt.read(window=window), window.row_off, window.col_off)
                if progress is not None:
                    progress(done / len(windows))
            out.build_overviews(Resampling.average)
            return out.commit()


def brovey_gdal_arrays(ms: np.ndarray, pan: np.ndarray, ratio: int, weights: Sequence[float] | None = None,
                       resampling: str = "cubic") -> np.ndarray:
    """GDAL weighted Brovey on in-memory arrays MS (bands, h, w), PAN (1, h*r, w*r) -> float64.

    Writes both as float32 GeoTIFFs on a shared synthetic grid (MS pixels r times the PAN's,
    corners aligned) in a temporary folder and reads the VRT back: what benchmarks need to
    score GDAL's Brovey under Wald's protocol.
    """
    ratio = int(ratio)
    _check_pair(ms, pan, ratio)
    with tempfile.TemporaryDirectory(prefix="geodistill-brovey-") as folder:
        paths = []
        for name, array, pixel in (("ms", ms, float(ratio)), ("pan", pan, 1.0)):
            path = Path(folder) / f"{name}.tif"
            with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                               count=array.shape[0], dtype="float32", crs="EPSG:3857",
                               transform=Affine(pixel, 0.0, 1e5, 0.0, -pixel, 1e5)) as dataset:
                dataset.write(np.asarray(array, dtype=np.float32))
            paths.append(path)
        with rasterio.open(brovey_vrt_xml(paths[0], paths[1], weights=weights, resampling=resampling)) as vrt:
            return vrt.read().astype(np.float64)
