"""The published pansharpening teachers: key map from the toolbox files, and their forward pass.

Each test writes a state dict with the toolbox's key names (random weights) to a safetensors
file, loads it through `load_teacher`, and checks the output against the original
architecture written out with plain `F.conv2d` calls on the original keys.
"""
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from geodistill.models.errors import InputError
from geodistill.models.nets.pretrained_pansharpen import load_teacher, map_keys


def _conv(state, name, x):
    return F.conv2d(x, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)


def _toolbox_fusionnet(bands: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)

    def tensor(*shape):
        return 0.1 * torch.randn(*shape, generator=generator)

    state = {"conv1.weight": tensor(32, bands, 3, 3), "conv1.bias": tensor(32),
             "conv3.weight": tensor(bands, 32, 3, 3), "conv3.bias": tensor(bands)}
    for block in range(4):
        for layer in ("conv20", "conv21"):
            state[f"backbone.{block}.{layer}.weight"] = tensor(32, 32, 3, 3)
            state[f"backbone.{block}.{layer}.bias"] = tensor(32)
            for kind in ("weight", "bias"):  # the shared copies under resN
                state[f"res{block + 1}.{layer}.{kind}"] = state[f"backbone.{block}.{layer}.{kind}"].clone()
    return state


def _toolbox_dicnn(bands: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    shapes = {"conv1": (64, bands + 1), "conv2": (64, 64), "conv3": (bands, 64)}
    state = {}
    for name, (out, inp) in shapes.items():
        state[f"{name}.weight"] = 0.1 * torch.randn(out, inp, 3, 3, generator=generator)
        state[f"{name}.bias"] = 0.1 * torch.randn(out, generator=generator)
    return state


def _pair(bands: int):
    generator = torch.Generator().manual_seed(3)
    return (torch.rand(1, bands, 6, 6, generator=generator),
            torch.rand(1, 1, 24, 24, generator=generator))


def _lms(ms):
    return F.interpolate(ms, scale_factor=4, mode="bicubic", align_corners=False)


@pytest.mark.parametrize("bands", [4, 8])
def test_fusionnet_from_toolbox_keys_matches_the_original_forward(tmp_path, bands):
    state = _toolbox_fusionnet(bands)
    path = tmp_path / "fusionnet.safetensors"
    save_file(state, str(path))
    net = load_teacher(path)
    ms, pan = _pair(bands)
    lms = _lms(ms)
    hidden = torch.relu(_conv(state, "conv1", pan.repeat(1, bands, 1, 1) - lms))
    for block in range(4):
        inner = torch.relu(_conv(state, f"backbone.{block}.conv20", hidden))
        hidden = hidden + _conv(state, f"backbone.{block}.conv21", inner)
    expected = lms + _conv(state, "conv3", hidden)
    with torch.no_grad():
        assert torch.allclose(net(ms, pan), expected, rtol=1e-4, atol=1e-4)
    assert net.config.ms_bands == bands


def test_dicnn_from_toolbox_keys_matches_the_original_forward(tmp_path):
    state = _toolbox_dicnn(4)
    path = tmp_path / "dicnn1.safetensors"
    save_file(state, str(path))
    net = load_teacher(path)
    ms, pan = _pair(4)
    lms = _lms(ms)
    hidden = torch.relu(_conv(state, "conv2", torch.relu(_conv(state, "conv1", torch.cat([lms, pan], 1)))))
    with torch.no_grad():
        assert torch.allclose(net(ms, pan), lms + _conv(state, "conv3", hidden), rtol=1e-4, atol=1e-4)


def test_fusionnet_duplicates_that_differ_are_refused():
    state = _toolbox_fusionnet(4)
    state["res2.conv21.bias"] = state["res2.conv21.bias"] + 1.0
    with pytest.raises(InputError, match="res2.conv21.bias"):
        map_keys("fusionnet", state)


def test_unknown_keys_and_nets_are_refused(tmp_path):
    state = _toolbox_dicnn(4)
    state["conv4.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match="conv4.weight"):
        map_keys("dicnn1", state)
    path = tmp_path / "pnn.safetensors"
    save_file({"conv1.weight": torch.zeros(1)}, str(path))
    with pytest.raises(InputError, match="fusionnet"):
        load_teacher(path)
