"""The exporter is generic: every trainable architecture gets its `.onnx` when it is saved
(checked against torch at a second batch and tile size by the exporter itself), and a net
whose traced graph would fix the tile size (PSDNet) keeps running on torch."""
import numpy as np
import pytest

from geodistill.models import nets
from geodistill.models.package import ModelCard
from geodistill.models.onnx_export import save_trained_package
from geodistill.models.runtime.backends import ORT, TORCH
from geodistill.models.runtime.loader import open_for_inference

CASES = {
    "ktdn": ("dehazing", dict(bands=3, encoder_depths=(1, 1, 1), encoder_planes=(16, 32, 64), stem_width=16)),
    "ginet": ("segmentation", dict(bands=3, classes=4, widths=[8, 16, 16, 32], blocks=[1, 1, 1, 1],
                                   decoder_width=16, guidance_width=8, global_size=64)),
    "resnet18_classifier": ("classification", dict(bands=3, classes=3, input_size=32, width=8)),
    "mobilenetv2_classifier": ("classification", dict(bands=3, classes=3, input_size=32,
                                                      width_multiplier=0.25, last_channels=64)),
    "psdnet": ("pansharpening", dict(ms_bands=4, ratio=4, width=8, projection_pairs=1, unet_blocks=1,
                                     refine_blocks=1)),
}


def saved(tmp_path, architecture, log=None):
    task, config = CASES[architecture]
    net = nets.build(architecture, config)
    classes = [{"id": i, "name": f"class {i}", "color": "#336699"} for i in range(config.get("classes", 0))]
    card = ModelCard(name=architecture, task=task, architecture=architecture, config=config,
                     ratio=config.get("ratio"), classes=classes)
    path = tmp_path / f"{architecture}.safetensors"
    save_trained_package(path, net.state_dict(), card, log)
    return path, net


@pytest.mark.parametrize("architecture", ["ktdn", "ginet", "resnet18_classifier", "mobilenetv2_classifier"])
def test_every_trainable_architecture_is_saved_with_its_onnx(tmp_path, architecture):
    path, _ = saved(tmp_path, architecture)
    model = open_for_inference(path, "cpu")
    assert path.with_suffix(".onnx").is_file() and model.backend.engine == ORT
    assert model.card.architecture == architecture and model.notes == []


def test_psdnet_keeps_running_on_torch_without_a_graph(tmp_path):
    saving = []
    path, net = saved(tmp_path, "psdnet", saving.append)
    assert not path.with_suffix(".onnx").exists()
    assert len(saving) == 1 and "No ONNX graph was written" in saving[0] and "torch" in saving[0]
    messages = []
    model = open_for_inference(path, "cpu", log=messages.append)
    assert model.backend.engine == TORCH and "runs on PyTorch" in model.notes[0]
    assert any("does not convert to ONNX" in m for m in messages)
    pan, ms = np.random.default_rng(0).random((1, 1, 64, 64), np.float32), np.random.default_rng(1).random(
        (1, 4, 16, 16), np.float32)
    tile_model = model.tile_model()
    tile_model.prepare("cpu", "fp32")
    import torch

    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(ms), torch.from_numpy(pan))
    expected = expected[0] if isinstance(expected, tuple) else expected
    np.testing.assert_allclose(tile_model.predict([pan, ms], [None]), expected.numpy(), atol=1e-5)
