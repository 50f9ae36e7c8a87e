"""Classical pansharpening: bicubic, MTF-GLP (numpy and nn.Module) and GDAL's weighted Brovey."""
import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import Affine

from geodistill.models.classical.pansharpen import (
    FILL_MARGIN, MtfGlpModule, brovey, brovey_gdal, brovey_gdal_arrays, brovey_vrt_xml,
    local_injection_gains, lowpass_gain, mtf_glp, mtf_glp_gains, upsample_bicubic)
from geodistill.models.data.wald import degrade
from geodistill.models.errors import Cancelled
from geodistill.models.metrics.pansharpening import ergas


def test_bicubic_keeps_constants_and_is_centred_on_blocks():
    np.testing.assert_allclose(upsample_bicubic(np.full((2, 5, 5), 3.0), 4), np.full((2, 20, 20), 3.0))
    ramp = np.tile(2.0 * np.arange(10), (1, 10, 1))
    up = upsample_bicubic(ramp, 4)[0, 5]
    # Low-resolution pixel i is centred on its 4-pixel block: the block's mean is the ramp
    # value and the block is antisymmetric about it (a shift would break both).
    blocks = up.reshape(10, 4)[2:-2]
    np.testing.assert_allclose(blocks.mean(axis=1), 2.0 * np.arange(2, 8), atol=1e-9)
    np.testing.assert_allclose(blocks - blocks.mean(axis=1, keepdims=True),
                               -(blocks - blocks.mean(axis=1, keepdims=True))[:, ::-1], atol=1e-9)


def synthetic_scene(ratio=4, size=96):
    """High-resolution truth whose bands share the PAN's fine texture."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    texture = rng.random((size // 2, size // 2)).repeat(2, 0).repeat(2, 1)
    pan = (100 + 40 * np.sin(6 * x) + 60 * texture)[None]
    truth = np.stack([0.6 * pan[0] + 20 * y, 0.9 * pan[0] + 10, 1.2 * pan[0] - 15 * x])
    return truth, pan


def test_mtf_glp_beats_bicubic_when_the_pan_carries_the_detail():
    truth, pan = synthetic_scene()
    ms = degrade(truth, 4, 0.3)
    pan_ergas = ergas(truth, mtf_glp(ms, pan, 4), 4)
    bicubic_ergas = ergas(truth, upsample_bicubic(ms, 4), 4)
    assert pan_ergas < 0.6 * bicubic_ergas


def test_mtf_glp_rebuilds_bands_proportional_to_the_pan_exactly():
    rng = np.random.default_rng(1)
    pan = 50 + 100 * rng.random((1, 64, 64))
    scales = [0.5, 1.0, 1.5]
    gain = lowpass_gain("generic", 3)
    ms = np.concatenate([s * degrade(pan, 4, gain) for s in scales])
    np.testing.assert_allclose(mtf_glp_gains(ms, pan, 4), scales, rtol=1e-9)
    np.testing.assert_allclose(mtf_glp(ms, pan, 4), np.asarray(scales)[:, None, None] * pan, rtol=1e-9)


def test_gains_ignore_a_shared_scaling():
    truth, pan = synthetic_scene()
    ms = degrade(truth, 4, 0.3)
    np.testing.assert_allclose(mtf_glp_gains(ms / 2047, pan / 2047, 4), mtf_glp_gains(ms, pan, 4), rtol=1e-9)


def test_gains_leave_black_fill_and_its_edge_out():
    """Half the scene black: the gains are those of the data next to it (with the fill in the
    regression they were 0.67 / 0.98 / 1.19, with only the fill itself left out 0.51 / 0.79 /
    1.02, against 0.56 / 0.90 / 1.09)."""
    truth, pan = synthetic_scene()
    ms = degrade(truth, 4, 0.3)
    half = ms.shape[2] // 2
    filled_ms, filled_pan = ms.copy(), pan.copy()
    filled_ms[:, :, half:], filled_pan[:, :, 4 * half:] = 0, 0
    data = half - FILL_MARGIN
    np.testing.assert_allclose(mtf_glp_gains(filled_ms, filled_pan, 4),
                               mtf_glp_gains(ms[:, :, :data], pan[:, :, :4 * data], 4), rtol=0.01)
    assert mtf_glp_gains(np.zeros_like(ms), pan, 4) == [0.0] * 3
    # a nodata value other than 0: the caller says which pixels hold data
    marked = filled_ms.copy()
    marked[:, :, half:] = 9999.0
    valid = np.ones(ms.shape[1:], dtype=bool)
    valid[:, half:] = False
    np.testing.assert_allclose(mtf_glp_gains(marked, filled_pan, 4, valid=valid),
                               mtf_glp_gains(filled_ms, filled_pan, 4), rtol=0.01)


def test_local_gains_are_the_slope_of_each_window():
    # left half: band = 2 * pan_low + 1, right half: band = -0.5 * pan_low; a window that
    # lies inside one half has exactly that half's slope, whatever the offset
    rng = np.random.default_rng(2)
    pan_low = torch.as_tensor(rng.random((1, 1, 24, 48)))
    slope = torch.where(torch.arange(48) < 24, 2.0, -0.5).view(1, 1, 1, 48)
    ms_up = torch.cat([slope * pan_low + torch.where(slope > 0, 1.0, 0.0), 3.0 * pan_low])
    gains = local_injection_gains(ms_up.view(1, 2, 24, 48), pan_low, window=8)
    torch.testing.assert_close(gains[0, 0, :, :20], torch.full((24, 20), 2.0, dtype=torch.float64),
                               rtol=0, atol=1e-3)
    torch.testing.assert_close(gains[0, 0, :, 28:], torch.full((24, 20), -0.5, dtype=torch.float64),
                               rtol=0, atol=1e-3)
    torch.testing.assert_close(gains[0, 1], torch.full((24, 48), 3.0, dtype=torch.float64),
                               rtol=0, atol=1e-3)


def test_local_gains_are_zero_on_a_flat_pan_and_equivariant():
    flat = torch.full((1, 1, 16, 16), 0.4)
    assert torch.equal(local_injection_gains(torch.rand(1, 3, 16, 16), flat, 8),
                       torch.zeros(1, 3, 16, 16))
    pan_low, ms_up = torch.rand(1, 1, 40, 40, dtype=torch.float64), torch.rand(1, 2, 40, 40, dtype=torch.float64)
    whole = local_injection_gains(ms_up, pan_low, 8)
    crop = local_injection_gains(ms_up[..., 10:34, 6:30], pan_low[..., 10:34, 6:30], 8)
    # away from the crop's border (half a window) the crop sees the same windows
    torch.testing.assert_close(crop[..., 4:-4, 4:-4], whole[..., 14:30, 10:26])


def test_module_matches_numpy_mtf_glp_on_a_batch():
    truth, pan = synthetic_scene()
    ms = degrade(truth, 4, 0.3)
    gains = mtf_glp_gains(ms, pan, 4, "quickbird")
    module = MtfGlpModule(gains, 4, lowpass_gain("quickbird", 3))
    scale = 255.0
    ms_t = torch.from_numpy(ms / scale).float()[None].repeat(2, 1, 1, 1)
    pan_t = torch.from_numpy(pan / scale).float()[None].repeat(2, 1, 1, 1)
    with torch.no_grad():
        fused = module(ms_t, pan_t)
    assert fused.shape == (2, 3, 96, 96) and fused.dtype == torch.float32
    expected = mtf_glp(ms, pan, 4, "quickbird") / scale
    np.testing.assert_allclose(fused[1].numpy(), expected, atol=1e-4)
    assert list(module.state_dict()) == ["gains"]


def test_brovey_numpy_ratio_formula():
    ms_up = np.array([[[10.0, 0.0]], [[30.0, 0.0]]])
    pan = np.array([[[40.0, 5.0]]])
    # pseudo-PAN = 0.25*10 + 0.75*30 = 25; factor 40/25; zero pseudo-PAN gives 0
    np.testing.assert_allclose(brovey(ms_up, pan, [0.25, 0.75]), [[[16.0, 0.0]], [[48.0, 0.0]]])
    np.testing.assert_allclose(brovey(ms_up, pan)[:, 0, 0], [20.0, 60.0])  # equal weights: pseudo 20


@pytest.fixture
def raster_pair(tmp_path):
    """Constant MS bands (so GDAL's resampling is exact) and a random PAN, ratio 4."""
    ms = np.stack([np.full((6, 6), v, np.float32) for v in (10.0, 20.0, 40.0)])
    pan = (1 + 99 * np.random.default_rng(2).random((1, 24, 24))).astype(np.float32)
    paths = {}
    for name, array, pixel in (("ms", ms, 4.0), ("pan", pan, 1.0)):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                           count=array.shape[0], dtype="float32", crs="EPSG:32633", nodata=-9999,
                           transform=Affine(pixel, 0, 500000, 0, -pixel, 4500000)) as dataset:
            dataset.write(array)
            if name == "ms":
                for band, label in enumerate(("blue", "green", "red"), start=1):
                    dataset.set_band_description(band, label)
    return ms, pan, paths


def test_gdal_vrt_brovey_follows_the_ratio_formula(raster_pair):
    ms, pan, paths = raster_pair
    weights = [0.2, 0.3, 0.5]
    with rasterio.open(brovey_vrt_xml(paths["ms"], paths["pan"], weights=weights)) as vrt:
        result = vrt.read()
        assert vrt.transform == Affine(1, 0, 500000, 0, -1, 4500000)
    pseudo_pan = 0.2 * 10 + 0.3 * 20 + 0.5 * 40
    np.testing.assert_allclose(result, ms[:, :1, :1] * pan / pseudo_pan, rtol=1e-5)
    with rasterio.open(brovey_vrt_xml(paths["ms"], paths["pan"], ms_bands=[3, 1], weights=[0.5, 0.5])) as vrt:
        np.testing.assert_allclose(vrt.read(), np.stack([40.0, 10.0])[:, None, None] * pan / 25.0, rtol=1e-5)


def test_brovey_gdal_writes_a_tiled_compressed_geotiff(raster_pair, tmp_path):
    ms, pan, paths = raster_pair
    fractions = []
    out = brovey_gdal(paths["ms"], paths["pan"], tmp_path / "sharp.tif", block_size=16, progress=fractions.append)
    with rasterio.open(out) as dataset:
        assert dataset.shape == (24, 24) and dataset.count == 3 and dataset.dtypes[0] == "float32"
        assert dataset.profile["tiled"] and dataset.compression.name.lower() in ("zstd", "deflate")
        assert dataset.descriptions == ("blue", "green", "red") and dataset.nodata == -9999
        assert dataset.crs.to_epsg() == 32633
        np.testing.assert_allclose(dataset.read(), brovey(np.broadcast_to(ms[:, :1, :1], (3, 24, 24)), pan),
                                   rtol=1e-5)
    assert fractions == [0.25, 0.5, 0.75, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ms.tif", "pan.tif", "sharp.tif"]


def test_brovey_gdal_cancel_leaves_no_output(raster_pair, tmp_path):
    _, _, paths = raster_pair
    with pytest.raises(Cancelled):
        brovey_gdal(paths["ms"], paths["pan"], tmp_path / "sharp.tif", block_size=8, cancel=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ms.tif", "pan.tif"]


def test_brovey_on_arrays_matches_the_formula(raster_pair):
    ms, pan, _ = raster_pair
    result = brovey_gdal_arrays(ms, pan, 4, weights=[0.2, 0.3, 0.5])
    np.testing.assert_allclose(result, brovey(np.broadcast_to(ms[:, :1, :1], (3, 24, 24)), pan, [0.2, 0.3, 0.5]),
                               rtol=1e-5)
