"""The tile grid: coverage, alignment, and tiles shrunk to fit the raster."""
import itertools
import math

import pytest

from rasters import pansharpening_scene

from geodistill.models.inference.tiling import TileGrid, TilingOptions
from geodistill.models.tasks.callbacks import Callbacks
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen


def covered(origins, tile, length):
    """Whether tiles of `tile` pixels at `origins` cover 0..length with no gap."""
    reach = 0
    for origin in origins:
        if origin > reach:
            return False
        reach = max(reach, origin + tile)
    return reach >= length


def test_a_side_a_little_longer_than_a_tile_takes_two_small_tiles():
    """600 pixels with 512-pixel tiles: still two tiles a side, but of 320 pixels, not 512."""
    plain = TileGrid(600, 600, TilingOptions(tile_size=512, overlap=32), align=4, stride_multiple=16)
    fitted = TileGrid(600, 600, TilingOptions(tile_size=512, overlap=32, shrink_to_fit=True),
                      align=4, stride_multiple=16)
    assert (len(plain), plain.tile_size) == (4, 512)
    assert (len(fitted), fitted.tile_size, fitted.stride) == (4, 320, 288)
    assert fitted.rows == fitted.cols == [0, 280]


def test_a_raster_smaller_than_a_tile_is_one_tile_of_about_its_size():
    grid = TileGrid(100, 37, TilingOptions(tile_size=512, overlap=32, shrink_to_fit=True))
    assert len(grid) == 1 and grid.tile_size == 100


@pytest.mark.parametrize("height,width,tile,overlap,align,multiple",
                         list(itertools.product([37, 513, 600, 2049], [64, 1537],
                                                [128, 512], [0, 32, 48], [1, 4], [1, 16])))
def test_shrunk_grids_cover_the_raster_with_no_more_and_no_larger_tiles(height, width, tile,
                                                                         overlap, align, multiple):
    options = dict(tile_size=tile, overlap=overlap)
    plain = TileGrid(height, width, TilingOptions(**options), align, multiple)
    fitted = TileGrid(height, width, TilingOptions(**options, shrink_to_fit=True), align, multiple)
    assert len(fitted.rows) <= len(plain.rows) and len(fitted.cols) <= len(plain.cols)
    assert fitted.tile_size <= plain.tile_size and fitted.overlap >= overlap
    assert fitted.tile_size % align == 0 and fitted.stride % math.lcm(align, multiple) == 0
    assert all(origin % align == 0 for origin in fitted.rows + fitted.cols)
    # the last tile may reach past the border by less than `align` pixels (then padded)
    assert fitted.rows[-1] + fitted.tile_size < height + max(align, fitted.tile_size - height + 1)
    assert covered(fitted.rows, fitted.tile_size, height)
    assert covered(fitted.cols, fitted.tile_size, width)


def test_pansharpening_runs_on_fitted_tiles(tmp_path):
    """A 600^2 PAN with the default 512 px tiles: four 320 px tiles, not four of 512."""
    scene = pansharpening_scene(tmp_path, size=600)
    lines = []
    pansharpen(PansharpenRequest(str(scene.ms_path), str(scene.pan_path), str(tmp_path / "out.tif"),
                                 method="mtf_glp", device="cpu"), Callbacks(log=lines.append))
    assert any(line.startswith("Sharpened 4 tile(s) of 320 px") for line in lines), lines
