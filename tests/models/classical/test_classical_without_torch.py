"""MTF-GLP and the dark channel prior with numpy alone: they give torch's values, and METHOD
mtf_glp, METHOD auto (its check against MTF-GLP included) and MODEL dark_channel_prior run where
torch cannot be imported."""
import subprocess
import sys

import numpy as np
import rasterio
import torch

from hazy_scenes import clear_scene
from rasters import pansharpening_scene, write_raster
from support import ROOT

from geodistill.models import nets
from geodistill.models.classical.dark_channel_numpy import (NumpyDarkChannel,
                                                            estimate_airlight_numpy)
from geodistill.models.classical.dehaze import DarkChannelModule
from geodistill.models.classical.mtf_glp_numpy import mtf_glp_numpy, pan_taps, upsample_bicubic_numpy
from geodistill.models.classical.pansharpen import MtfGlpModule, lowpass_gain, upsample_tensor
from geodistill.models.data.wald import degrade_tensor, degrade_with_taps
from geodistill.models.onnx_export import save_trained_package
from geodistill.models.package import ModelCard
from geodistill.models.tasks.dehaze import DehazeRequest, dehaze
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen


def test_numpy_arithmetic_matches_torch():
    rng = np.random.default_rng(0)
    ms, pan = rng.random((2, 4, 13, 17)), rng.random((2, 1, 52, 68))
    np.testing.assert_allclose(upsample_bicubic_numpy(ms, 4),
                               upsample_tensor(torch.from_numpy(ms), 4).numpy(), atol=1e-12)
    gain = lowpass_gain("worldview3", 4)
    np.testing.assert_allclose(degrade_with_taps(pan, 4, pan_taps(4, "worldview3", 4)),
                               degrade_tensor(torch.from_numpy(pan), 4, gain).numpy(), atol=1e-12)
    gains = [0.5, 0.8, 1.1, 0.9]
    with torch.no_grad():
        expected = MtfGlpModule(gains, 4, gain).double()(torch.from_numpy(ms), torch.from_numpy(pan))
    np.testing.assert_allclose(mtf_glp_numpy(ms, pan, gains, 4, pan_taps(4, "worldview3", 4)),
                               expected.numpy(), atol=1e-6)


def test_numpy_dark_channel_prior_matches_torch():
    rng = np.random.default_rng(1)
    hazy, tiles = rng.random((3, 120, 100)), rng.random((2, 3, 96, 80)).astype(np.float32)
    airlight = estimate_airlight_numpy(hazy)
    assert (np.abs(hazy.reshape(3, -1).T - airlight).max(axis=1) == 0).any()  # one of its pixels
    with torch.no_grad():
        expected = DarkChannelModule(airlight)(torch.from_numpy(tiles)).numpy()
    np.testing.assert_allclose(NumpyDarkChannel(airlight).predict([tiles], None), expected, atol=1e-4)


BLOCKED_RUN = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
from inference_runs import TorchBlocker
sys.meta_path.insert(0, TorchBlocker())
{run}
assert "torch" not in sys.modules
"""


def run_without_torch(run: str) -> None:
    code = BLOCKED_RUN.format(tests=str(ROOT / "tests"), root=str(ROOT), run=run)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]


def assert_within_one_step(expected_path, path) -> None:
    with rasterio.open(expected_path) as a, rasterio.open(path) as b:
        expected, got = a.read().astype(int), b.read().astype(int)
        assert (a.transform, a.dtypes, a.descriptions) == (b.transform, b.dtypes, b.descriptions)
    assert np.abs(got - expected).max() <= 1 and np.mean(got != expected) < 0.01


def test_method_mtf_glp_runs_without_torch_and_gives_the_torch_pixels(tmp_path):
    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=128)
    with_torch = pansharpen(PansharpenRequest(str(scene.ms_path), str(scene.pan_path),
                                              str(tmp_path / "torch.tif"), method="mtf_glp",
                                              tile_size=64, overlap=16)).output_path
    run_without_torch("from models.tasks.pansharpen import PansharpenRequest, pansharpen\n"
                      f"pansharpen(PansharpenRequest({str(scene.ms_path)!r}, {str(scene.pan_path)!r}, "
                      f"{str(tmp_path / 'numpy.tif')!r}, method='mtf_glp', tile_size=64, overlap=16))")
    assert_within_one_step(with_torch, tmp_path / "numpy.tif")


def test_the_dark_channel_prior_runs_without_torch_and_gives_the_torch_pixels(tmp_path):
    hazy = write_raster(tmp_path / "hazy.tif",
                        np.round((0.6 * clear_scene(3, 160, seed=2) + 0.35) * 255).astype(np.uint8))
    with_torch = dehaze(DehazeRequest(str(hazy), str(tmp_path / "torch.tif"),
                                      model="dark_channel_prior")).output_path
    run_without_torch("from models.tasks.dehaze import DehazeRequest, dehaze\n"
                      f"dehaze(DehazeRequest({str(hazy)!r}, {str(tmp_path / 'numpy.tif')!r}, "
                      "model='dark_channel_prior'))")
    assert_within_one_step(with_torch, tmp_path / "numpy.tif")


def test_method_auto_checks_the_model_against_mtf_glp_without_torch(tmp_path):
    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=128)
    net = nets.build("pansharpen_lite", {"ms_bands": 4, "ratio": 4})
    state = net.state_dict()
    bias = [k for k in state if k.startswith("output") and k.endswith("bias")][0]
    state[bias] = torch.full_like(state[bias], 0.5)  # adds half the MS range: worse than MTF-GLP
    bad = tmp_path / "biased.safetensors"
    save_trained_package(bad, state, ModelCard(name="biased", task="pansharpening",
                                               architecture="pansharpen_lite",
                                               config={"ms_bands": 4, "ratio": 4}, ratio=4))
    glp = pansharpen(PansharpenRequest(str(scene.ms_path), str(scene.pan_path), str(tmp_path / "glp.tif"),
                                       method="mtf_glp", tile_size=64, overlap=16)).output_path
    run_without_torch(
        "from models.tasks.callbacks import Callbacks\n"
        "from models.tasks.pansharpen import PansharpenRequest, pansharpen\n"
        "lines = []\n"
        f"result = pansharpen(PansharpenRequest({str(scene.ms_path)!r}, {str(scene.pan_path)!r}, "
        f"{str(tmp_path / 'auto.tif')!r}, model={str(bad)!r}, method='auto', tile_size=64, "
        "overlap=16), Callbacks(log=lines.append))\n"
        "assert result.method == 'mtf_glp', (result.method, lines)\n"
        "assert any('MTF-GLP is better here and is used' in line for line in lines), lines\n"
        "assert any('ONNX Runtime' in line for line in lines), lines\n")
    assert_within_one_step(glp, tmp_path / "auto.tif")
