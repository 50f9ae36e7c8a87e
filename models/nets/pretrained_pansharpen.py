"""Loading the published DLPan-Toolbox pansharpening weights into the nets of `pansharpen_teachers`.

The files are safetensors holding the original state dicts (see
`../shared/data/pretrained/README.md`). Their key names are mapped onto this project's modules
by `map_keys`; FusionNet's file holds each residual block twice (`resN.*` and `backbone.N.*`,
one tensor shared by two names in the original module): the copies must agree and only one is
kept. The nets take inputs divided by `TEACHER_DN_SCALE` (11-bit DN), as they were trained.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..errors import InputError
from .pansharpen_teachers import DiCNN, FusionNet, TeacherConfig

TEACHER_DN_SCALE = 2047.0
"""The teachers' input and output unit: DN / 2047 (11-bit sensors)."""
TEACHER_NETS = {"fusionnet": FusionNet, "dicnn1": DiCNN}
"""File stem in the toolbox's folders -> net class."""
SENSOR_FOLDERS = {"QB": 4, "WV4": 4, "WV2": 8, "WV3": 8}
"""Toolbox folder -> MS band count of its weights."""

_FUSIONNET_RULES = [
    (r"^conv1\.(weight|bias)$", r"head.\1"),
    (r"^conv3\.(weight|bias)$", r"tail.\1"),
    (r"^backbone\.(\d)\.conv20\.(weight|bias)$", r"blocks.\1.first.\2"),
    (r"^backbone\.(\d)\.conv21\.(weight|bias)$", r"blocks.\1.second.\2"),
]
_DICNN_RULES = [(rf"^conv{i}\.(weight|bias)$", rf"body.{2 * (i - 1)}.\1") for i in (1, 2, 3)]
_DUPLICATE = re.compile(r"^res(\d)\.(conv2[01]\.(?:weight|bias))$")


def map_keys(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The toolbox state dict of net `name` ("fusionnet" or "dicnn1") with this project's keys.

    Raises InputError on a key no rule maps, or on FusionNet duplicates that differ.
    """
    rules = _FUSIONNET_RULES if name == "fusionnet" else _DICNN_RULES
    mapped = {}
    for key, tensor in state.items():
        duplicate = _DUPLICATE.match(key) if name == "fusionnet" else None
        if duplicate:
            original = state.get(f"backbone.{int(duplicate[1]) - 1}.{duplicate[2]}")
            if original is None or not torch.equal(original, tensor):
                raise InputError(f"FusionNet weights: {key} does not match its backbone copy")
            continue
        for pattern, replacement in rules:
            if re.match(pattern, key):
                mapped[re.sub(pattern, replacement, key)] = tensor
                break
        else:
            raise InputError(f"unexpected key {key} in the {name} weights")
    return mapped


def load_teacher(path: str | Path) -> torch.nn.Module:
    """The net stored at `path` (`<folder>/<net>.safetensors` of the toolbox), in eval mode."""
    path = Path(path)
    if path.stem not in TEACHER_NETS:
        raise InputError(f"{path.name}: only {', '.join(TEACHER_NETS)} teachers are supported")
    state = map_keys(path.stem, load_file(str(path)))
    bands = int(state["tail.bias" if path.stem == "fusionnet" else "body.4.bias"].shape[0])
    net = TEACHER_NETS[path.stem](TeacherConfig(ms_bands=bands, ratio=4))
    net.load_state_dict(state, strict=True)
    return net.eval()
