"""MTF-GLP with numpy alone: torch's bicubic interpolation, the MTF degradation and the detail
injection give torch's values, and METHOD mtf_glp runs where torch cannot be imported."""
import subprocess
import sys

import numpy as np
import rasterio
import torch

from rasters import pansharpening_scene
from support import ROOT

from geodistill.models.classical.mtf_glp_numpy import (degrade_numpy, mtf_glp_numpy, pan_taps,
                                                       upsample_bicubic_numpy)
from geodistill.models.classical.pansharpen import MtfGlpModule, lowpass_gain, upsample_tensor
from geodistill.models.data.wald import degrade_tensor
from geodistill.models.tasks.pansharpen import PansharpenRequest, pansharpen


def test_numpy_arithmetic_matches_torch():
    rng = np.random.default_rng(0)
    ms, pan = rng.random((2, 4, 13, 17)), rng.random((2, 1, 52, 68))
    np.testing.assert_allclose(upsample_bicubic_numpy(ms, 4),
                               upsample_tensor(torch.from_numpy(ms), 4).numpy(), atol=1e-12)
    gain = lowpass_gain("worldview3", 4)
    np.testing.assert_allclose(degrade_numpy(pan, 4, pan_taps(4, "worldview3", 4)),
                               degrade_tensor(torch.from_numpy(pan), 4, gain).numpy(), atol=1e-12)
    gains = [0.5, 0.8, 1.1, 0.9]
    with torch.no_grad():
        expected = MtfGlpModule(gains, 4, gain).double()(torch.from_numpy(ms), torch.from_numpy(pan))
    np.testing.assert_allclose(mtf_glp_numpy(ms, pan, gains, 4, pan_taps(4, "worldview3", 4)),
                               expected.numpy(), atol=1e-6)


BLOCKED_RUN = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
from inference_runs import TorchBlocker
sys.meta_path.insert(0, TorchBlocker())
from models.tasks.pansharpen import PansharpenRequest, pansharpen
pansharpen(PansharpenRequest({ms!r}, {pan!r}, {out!r}, method="mtf_glp", tile_size=64, overlap=16))
assert "torch" not in sys.modules
"""


def test_method_mtf_glp_runs_without_torch_and_gives_the_torch_pixels(tmp_path):
    scene = pansharpening_scene(tmp_path, bands=4, ratio=4, size=128)
    with_torch = pansharpen(PansharpenRequest(str(scene.ms_path), str(scene.pan_path),
                                              str(tmp_path / "torch.tif"), method="mtf_glp",
                                              tile_size=64, overlap=16)).output_path
    code = BLOCKED_RUN.format(tests=str(ROOT / "tests"), root=str(ROOT), ms=str(scene.ms_path),
                              pan=str(scene.pan_path), out=str(tmp_path / "numpy.tif"))
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with rasterio.open(with_torch) as a, rasterio.open(tmp_path / "numpy.tif") as b:
        expected, got = a.read().astype(int), b.read().astype(int)
        assert (a.transform, a.dtypes, a.descriptions) == (b.transform, b.dtypes, b.descriptions)
    assert np.abs(got - expected).max() <= 1 and np.mean(got != expected) < 0.01
