"""Out-of-memory back-off: smaller batches, then sub-tiles, and the same result."""
import numpy as np
import pytest
import rasterio
import torch

from geodistill.models.errors import DeviceError
from geodistill.models.inference.engine import OutputSpec, RasterInput, run_tiled
from geodistill.models.inference.scaling import BandScaling
from geodistill.models.inference.tiling import TilingOptions
from test_engine import SmallConv, write_raster


class RunsOutOfMemory(SmallConv):
    """SmallConv that raises CUDA's out-of-memory error on batches > 1 or tiles > max_tile."""

    def __init__(self, max_tile):
        super().__init__()
        self.max_tile = max_tile
        self.refused = 0

    def forward(self, x):
        if x.shape[0] > 1 or x.shape[-1] > self.max_tile:
            self.refused += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().forward(x)


@pytest.fixture
def float_raster(tmp_path):
    array = np.random.default_rng(5).normal(size=(4, 150, 170)).astype(np.float32)
    return write_raster(tmp_path / "in.tif", array)


def run(model, path, out, tile_size=128):
    return run_tiled(model, [RasterInput(path, scaling=BandScaling([0.0] * 4, [1.0] * 4))],
                     OutputSpec(out, 3), TilingOptions(tile_size=tile_size, overlap=16, batch_size=4),
                     device="cpu")


def test_out_of_memory_halves_batch_then_tile_and_matches(float_raster, tmp_path):
    reference = run(SmallConv(), float_raster, tmp_path / "reference.tif")
    model = RunsOutOfMemory(max_tile=40)
    report = run(model, float_raster, tmp_path / "backoff.tif")
    assert reference.backoff_events == [] and reference.batch_size == 4
    assert report.batch_size == 1 and report.sub_tile == 32
    assert report.backoff_events == ["out of memory: batch size lowered to 2",
                                     "out of memory: batch size lowered to 1",
                                     "out of memory: tiles split into sub-tiles of 64 pixels",
                                     "out of memory: tiles split into sub-tiles of 32 pixels"]
    with rasterio.open(tmp_path / "reference.tif") as a, rasterio.open(tmp_path / "backoff.tif") as b:
        np.testing.assert_allclose(b.read(), a.read(), atol=1e-4)


def test_out_of_memory_at_the_smallest_sub_tile_on_cpu_is_a_clear_error(float_raster, tmp_path):
    with pytest.raises(DeviceError, match="smaller tile size"):
        run(RunsOutOfMemory(max_tile=8), float_raster, tmp_path / "out.tif", tile_size=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
