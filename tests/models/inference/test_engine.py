"""The streaming tiled engine: exact stitching, georeferencing, nodata, cancel and progress."""
import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
import torch
from affine import Affine
from rasterio.crs import CRS

from geodistill.models.errors import Cancelled, InputError
from geodistill.models.inference.engine import OutputSpec, RasterInput, run_tiled
from geodistill.models.inference.raster_io import read_decimated, scene_scaling
from geodistill.models.inference.scaling import BandScaling
from geodistill.models.inference.tiling import TilingOptions

CRS_UTM = CRS.from_epsg(32633)
TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4100000.0)


def write_raster(path, array, transform=TRANSFORM, crs=CRS_UTM, nodata=None, descriptions=None):
    """A GeoTIFF of a bands-first array."""
    with rasterio.open(path, "w", driver="GTiff", height=array.shape[1], width=array.shape[2],
                       count=array.shape[0], dtype=array.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(array)
        for index, text in enumerate(descriptions or [], start=1):
            dst.set_band_description(index, text)
    return path


def read(path):
    with rasterio.open(path) as src:
        return src.read()


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


class SmallConv(torch.nn.Module):
    """Three 3x3 convolutions: receptive field radius 3 pixels."""

    def __init__(self, bands=4, out=3):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(bands, 8, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(8, out, 3, padding=1))

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def uint16_raster(tmp_path):
    rng = np.random.default_rng(1)
    array = rng.integers(1, 4000, size=(3, 203, 317), dtype=np.uint16)
    array[:, 50:60, 100:130] = 0
    return write_raster(tmp_path / "in.tif", array, nodata=0, descriptions=["red", "green", "blue"])


def test_identity_model_reproduces_input_exactly(uint16_raster, tmp_path):
    source = read(uint16_raster)
    scaling = BandScaling([0, 0, 0], [4000, 4000, 4000])
    out = tmp_path / "out.tif"
    report = run_tiled(Identity(), [RasterInput(uint16_raster, scaling=scaling)],
                       OutputSpec(out, 3, "uint16", nodata=0, scaling=scaling),
                       TilingOptions(tile_size=64, overlap=16, batch_size=3), device="cpu")
    np.testing.assert_array_equal(read(out), source)
    assert report.tiles == 4 * 7 and report.device == "cpu" and report.precision == "fp32"


@pytest.mark.parametrize("tile_size,overlap,scale", [(48, 20, 1), (64, 40, 1), (40, 8, 2), (96, 0, 1)])
def test_identity_is_exact_for_any_overlap_and_output_scale(uint16_raster, tmp_path, tile_size,
                                                            overlap, scale):
    """Overlaps above half a tile (a pixel in three tile rows), none at all, and outputs on a
    finer grid: the blend still gives every pixel back, and nodata stays nodata."""
    class Repeat(torch.nn.Module):
        def forward(self, x):
            return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)

    scaling = BandScaling([0] * 3, [4000] * 3)
    out = tmp_path / "out.tif"
    report = run_tiled(Repeat(), [RasterInput(uint16_raster, scaling=scaling)],
                       OutputSpec(out, 3, "uint16", nodata=0, scaling=scaling, scale=scale),
                       TilingOptions(tile_size=tile_size, overlap=overlap, batch_size=3),
                       device="cpu")
    assert report.overlap >= overlap
    expected = read(uint16_raster).repeat(scale, 1).repeat(scale, 2)
    np.testing.assert_array_equal(read(out), expected)


def test_output_blocks_line_up_with_the_tile_stride(uint16_raster, tmp_path):
    """Each tile finishes whole file blocks: the block side divides the output stride, which is
    kept a multiple of 16 (the overlap grows by less than that)."""
    out = tmp_path / "out.tif"
    report = run_tiled(Identity(), [RasterInput(uint16_raster)], OutputSpec(out, 3),
                       TilingOptions(tile_size=72, overlap=10), device="cpu")
    stride = report.tile_size - report.overlap
    assert stride == 48 and report.overlap == 24
    with rasterio.open(out) as dst:
        assert dst.block_shapes[0] == (48, 48)


def test_georeferencing_nodata_descriptions_and_overviews_kept(uint16_raster, tmp_path):
    out = tmp_path / "out.tif"
    run_tiled(Identity(), [RasterInput(uint16_raster)],
              OutputSpec(out, 3, "float32", nodata=-9999.0, band_descriptions=["r", "g", "b"]),
              TilingOptions(tile_size=128, overlap=32), device="cpu")
    with rasterio.open(out) as dst, rasterio.open(uint16_raster) as src:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert dst.nodata == -9999.0 and dst.descriptions == ("r", "g", "b")
        assert dst.profile["tiled"] and dst.compression.name in ("zstd", "deflate")
        assert dst.overviews(1) == [2]
        data, source = dst.read(), src.read()
    assert np.all(data[:, 50:60, 100:130] == -9999.0)
    assert np.count_nonzero(data == -9999.0) == 3 * 10 * 30
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    # percentile scaling from the scene: the identity output is the normalized input
    scaling = scene_scaling(uint16_raster)
    expected = scaling.normalize(source)
    valid = source[0] != 0
    np.testing.assert_allclose(data[:, valid], expected[:, valid], atol=1e-5)


def test_constant_model_gives_constant_output(uint16_raster, tmp_path):
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 2) + x.shape[2:], 0.25)

    out = tmp_path / "out.tif"
    run_tiled(Constant(), [RasterInput(uint16_raster)], OutputSpec(out, 2, "float32"),
              TilingOptions(tile_size=48, overlap=20, batch_size=5), device="cpu")
    result = read(out)
    assert result.shape == (2, 203, 317)
    np.testing.assert_allclose(result, 0.25, rtol=2e-7)  # exact up to float32 rounding


@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("height,width", [(203, 317), (64, 64), (97, 65), (70, 70)])
def test_conv_model_matches_a_single_full_image_pass(tmp_path, height, width, shrink):
    rng = np.random.default_rng(2)
    array = rng.normal(size=(4, height, width)).astype(np.float32)
    path = write_raster(tmp_path / "in.tif", array)
    model = SmallConv()
    out = tmp_path / "out.tif"
    identity = BandScaling([0.0] * 4, [1.0] * 4)
    report = run_tiled(model, [RasterInput(path, scaling=identity)], OutputSpec(out, 3),
                       TilingOptions(tile_size=64, overlap=16, batch_size=2, shrink_to_fit=shrink),
                       device="cpu")
    assert report.tile_size <= 64 and (report.tile_size < 64) == (shrink and height == 70)
    with torch.no_grad():
        full = model(torch.from_numpy(array)[None])[0].numpy()
    np.testing.assert_allclose(read(out), full, atol=1e-4)


def test_raster_smaller_than_a_tile_is_padded_and_cropped(tmp_path):
    rng = np.random.default_rng(3)
    array = rng.integers(0, 255, size=(1, 37, 50), dtype=np.uint8)
    path = write_raster(tmp_path / "small.tif", array)
    scaling = BandScaling([0], [255])
    out = tmp_path / "out.tif"
    report = run_tiled(Identity(), [RasterInput(path, scaling=scaling)],
                       OutputSpec(out, 1, "uint8", scaling=scaling),
                       TilingOptions(tile_size=64, overlap=8), device="cpu")
    assert report.tiles == 1
    np.testing.assert_array_equal(read(out), array)


def test_two_resolutions_are_read_window_aligned(tmp_path):
    """PAN at 0.5 m, MS at 2 m whose origin lies 3 MS pixels up-left of the PAN's."""
    rng = np.random.default_rng(4)
    ms = rng.integers(1, 1000, size=(2, 40, 45), dtype=np.uint16)
    ms_transform = Affine(2.0, 0, TRANSFORM.c - 6.0, 0, -2.0, TRANSFORM.f + 6.0)
    pan = rng.integers(1, 1000, size=(1, 136, 144), dtype=np.uint16)
    pan_path = write_raster(tmp_path / "pan.tif", pan)
    ms_path = write_raster(tmp_path / "ms.tif", ms, transform=ms_transform)

    class UpsampleAndStack(torch.nn.Module):
        def forward(self, pan_tile, ms_tile):
            ratio = pan_tile.shape[-1] // ms_tile.shape[-1]
            up = ms_tile.repeat_interleave(ratio, dim=2).repeat_interleave(ratio, dim=3)
            return torch.cat([up, pan_tile], dim=1)

    scaling = BandScaling([0], [1000])
    out = tmp_path / "out.tif"
    report = run_tiled(UpsampleAndStack(),
                       [RasterInput(pan_path, scaling=scaling),
                        RasterInput(ms_path, scaling=BandScaling([0, 0], [1000, 1000]))],
                       OutputSpec(out, 3, "uint16", scaling=BandScaling([0] * 3, [1000] * 3)),
                       TilingOptions(tile_size=50, overlap=10, batch_size=2), device="cpu")
    assert report.tile_size == 52  # rounded up to a multiple of the ratio
    result = read(out)
    expected_ms = ms[:, 3:3 + 34, 3:3 + 36].repeat(4, axis=1).repeat(4, axis=2)
    np.testing.assert_array_equal(result[:2], expected_ms)
    np.testing.assert_array_equal(result[2], pan[0])

    # a region of the PAN grid (offsets in whole MS pixels): exactly that part, both inputs
    region = Window(col_off=20, row_off=36, width=60, height=72)
    part = tmp_path / "part.tif"
    run_tiled(UpsampleAndStack(),
              [RasterInput(pan_path, scaling=scaling),
               RasterInput(ms_path, scaling=BandScaling([0, 0], [1000, 1000]))],
              OutputSpec(part, 3, "uint16", scaling=BandScaling([0] * 3, [1000] * 3)),
              TilingOptions(tile_size=32, overlap=8, batch_size=2), device="cpu", region=region)
    np.testing.assert_array_equal(read(part), result[:, 36:108, 20:80])
    with rasterio.open(part) as clipped, rasterio.open(out) as full:
        assert clipped.transform == full.window_transform(region)


def test_ms_nodata_masks_the_pan_grid_output(tmp_path):
    pan = np.full((1, 64, 64), 500, np.uint16)
    ms = np.full((1, 16, 16), 300, np.uint16)
    ms[0, 2, 5] = 0
    pan_path = write_raster(tmp_path / "pan.tif", pan)
    ms_transform = Affine(2.0, 0, TRANSFORM.c, 0, -2.0, TRANSFORM.f)
    ms_path = write_raster(tmp_path / "ms.tif", ms, transform=ms_transform, nodata=0)

    class PanOnly(torch.nn.Module):
        def forward(self, pan_tile, ms_tile):
            return pan_tile

    out = tmp_path / "out.tif"
    scaling = BandScaling([0], [1000])
    run_tiled(PanOnly(), [RasterInput(pan_path, scaling=scaling), RasterInput(ms_path, scaling=scaling)],
              OutputSpec(out, 1, "uint16", nodata=0, scaling=scaling),
              TilingOptions(tile_size=32, overlap=8), device="cpu")
    result = read(out)[0]
    assert np.all(result[8:12, 20:24] == 0)
    assert np.count_nonzero(result == 0) == 16 and np.all(result[result != 0] == 500)


def test_output_scale_multiplies_the_grid_and_scales_the_transform(uint16_raster, tmp_path):
    class Double(torch.nn.Module):
        def forward(self, x):
            return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)

    scaling = BandScaling([0] * 3, [4000] * 3)
    out = tmp_path / "out.tif"
    run_tiled(Double(), [RasterInput(uint16_raster, scaling=scaling)],
              OutputSpec(out, 3, "uint16", nodata=0, scaling=scaling, scale=2),
              TilingOptions(tile_size=64, overlap=16), device="cpu")
    with rasterio.open(out) as dst:
        assert (dst.height, dst.width) == (406, 634)
        assert dst.transform == TRANSFORM * Affine.scale(0.5)
        np.testing.assert_array_equal(dst.read(), read(uint16_raster).repeat(2, 1).repeat(2, 2))


def test_class_output_is_argmax_of_blended_probabilities(tmp_path):
    array = np.zeros((1, 70, 90), np.float32)
    array[0, :, 45:] = 1.0
    array[0, 60:, :10] = np.nan
    path = write_raster(tmp_path / "in.tif", array)

    class TwoClasses(torch.nn.Module):
        def forward(self, x):
            return torch.cat([4 * (0.5 - x), 4 * (x - 0.5)], dim=1)

    out, probabilities = tmp_path / "classes.tif", tmp_path / "probabilities.tif"
    run_tiled(TwoClasses(), [RasterInput(path, scaling=BandScaling([0], [1]))],
              OutputSpec(out, 2, kind="classes", probabilities_path=probabilities),
              TilingOptions(tile_size=32, overlap=8), device="cpu")
    classes, probs = read(out)[0], read(probabilities)
    assert classes.dtype == np.uint8
    assert np.all(classes[:60, :45] == 0) and np.all(classes[:, 45:] == 1)
    assert np.all(classes[60:, :10] == 255) and np.all(probs[:, 60:, :10] == -1.0)
    np.testing.assert_allclose(probs[:, :60].sum(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs[1, 0, 0], 1 / (1 + np.exp(4.0)), rtol=1e-5)


def test_progress_is_monotonic_and_reaches_1(uint16_raster, tmp_path):
    values = []
    run_tiled(Identity(), [RasterInput(uint16_raster)], OutputSpec(tmp_path / "out.tif", 3),
              TilingOptions(tile_size=64, overlap=16, batch_size=2), device="cpu",
              progress=values.append)
    assert values[-1] == 1.0 and len(values) == 14 + 1  # one per batch, then 1
    assert all(b >= a for a, b in zip(values, values[1:])) and values[0] > 0


def test_cancel_leaves_no_file_behind(uint16_raster, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = []

    def is_cancelled():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run_tiled(Identity(), [RasterInput(uint16_raster)],
                  OutputSpec(out_dir / "out.tif", 3, kind="continuous"),
                  TilingOptions(tile_size=64, overlap=16, batch_size=1), device="cpu",
                  is_cancelled=is_cancelled)
    assert len(calls) == 4
    assert list(out_dir.iterdir()) == []


def test_model_error_leaves_no_file_and_keeps_an_older_output(uint16_raster, tmp_path):
    out = tmp_path / "out.tif"
    out.write_bytes(b"older result")

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_tiled(Broken(), [RasterInput(uint16_raster)], OutputSpec(out, 3), device="cpu")
    assert out.read_bytes() == b"older result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


def test_wrong_model_band_count_is_reported(uint16_raster, tmp_path):
    with pytest.raises(InputError, match="gives 3 band"):
        run_tiled(Identity(), [RasterInput(uint16_raster)], OutputSpec(tmp_path / "o.tif", 4),
                  device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_decimated_read_is_bounded_and_georeferenced(uint16_raster):
    array, transform = read_decimated(uint16_raster, bands=[2], max_size=100)
    assert array.shape == (1, 64, 100)
    assert transform.a == pytest.approx(0.5 * 317 / 100) and transform.c == TRANSFORM.c
    assert transform.e == pytest.approx(-0.5 * 203 / 64)


def test_scene_scaling_ignores_nodata(tmp_path):
    array = np.zeros((1, 100, 100), np.uint16)
    array[0, :50] = np.arange(5000).reshape(50, 100) + 1000
    path = write_raster(tmp_path / "in.tif", array, nodata=0)
    scaling = scene_scaling(path, low_percentile=0.0, high_percentile=100.0)
    assert scaling.low == [1000.0] and scaling.high == [5999.0]
