"""Convert a `.safetensors` model package to an `.onnx` package (needs torch and onnx).

Generic over every architecture `models.nets` can build: the graph's inputs follow the task,
not the net. Pansharpening nets read (pan, ms), dehazing nets (image), classifiers (chips) and
GINet-like segmentation nets run as two graphs: `<stem>.global.onnx` (global view -> the
modulation maps, once per scene) and `<stem>.onnx` (tiles, windows, maps -> logits). Batch and
spatial sizes are dynamic where the net is fully convolutional (classifiers: batch only).
Each export is checked against torch at a second size and batch before it is written, so a
size frozen at trace time is caught; files are written under a temporary name and renamed.
Exported with the classic TorchScript exporter: the dynamo exporter fixes GINet's sizes.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import PackageError
from .nets.ginet import GlobalContext
from .package import ModelCard, load_model, load_package, save_package
from .runtime.onnx_file import (CARD_KEY, DIGEST_KEY, RUNTIME_KEY, SUFFIX, ConversionError,
                                RuntimeInfo, part_path, scan_model)
from .runtime.onnx_models import GLOBAL_PART
from .runtime.torch_models import PanFirst

OPSET = 17
TOLERANCE = 1e-4
"""Largest |ORT - torch| an export may show on its check inputs."""


class _GlobalPart(nn.Module):
    """GINet's global branch: the global view -> its modulation maps."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, global_image):
        return tuple(self.net.global_context(global_image).modulations)


class _LocalPart(nn.Module):
    """GINet's local branch: tiles, their window fractions and the global maps -> logits."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, tiles, windows, *maps):
        context = GlobalContext(list(maps), maps[0], maps[0])
        return self.net.forward_local(tiles, context, windows)[0]


@dataclass
class _Graph:
    """One graph to export: module, input names, trace inputs, check inputs, dynamic axes."""

    module: nn.Module
    inputs: list[str]
    trace: tuple
    check: tuple
    dynamic: dict[str, dict[int, str]]


def ort_friendly(net: nn.Module) -> nn.Module:
    """A copy of `net` with each single-slope PReLU as the LeakyReLU it equals (ONNX Runtime
    fuses LeakyRelu into the preceding Conv; a PRelu node runs on its own, a third of the lite
    pansharpening student's time)."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.PReLU) and child.weight.numel() == 1:
                setattr(parent, name, nn.LeakyReLU(float(child.weight.detach().reshape(())), inplace=False))
    return net


def _image_axes(*names: str) -> dict[str, dict[int, str]]:
    return {name: {0: "batch", 2: f"{name}_height", 3: f"{name}_width"} for name in names}


def _random(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def _graphs(card: ModelCard, net: nn.Module) -> tuple[dict[str, _Graph], RuntimeInfo]:
    """The graphs of a package ("main" and parts) and its runtime facts."""
    config = net.config
    multiple = int(getattr(config, "multiple_of", 1) or 1)
    side = multiple * max(1, 64 // multiple)
    generator = torch.Generator().manual_seed(0)
    if card.task == "pansharpening":
        ratio, bands = config.ratio, config.ms_bands
        pair = lambda b, h, w: (_random(generator, b, 1, h, w), _random(generator, b, bands, h // ratio, w // ratio))
        graph = _Graph(PanFirst(net), ["pan", "ms"], pair(1, side * 2, side * 2),
                       pair(3, side * 3, side * 2), _image_axes("pan", "ms", "output"))
        return {"main": graph}, RuntimeInfo(card.task, graph.inputs, multiple, opset=OPSET)
    if card.task == "dehazing":
        bands = config.bands
        graph = _Graph(net, ["image"], (_random(generator, 1, bands, side * 2, side * 2),),
                       (_random(generator, 3, bands, side * 3, side * 2),), _image_axes("image", "output"))
        return {"main": graph}, RuntimeInfo(card.task, graph.inputs, multiple, opset=OPSET)
    if card.task == "classification":
        size, bands = config.input_size, config.bands
        graph = _Graph(net, ["chips"], (_random(generator, 2, bands, size, size),),
                       (_random(generator, 3, bands, size, size),),
                       {"chips": {0: "batch"}, "output": {0: "batch"}})
        return {"main": graph}, RuntimeInfo(card.task, graph.inputs, multiple, input_size=size, opset=OPSET)
    if card.task == "segmentation":
        if not hasattr(net, "global_context") or not hasattr(net, "forward_local"):
            raise PackageError(f"{card.name}: segmentation nets export as GINet's two graphs; "
                               f"'{card.architecture}' has no global_context/forward_local.")
        bands, size = config.bands, config.global_size
        view = _random(generator, 1, bands, size, size)
        with torch.no_grad():
            maps = tuple(net.global_context(view).modulations)
        names = [f"map{i}" for i in range(len(maps))]
        windows = lambda b: torch.tensor([[0.0, 0.0, 0.25, 0.25], [0.5, 0.25, 0.75, 0.5],
                                          [0.9, 0.8, 1.15, 1.1]])[:b]
        global_graph = _Graph(_GlobalPart(net), ["global_image"], (view,), (view,), {})
        local = _Graph(_LocalPart(net), ["tiles", "windows", *names],
                       (_random(generator, 2, bands, side * 2, side * 2), windows(2), *maps),
                       (_random(generator, 3, bands, side * 3, side * 2), windows(3), *maps),
                       {**_image_axes("tiles", "output"), "windows": {0: "batch"}})
        return ({"main": local, GLOBAL_PART: global_graph},
                RuntimeInfo(card.task, local.inputs, multiple, global_size=size, opset=OPSET))
    raise PackageError(f"{card.name}: no ONNX export for task '{card.task}'.")


def _export(graph: _Graph, keep_weights: bool = False) -> bytes:
    """The graph as ONNX bytes (classic exporter, opset OPSET), checked against torch. With
    `keep_weights` the exporter leaves every weight as the net holds it (batch norms are not
    folded into the convolutions; ONNX Runtime folds them when it loads the graph)."""
    import onnxruntime

    outputs = ["output"] if graph.inputs != ["global_image"] else None
    module = graph.module.eval()  # the exporter restores a wrapper's own (training) mode
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side input checks
        torch.onnx.export(module, graph.trace, buffer, input_names=graph.inputs,
                          output_names=outputs, opset_version=OPSET, dynamo=False,
                          dynamic_axes=graph.dynamic or None, do_constant_folding=not keep_weights,
                          training=(torch.onnx.TrainingMode.PRESERVE if keep_weights
                                    else torch.onnx.TrainingMode.EVAL))
    data = buffer.getvalue()
    feeds = {name: value.numpy() for name, value in zip(graph.inputs, graph.check)}
    try:
        outputs = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    except Exception as error:  # onnxruntime's own exception types
        raise PackageError(f"ONNX Runtime cannot run the graph at a batch of "
                           f"{graph.check[0].shape[0]} and another tile size ({str(error)[:200]}); "
                           f"a size is fixed in the net's code.") from error
    with torch.no_grad():
        expected = module(*graph.check)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for got, want in zip(outputs, expected):
        difference = float(np.abs(got - want.numpy()).max()) if got.shape == tuple(want.shape) else np.inf
        if difference > TOLERANCE:
            raise PackageError(f"the ONNX graph differs from torch by {difference:.2g} at a batch "
                               f"of {graph.check[0].shape[0]}; a size may be fixed in the net's code.")
    return data


def _with_metadata(data: bytes, entries: dict[str, str]) -> bytes:
    """`data` with `entries` added to its metadata and the graph digest recorded."""
    import onnx

    model = onnx.load_from_string(data)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    data = model.SerializeToString()
    model.metadata_props.add(key=DIGEST_KEY, value=scan_model(data)[1])
    return model.SerializeToString()


def _half_weights(data: bytes) -> bytes:
    """`data` with its float32 weights stored as float16 and cast back to float32 when the graph
    loads (ONNX Runtime folds the casts once: the same float32 arithmetic, half the file). For
    packages whose weights are float16 already, so torch and the graph use the same values."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    casts = []
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type != TensorProto.FLOAT:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16),
                                       f"{tensor.name}.float16")
        casts.append(helper.make_node("Cast", [half.name], [tensor.name], to=TensorProto.FLOAT))
        graph.initializer[index].CopyFrom(half)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model.SerializeToString()


def _stored_as_half(weights_path: str | Path) -> bool:
    """Whether every floating-point tensor of the package is float16."""
    _, weights = load_package(weights_path)
    floats = [t for t in weights.values() if t.is_floating_point()]
    return bool(floats) and all(t.dtype == torch.float16 for t in floats)


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def onnx_path_for(weights_path: str | Path) -> Path:
    """Where the `.onnx` package of a `.safetensors` package goes: next to it, same stem."""
    return Path(weights_path).with_suffix(SUFFIX)


def export_package(weights_path: str | Path, out_path: str | Path | None = None) -> Path:
    """Convert the `.safetensors` package at `weights_path` to `out_path` (default: next to
    it); returns the `.onnx` path. The card is copied into the ONNX metadata unchanged.
    ConversionError when the graph would differ from torch."""
    card, net = load_model(weights_path, device="cpu")
    out_path = Path(out_path) if out_path else onnx_path_for(weights_path)
    graphs, runtime = _graphs(card, ort_friendly(net).eval())
    half = _stored_as_half(weights_path)
    store = _half_weights if half else (lambda data: data)
    try:
        main = store(_export(graphs.pop("main"), keep_weights=half))
        parts = {part: _with_metadata(store(_export(graph, keep_weights=half)), {RUNTIME_KEY: dataclasses.replace(
            runtime, inputs=graph.inputs, parts={}).to_json()}) for part, graph in graphs.items()}
    except PackageError as error:
        raise ConversionError(f"{Path(weights_path).name} does not convert to ONNX: {error}") from error
    runtime.parts = {part: hashlib.sha256(data).hexdigest() for part, data in parts.items()}
    for part, data in parts.items():
        _write(part_path(out_path, part), data)
    _write(out_path, _with_metadata(main, {CARD_KEY: card.to_json(), RUNTIME_KEY: runtime.to_json()}))
    return out_path


def save_trained_package(path: str | Path, state_dict: dict, card: ModelCard,
                         log: Callable[[str], None] | None = None) -> ModelCard:
    """Save trained weights as a `.safetensors` package and write its `.onnx` next to it, so
    the model runs on ONNX Runtime; returns the card as saved. A net that does not convert
    (PSDNet: its quadrant stitching fixes the tile size in a traced graph) gets no `.onnx`
    and runs on torch; `log` is told so."""
    saved = save_package(path, state_dict, card)
    try:
        export_package(path)
    except ConversionError as error:
        Path(path).with_suffix(SUFFIX).unlink(missing_ok=True)  # a stale graph of older weights
        if log:
            log(f"No ONNX graph was written ({error}); the model runs where torch is installed.")
    return saved
