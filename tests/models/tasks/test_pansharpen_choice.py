"""METHOD=auto: the model or MTF-GLP, whichever scores better on a reduced-resolution sample."""
import numpy as np
import pytest
import rasterio
import torch
from qgis import processing
from torch import nn

from rasters import pansharpening_scene

from geodistill.models import nets
from geodistill.models.data.wald import degrade
from geodistill.models.package import ModelCard, save_package
from geodistill.models.runtime.torch_models import PanFirst, TorchTileModel
from geodistill.models.tasks.pansharpen_choice import choose_method, engine_fuse


class _Config:
    multiple_of = 4


class Bicubic(nn.Module):
    """A "net" that ignores the PAN (worse than MTF-GLP wherever the PAN carries the detail)."""

    def __init__(self):
        super().__init__()
        self.config = _Config()

    def forward(self, ms, pan):
        return nn.functional.interpolate(ms, scale_factor=4, mode="bicubic", align_corners=False)


class Memorized(nn.Module):
    """A "net" that returns one stored image whatever it is given (an oracle for one scene)."""

    def __init__(self, image):
        super().__init__()
        self.config = _Config()
        self.register_buffer("image", torch.as_tensor(image, dtype=torch.float32)[None])

    def forward(self, ms, pan):
        return self.image


def scene_arrays(size=128):
    """MS (3, s, s) sharing the PAN's texture through unequal, position-dependent weights,
    so that MTF-GLP's one gain per band is good but not exact."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size * 4, 0:size * 4] / (size * 4)
    pan = (0.3 + 0.1 * np.sin(9 * x) + 0.3 * rng.random((size * 4, size * 4)))[None]
    truth = np.stack([0.6 * pan[0] * (1 + y), 0.9 * pan[0] + 0.1, 1.2 * pan[0] * (1 - 0.5 * x)])
    return degrade(truth, 4, 0.3).astype(np.float32), pan.astype(np.float32)


def choose(net, ms, pan, valid=None):
    """choose_method with `net` run as the engine runs it."""
    return choose_method(engine_fuse(TorchTileModel(PanFirst(net))), ms, pan, valid, 4, "generic",
                         net.config.multiple_of)


def test_a_model_exact_on_the_scene_is_chosen():
    ms, pan = scene_arrays()
    choice = choose(Memorized(ms), ms, pan)
    assert choice.method == "model"
    assert choice.model_ergas < 1e-6 and choice.mtf_glp_ergas > 0.1
    assert "is better here and is used" in choice.sentence("exact")


def test_mtf_glp_is_chosen_over_a_model_that_ignores_the_pan():
    ms, pan = scene_arrays()
    choice = choose(Bicubic(), ms, pan)
    assert choice.method == "mtf_glp"
    assert choice.mtf_glp_ergas < 0.8 * choice.model_ergas
    assert "MTF-GLP is better here" in choice.sentence("bicubic")


def test_only_valid_pixels_decide():
    ms, pan = scene_arrays()
    oracle = Memorized(ms)
    broken = ms.copy()
    broken[:, :, :8] = 0.0  # a no-data strip the oracle gets wrong: it must not be scored
    masked = np.ones(ms.shape[1:], dtype=bool)
    masked[:, :8] = False
    assert choose(oracle, broken, pan).model_ergas > 1.0
    choice = choose(oracle, broken, pan, masked)
    assert choice.method == "model" and choice.model_ergas < 1e-6


@pytest.fixture
def scene(tmp_path):
    return pansharpening_scene(tmp_path, bands=4, ratio=4, size=128)


def _package(tmp_path, bias: float):
    """A 4-band lite student whose output head adds `bias` (0: an untrained student)."""
    net = nets.build("pansharpen_lite", {"ms_bands": 4, "ratio": 4})
    state = net.state_dict()
    bias_key = [k for k in state if k.startswith("output") and k.endswith("bias")][0]
    state[bias_key] = torch.full_like(state[bias_key], bias)
    card = ModelCard(name=f"lite_bias{bias:g}", task="pansharpening", architecture="pansharpen_lite",
                     config={"ms_bands": 4, "ratio": 4}, ratio=4)
    path = tmp_path / f"lite_bias{bias:g}.safetensors"
    save_package(path, state, card)
    return path


def _run(scene, tmp_path, name, method, model, feedback=None):
    params = {"MS": str(scene.ms_path), "PAN": str(scene.pan_path), "METHOD": method,
              "MODEL": str(model), "ADAPT_ITERATIONS": 0, "TILE_SIZE": 64, "OVERLAP": 16,
              "DEVICE": "cpu", "OUTPUT": str(tmp_path / f"{name}.tif")}
    with rasterio.open(processing.run("geodistill:pansharpen", params, feedback=feedback)["OUTPUT"]) as out:
        return out.read()


def test_auto_writes_mtf_glp_when_the_model_is_worse(geodistill_provider, scene, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def pushInfo(self, line):  # noqa: N802
            self.lines.append(line)
            super().pushInfo(line)

    bad = _package(tmp_path, 0.5)  # adds half the MS range to every pixel
    feedback = Feedback()
    auto = _run(scene, tmp_path, "auto", 3, bad, feedback)
    glp = _run(scene, tmp_path, "glp", 1, bad)
    model = _run(scene, tmp_path, "model", 0, bad)
    assert np.array_equal(auto, glp) and not np.array_equal(auto, model)
    assert any("MTF-GLP is better here and is used" in line for line in feedback.lines)


def test_auto_is_the_algorithm_default(geodistill_provider):
    from qgis.core import QgsApplication

    algorithm = QgsApplication.processingRegistry().algorithmById("geodistill:pansharpen")
    parameter = algorithm.parameterDefinition("METHOD")
    assert parameter.options()[parameter.defaultValue()] == "auto"
