"""Damaged and degenerate rasters: a clear error naming the file, never a traceback, and no
output file left behind."""
import numpy as np
import pytest

from .outcomes import refused
from rasters import pansharpening_scene, write_raster


def truncated(path, share=0.6):
    """`path` with its end cut off: the header reads, the last tiles do not."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(int(size * share))
    return path


def tiled_raster(path, bands=3, size=256, dtype="uint8", pixel_size=1.0):
    from rasterio.transform import from_origin
    import rasterio

    values = (np.random.default_rng(0).random((bands, size, size)) * 200 + 20).astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=bands,
                       dtype=dtype, crs="EPSG:32633", tiled=True, blockxsize=64, blockysize=64,
                       transform=from_origin(500000, 4500000, pixel_size, pixel_size)) as dataset:
        dataset.write(values)
    return path


@pytest.mark.parametrize("algorithm,extra", [
    ("geodistill:dehaze", {"MODEL": "dark_channel_prior", "TILE_SIZE": 128, "OVERLAP": 16}),
    ("geodistill:segment", {"MODEL": "default", "TILE_SIZE": 128, "OVERLAP": 16}),
])
def test_truncated_tiff_is_named_as_damaged(geodistill_provider, tmp_path, out, algorithm, extra):
    path = truncated(tiled_raster(tmp_path / "cut.tif"))
    refused(algorithm, {"INPUT": str(path), "DEVICE": "cpu", "OUTPUT": str(out / "o.tif"), **extra},
            "could not be read", "cut.tif", "damaged or truncated", folder=out)


def test_truncated_ms_is_named_in_pansharpening(geodistill_provider, tmp_path, out):
    ms = truncated(tiled_raster(tmp_path / "ms_cut.tif", bands=4, size=128, dtype="uint16",
                                pixel_size=4.0), 0.5)
    pan = tiled_raster(tmp_path / "pan.tif", bands=1, size=512, dtype="uint16")
    refused("geodistill:pansharpen", {"MS": str(ms), "PAN": str(pan), "PAN_BAND": 1, "METHOD": 0,
                                      "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
            "could not be read", "ms_cut.tif", "damaged or truncated", folder=out)


def test_truncated_tiff_for_classification(geodistill_provider, tmp_path, out):
    path = truncated(tiled_raster(tmp_path / "cut.tif"))
    refused("geodistill:classify_scenes", {"INPUT": str(path), "MODEL": "default", "DEVICE": "cpu",
                                           "CHIP_SIZE": 64, "OUTPUT": str(out / "grid.gpkg")},
            "could not be read", "cut.tif", folder=out)


def test_an_empty_file_is_not_taken_for_a_raster(geodistill_provider, tmp_path, out):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    refused("geodistill:dehaze", {"INPUT": str(empty), "MODEL": "dark_channel_prior",
                                  "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
            "INPUT", folder=out)


def test_an_all_nodata_raster_is_refused(geodistill_provider, data, out):
    path = write_raster(data / "nodata.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)
    refused("geodistill:dehaze", {"INPUT": str(path), "MODEL": "dark_channel_prior",
                                  "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
            "nodata.tif has no valid pixels", folder=out)


def test_a_constant_raster_has_no_haze_to_remove(geodistill_provider, data, out):
    path = write_raster(data / "flat.tif", np.full((3, 64, 64), 90, np.uint8))
    refused("geodistill:dehaze", {"INPUT": str(path), "MODEL": "dark_channel_prior",
                                  "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
            "flat.tif is a constant image", folder=out)


def test_ms_and_pan_that_do_not_overlap_are_refused(geodistill_provider, tmp_path, out):
    here = pansharpening_scene(tmp_path, bands=4, ratio=4, size=64)
    far = write_raster(tmp_path / "far_pan.tif", np.ones((64, 64), np.uint16) * 500,
                       origin=(900000.0, 1000000.0))
    refused("geodistill:pansharpen", {"MS": str(here.ms_path), "PAN": str(far), "PAN_BAND": 1,
                                      "METHOD": 0, "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
            "overlap", folder=out)


def test_a_non_integer_resolution_ratio_is_refused(geodistill_provider, tmp_path, out):
    ms = write_raster(tmp_path / "ms.tif", np.ones((4, 16, 16), np.uint16) * 300, pixel_size=3.3)
    pan = write_raster(tmp_path / "pan.tif", np.ones((64, 64), np.uint16) * 300)
    refused("geodistill:pansharpen", {"MS": str(ms), "PAN": str(pan), "PAN_BAND": 1, "METHOD": 0,
                                      "DEVICE": "cpu", "OUTPUT": str(out / "o.tif")},
            "ratio", folder=out)
