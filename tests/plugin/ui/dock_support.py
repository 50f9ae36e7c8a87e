"""Helpers of the dock's tests."""
from pathlib import Path

from geodistill.models import nets
from geodistill.models.package import ModelCard, save_package


def lite_package(folder: Path, name: str, bands: int, ratio: int) -> Path:
    net = nets.build("pansharpen_lite", {"ms_bands": bands, "ratio": ratio})
    card = ModelCard(name=name, task="pansharpening", architecture="pansharpen_lite",
                     config={"ms_bands": bands, "ratio": ratio}, ratio=ratio,
                     input_bands={"ms": [f"b{i}" for i in range(bands)], "pan": ["pan"]},
                     licence="test licence", metrics={"validation_q2n": 0.5})
    path = folder / f"{name}.safetensors"
    save_package(path, net.state_dict(), card)
    return path


def combo_layer_names(combo):
    return sorted(combo.layer(i).name() for i in range(combo.count()) if combo.layer(i) is not None)
