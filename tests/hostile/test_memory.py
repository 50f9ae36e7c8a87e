"""Memory bounded by design: tiles clamped to the raster, a run that cannot fit refused before
it starts (with a tile size that fits), and label rasters read in blocks."""
import tracemalloc

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from .outcomes import run
from rasters import write_raster

from geodistill.models.data.labels import align_label_raster
from geodistill.models.errors import MemoryBudgetError
from geodistill.models.inference.engine import OutputSpec, RasterInput, run_tiled
from geodistill.models.inference.memory import TiledRunShape, check_tiled_run, tiled_run_bytes
from geodistill.models.inference.scaling import BandScaling
from geodistill.models.inference.tiling import TilingOptions
UNIT = BandScaling([0.0] * 3, [255.0] * 3)


def sparse_raster(path, size, count=1, dtype="uint8", nodata=None):
    """A size x size tiled GeoTIFF whose blocks are never written (a few kB on disk)."""
    profile = dict(driver="GTiff", height=size, width=size, count=count, dtype=dtype, tiled=True,
                   blockxsize=256, blockysize=256, crs="EPSG:32633", sparse_ok=True,
                   transform=from_origin(500000, 4500000, 1.0, 1.0), nodata=nodata)
    with rasterio.open(path, "w", **profile):
        pass
    return path


def test_a_huge_tile_on_a_small_raster_is_clamped_and_exact(rgb, tmp_path):
    report = run_tiled(torch.nn.Identity(), [RasterInput(rgb, scaling=UNIT)],
                       OutputSpec(tmp_path / "same.tif", 3, dtype="uint8", scaling=UNIT),
                       TilingOptions(tile_size=8192, overlap=16, batch_size=4), device="cpu")
    assert report.tile_size == 112 and report.tiles == 1  # 96 px + one overlap, on 16 px steps
    with rasterio.open(tmp_path / "same.tif") as out, rasterio.open(rgb) as source:
        assert np.array_equal(out.read(), source.read())


def test_dehaze_with_tile_8192_equals_the_clamped_tile(geodistill_provider, rgb, tmp_path):
    outputs = []
    for tile in (144, 8192):
        result = run("geodistill:dehaze", {"INPUT": str(rgb), "MODEL": "dark_channel_prior",
                                          "DEVICE": "cpu", "TILE_SIZE": tile, "OVERLAP": 16,
                                          "OUTPUT": str(tmp_path / f"t{tile}.tif")})
        with rasterio.open(result["OUTPUT"]) as out:
            outputs.append(out.read())
    assert np.array_equal(outputs[0], outputs[1]) and np.ptp(outputs[0]) > 0


def test_a_run_that_cannot_fit_is_refused_before_any_output(tmp_path):
    big = sparse_raster(tmp_path / "big.tif", 60000, count=3)
    with pytest.raises(MemoryBudgetError) as raised:
        run_tiled(torch.nn.Identity(), [RasterInput(big, scaling=UNIT)],
                  OutputSpec(tmp_path / "never.tif", 3, dtype="uint8", scaling=UNIT),
                  TilingOptions(tile_size=8192, overlap=32, batch_size=64), device="cpu")
    message = str(raised.value)
    assert "with TILE_SIZE 8192" in message and "use TILE_SIZE" in message and "GiB" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"]


def test_the_suggested_tile_fits_and_the_next_step_does_not():
    shape = TiledRunShape(tile_size=4096, batch_size=4, input_bands=3, output_bands=3,
                          output_width=20000, activation_channels=64)
    budget = 8 * 2**30
    with pytest.raises(MemoryBudgetError) as raised:
        check_tiled_run(shape, available=int(budget / 0.8))
    suggested = int(str(raised.value).split("use TILE_SIZE ")[1].split()[0])
    fits = TiledRunShape(**{**shape.__dict__, "tile_size": suggested})
    too_big = TiledRunShape(**{**shape.__dict__, "tile_size": suggested + 32})
    assert tiled_run_bytes(fits) <= budget < tiled_run_bytes(too_big)
    check_tiled_run(fits, available=int(budget / 0.8))


def test_a_large_sparse_label_raster_is_read_in_blocks(tmp_path):
    size = 3000
    image = sparse_raster(tmp_path / "image.tif", size, count=3)
    labels = sparse_raster(tmp_path / "labels.tif", size, dtype="float64", nodata=0)
    with rasterio.open(labels, "r+") as dataset:
        dataset.write(np.full((1, 256, 256), 7.0), window=((512, 768), (512, 768)))
        dataset.write(np.full((1, 256, 256), 2.0), window=((2048, 2304), (1024, 1280)))
    tracemalloc.start()
    try:
        scene = align_label_raster(labels, image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [c["id"] for c in scene.classes] == [2, 7]
    assert (scene.labels == 1).sum() == 256 * 256 and scene.labels[600, 600] == 1
    assert (scene.labels == 0).sum() == 256 * 256 and scene.labels[2100, 1100] == 0
    assert (scene.labels == 255).sum() == size * size - 2 * 256 * 256
    # the uint8 indices (9 MB) and a few 8 MB blocks; a whole float64 read alone is 72 MB
    assert peak < 4 * size * size


def test_labels_on_another_grid_are_warped_in_blocks(tmp_path, rgb):
    values = np.zeros((48, 48), np.uint8)
    values[:24, :], values[24:, :] = 3, 9
    coarse = write_raster(tmp_path / "coarse.tif", values, pixel_size=2.0, nodata=0)
    scene = align_label_raster(coarse, rgb)
    assert [c["id"] for c in scene.classes] == [3, 9]
    assert np.all(scene.labels[:48] == 0) and np.all(scene.labels[48:] == 1)


def test_dehaze_training_with_absurd_samples_is_refused_before_cutting(geodistill_provider, rgb, tmp_path):
    from .outcomes import refused

    out = tmp_path / "out"
    out.mkdir()
    refused("geodistill:train_dehaze", {
        "CLEAR_IMAGES": [str(rgb)], "EPOCHS": 1, "PATCH_SIZE": 1024, "SAMPLES": 1000000,
        "DEVICE": "cpu", "OUTPUT_MODEL": str(out / "m.safetensors")},
        "Cutting 1000000 training patches of 96 px would need about 412.0 GiB",
        "use fewer SAMPLES or a smaller PATCH_SIZE", folder=out)


@pytest.mark.parametrize("tile", [144, 100, 33])
def test_tile_sizes_off_the_32_grid_get_an_answer(tile):
    shape = TiledRunShape(tile_size=tile, batch_size=4, input_bands=3, output_bands=3,
                          output_width=1000, activation_channels=64)
    needed = tiled_run_bytes(shape)
    with pytest.raises(MemoryBudgetError, match=f"with TILE_SIZE {tile} would need"):
        check_tiled_run(shape, available=int(needed * 0.9 / 0.8))
    check_tiled_run(shape, available=int(needed / 0.8) + 1)
