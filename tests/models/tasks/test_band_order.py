"""Band-order check from band descriptions."""
import pytest

from geodistill.models.tasks.band_order import band_order_warning, colour_of


@pytest.mark.parametrize("description, colour", [
    ("Blue", "blue"), ("B2 (Blue)", "blue"), ("Red Edge", "red edge"), ("NIR1", "nir"),
    ("Near infrared", "nir"), ("green band", "green"), ("Coastal", "coastal"),
    ("Band 1", None), ("Red/NIR", None), ("", None)])
def test_colours_are_read_from_descriptions(description, colour):
    assert colour_of(description) == colour


def test_a_swapped_order_is_reported_and_a_matching_or_unnamed_one_is_not():
    expected = ["Blue", "Green", "Red", "NIR"]
    warning = band_order_warning(expected, ["Red", "Green", "Blue", "NIR"])
    assert warning.startswith("Warning: the MS bands are described as red, green, blue, nir")
    assert "blue, green, red, nir" in warning
    assert band_order_warning(expected, ["B2 blue", "B3 green", "B4 red", "B8 NIR"]) is None
    assert band_order_warning(expected, ["Band 1", "Band 2", "Band 3", "Band 4"]) is None
    assert band_order_warning(["Band 1"] * 4, ["Red", "Green", "Blue", "NIR"]) is None
    assert band_order_warning(expected, [None, "Green", "Blue", "NIR"]) is None


def test_sharpening_logs_a_swapped_band_order(tmp_path):
    import rasterio

    from rasters import pansharpening_scene

    from geodistill.models import nets
    from geodistill.models.package import ModelCard, save_package
    from geodistill.models.tasks.callbacks import Callbacks
    from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen

    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=64)
    with rasterio.open(scene.ms_path, "r+") as ms:
        ms.descriptions = ("Red", "Green", "Blue", "NIR")
    net = nets.build("pansharpen_lite", {"ms_bands": 4, "ratio": 4})
    card = ModelCard(name="lite_bgrn", task="pansharpening", architecture="pansharpen_lite",
                     config={"ms_bands": 4, "ratio": 4}, ratio=4,
                     input_bands={"ms": ["Blue", "Green", "Red", "NIR"], "pan": ["panchromatic"]})
    save_package(tmp_path / "lite_bgrn.safetensors", net.state_dict(), card)
    lines = []
    pansharpen(PansharpenRequest(str(scene.ms_path), str(scene.pan_path), str(tmp_path / "out.tif"),
                                 model=str(tmp_path / "lite_bgrn.safetensors"), device="cpu",
                                 tile_size=64, overlap=16), Callbacks(log=lines.append))
    assert sum("described as red, green, blue, nir" in line for line in lines) == 1
    assert (tmp_path / "out.tif").exists()
