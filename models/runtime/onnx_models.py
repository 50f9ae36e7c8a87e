"""ONNX Runtime backends for the engine: packaged graphs as tile models and chip classifiers.

Sessions get the backend's execution provider (CPU last as a fallback), intra-op threads for
the cores the engine's reader and writer leave free, and the graph bytes that `onnx_file`
checked (the file is not read again). On a GPU provider's out-of-memory error the engine
backs off and may move the model to the CPU provider.
"""
from __future__ import annotations

import numpy as np

from ..errors import DeviceError, InputError
from ..inference.backoff import TileModel
from ..inference.global_context import shift_windows, window_fractions
from ..inference.tiling import TileWindow
from .backends import CPU_PROVIDER, CUDA_PROVIDER, ORT, Backend, intra_op_threads
from .onnx_file import OnnxPackage

GLOBAL_PART = "global"
_OUT_OF_MEMORY = ("out of memory", "failed to allocate memory", "bfcarena")


def make_session(graph: bytes, backend: Backend, pipelined: bool = True):
    """An InferenceSession of `graph` on `backend`'s provider (with the CPU as fallback), with
    a core left to the reader and writer threads when they run beside it (`pipelined`)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads(pipelined=pipelined)
    options.inter_op_num_threads = 1
    # idle operator threads sleep instead of spinning: the reader and writer need those cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unplaced nodes are not the user's concern
    providers: list = [CPU_PROVIDER]
    if backend.provider == CUDA_PROVIDER:
        providers.insert(0, (CUDA_PROVIDER, {"device_id": backend.device_id}))
    elif backend.provider != CPU_PROVIDER:
        providers.insert(0, backend.provider)
    try:
        return onnxruntime.InferenceSession(graph, options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types
        raise DeviceError(f"ONNX Runtime could not load the model on {backend.provider}: "
                          f"{error}. Choose DEVICE 'cpu' or reinstall the 'Run models' pack.") from error


class OnnxTileModel(TileModel):
    """A packaged graph whose inputs are the engine's inputs, in order."""

    def __init__(self, package: OnnxPackage, backend: Backend):
        if backend.engine != ORT:
            raise ValueError("an OnnxTileModel needs an ONNX Runtime backend")
        self.package, self.backend = package, backend
        self.session = make_session(package.graph, backend)
        self.input_names = list(package.runtime.inputs)
        self.bands = {i.name: i.shape[1] for i in self.session.get_inputs()}

    def check(self, name: str, array: np.ndarray) -> None:
        """The net's own input checks, which the graph lost when it was traced: InputError
        unless `array` has the graph's band count and sides that are multiples of the net's."""
        bands, multiple = self.bands[name], self.package.runtime.multiple_of
        if array.ndim != 4 or (isinstance(bands, int) and array.shape[1] != bands):
            raise InputError(f"{self.package.card.name} reads {bands} band(s) as '{name}', got "
                             f"an array of shape {tuple(array.shape)}; choose a model for these bands.")
        if name != "ms" and (array.shape[2] % multiple or array.shape[3] % multiple):
            raise InputError(f"{self.package.card.name} needs tile sides that are multiples of "
                             f"{multiple} pixels, got {array.shape[2]} x {array.shape[3]}; "
                             f"change the tile size.")

    @property
    def device(self) -> str:
        return self.backend.device

    def describe(self) -> str:
        return self.backend.describe()

    def feeds(self, arrays: list[np.ndarray], windows: list[TileWindow]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch (checked)."""
        for name, array in zip(self.input_names, arrays):
            self.check(name, array)
        return {name: np.ascontiguousarray(array, dtype=np.float32)
                for name, array in zip(self.input_names, arrays)}

    def predict(self, arrays, windows) -> np.ndarray:
        return self.session.run(None, self.feeds(arrays, windows))[0]

    def is_out_of_memory(self, error: BaseException) -> bool:
        text = str(error).lower()
        return self.backend.is_gpu and any(marker in text for marker in _OUT_OF_MEMORY)

    def move_to_cpu(self) -> None:
        if not self.backend.is_gpu:
            super().move_to_cpu()
        self.backend = Backend(ORT, CPU_PROVIDER)
        self.session = make_session(self.package.graph, self.backend)


class OnnxGINetTileModel(OnnxTileModel):
    """GINet as two graphs: the global part runs once on the scene's view (here), the local
    part on each batch of tiles with their windows and the global maps.

    `global_image` (bands, G, G) is the normalized global view of the scene whose reference
    grid is `scene_shape`; `offset` places a run over part of the scene in it.
    """

    def __init__(self, package: OnnxPackage, backend: Backend, global_image: np.ndarray,
                 scene_shape: tuple[int, int], offset: tuple[int, int] = (0, 0)):
        super().__init__(package, backend)
        self.scene_shape, self.offset = (int(scene_shape[0]), int(scene_shape[1])), offset
        global_session = make_session(package.parts[GLOBAL_PART], backend)
        image = np.ascontiguousarray(np.asarray(global_image, dtype=np.float32).reshape(
            (1,) + tuple(global_image.shape[-3:])))
        maps = global_session.run(None, {global_session.get_inputs()[0].name: image})
        self.maps = dict(zip(self.input_names[2:], maps))

    def feeds(self, arrays, windows):
        fractions = window_fractions(shift_windows(windows, self.offset), self.scene_shape)
        tiles, window_name = self.input_names[:2]
        self.check(tiles, arrays[0])
        return {tiles: np.ascontiguousarray(arrays[0], dtype=np.float32), window_name: fractions,
                **self.maps}


class OnnxClassifier:
    """A packaged scene classifier: `logits(chips)` for float32 (N, bands, S, S) chips. Chips
    are read between batches, not beside them, so ONNX Runtime gets every core."""

    def __init__(self, package: OnnxPackage, backend: Backend):
        self.backend = backend
        self.session = make_session(package.graph, backend, pipelined=False)
        self.input_name = package.runtime.inputs[0]

    def logits(self, chips: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(chips, np.float32)})[0]
