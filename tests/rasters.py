"""Small synthetic GeoTIFFs for tests: written with rasterio, georeferenced in UTM 33N."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

CRS = "EPSG:32633"
ORIGIN = (500000.0, 4500000.0)


def write_raster(path: Path, array: np.ndarray, pixel_size: float = 1.0, crs: str = CRS,
                 origin: tuple[float, float] = ORIGIN, nodata=None, dtype=None) -> Path:
    """Write a bands-first array as a GeoTIFF with a north-up transform; return the path.

    Every band holds data: a 4-band byte raster is not given GDAL's default RGB + alpha.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    profile = dict(driver="GTiff", height=array.shape[1], width=array.shape[2],
                   count=array.shape[0], dtype=dtype or array.dtype.name, crs=crs,
                   transform=from_origin(origin[0], origin[1], pixel_size, pixel_size))
    if array.shape[0] == 4:
        profile["photometric"] = "MINISBLACK"
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(array.astype(profile["dtype"]))
    return path


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, scale: int = 8) -> np.ndarray:
    """A smooth random field in [0, 1]: coarse noise upsampled by `scale` with bilinear weights."""
    *lead, height, width = shape
    coarse = rng.random((*lead, height // scale + 2, width // scale + 2))
    rows = np.arange(height) / scale
    cols = np.arange(width) / scale
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = coarse[..., r0, :][..., :, c0] * (1 - fc) + coarse[..., r0, :][..., :, c0 + 1] * fc
    bottom = coarse[..., r0 + 1, :][..., :, c0] * (1 - fc) + coarse[..., r0 + 1, :][..., :, c0 + 1] * fc
    field = top * (1 - fr) + bottom * fr
    return (field - field.min()) / max(field.max() - field.min(), 1e-9)


@dataclass
class PansharpeningScene:
    """A synthetic MS+PAN pair with the high-resolution truth it was made from."""

    ms_path: Path
    pan_path: Path
    truth: np.ndarray  # (bands, H, W) uint16 at PAN resolution
    ratio: int


def pansharpening_scene(folder: Path, bands: int = 4, ratio: int = 4, size: int = 128,
                        seed: int = 0, dtype: str = "uint16") -> PansharpeningScene:
    """Truth with sharp edges and texture; PAN = mean of the truth bands; MS = block mean / ratio."""
    rng = np.random.default_rng(seed)
    base = smooth_field((size, size), rng, scale=16)
    edges = (smooth_field((size, size), rng, scale=8) > 0.5).astype(np.float64)
    texture = smooth_field((size, size), rng, scale=2)
    tints = 0.6 + 0.8 * rng.random((bands, 1, 1))
    truth = (300 + 900 * tints * (0.5 * base + 0.35 * edges + 0.15 * texture)).astype(np.float64)
    pan = truth.mean(axis=0, keepdims=True)
    ms = truth.reshape(bands, size // ratio, ratio, size // ratio, ratio).mean(axis=(2, 4))
    ms_path = write_raster(folder / "ms.tif", np.round(ms).astype(dtype), pixel_size=float(ratio))
    pan_path = write_raster(folder / "pan.tif", np.round(pan).astype(dtype), pixel_size=1.0)
    return PansharpeningScene(ms_path, pan_path, np.round(truth).astype(dtype), ratio)
