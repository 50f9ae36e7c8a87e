"""Every bundled model card declares the ground sample distance of its training data (within
the factor at which the model-fit check warns), and the pansharpening ones match their shared
training scenes' PAN pixel size where the shared data is present."""
import importlib.util
import sys

import pytest
import rasterio

from geodistill.models.package import read_card
from geodistill.models.tasks.model_fit import GSD_TOLERANCE
from support import ROOT

BUNDLED = sorted((ROOT / "resources" / "models").glob("*.safetensors"))
SHARED = ROOT.parent / "shared" / "data"


def training_gsd():
    spec = importlib.util.spec_from_file_location("training_gsd", ROOT / "benchmarks" / "training_gsd.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("training_gsd", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.BUNDLED_GSD


def test_every_bundled_model_has_a_training_gsd_entry():
    assert {path.stem for path in BUNDLED} <= set(training_gsd())


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_card_gsd_is_that_of_the_training_data(path):
    card = read_card(path)
    expected = training_gsd()[path.stem]
    assert card.gsd is not None, f"{path.name} declares no gsd; its data: {expected.source}"
    assert expected.metres / GSD_TOLERANCE <= card.gsd <= expected.metres * GSD_TOLERANCE, (
        f"{path.name} says {card.gsd:g} m; its data: {expected.source}")


@pytest.mark.parametrize("name, pan", [
    ("pansharpening_lite_4band_x4", "pansharpening/spacenet_rotterdam"),
    ("pansharpening_lite_8band_x4", "pansharpening/worldview2")])
def test_pansharpening_gsd_is_the_shared_pan_pixel_size(name, pan):
    folder = SHARED / pan
    pans = sorted(p for p in folder.glob("*.tif") if "pan" in p.name.lower()) if folder.is_dir() else []
    if not pans:
        pytest.skip(f"shared data {pan} is not here")
    with rasterio.open(pans[0]) as dataset:
        assert training_gsd()[name].metres == pytest.approx(abs(dataset.res[0]), rel=0.01)


def test_trained_card_gsd_is_that_of_most_training_images(tmp_path):
    import numpy as np
    from PIL import Image

    from rasters import write_raster

    from geodistill.models.tasks.dehaze_training import band_names_and_gsd

    pictures = []
    for index in range(2):
        pictures.append(tmp_path / f"picture{index}.png")
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(pictures[-1])
    landsat = write_raster(tmp_path / "landsat.tif", np.zeros((3, 8, 8), np.uint8), pixel_size=300.0)
    fine = write_raster(tmp_path / "fine.tif", np.zeros((3, 8, 8), np.uint8), pixel_size=1.0)
    assert band_names_and_gsd([landsat] + pictures)[1] is None  # one scene does not speak for all
    names, gsd = band_names_and_gsd([fine, landsat, pictures[0]])
    assert gsd == pytest.approx(150.5) and names == ["Red", "Green", "Blue"]
    assert band_names_and_gsd([fine, fine, landsat])[1] == pytest.approx(1.0)
