"""ONNX packages and backends: checked metadata, the same values as torch through the whole
engine, dynamic batch and tile sizes, and the backend order of DEVICE=auto."""
import dataclasses
import shutil

import numpy as np
import onnxruntime
import pytest
import rasterio
import torch

from rasters import smooth_field, write_raster

from geodistill.models import nets
from geodistill.models.errors import DeviceError, InputError, PackageError
from geodistill.models.inference.engine import OutputSpec, RasterInput, run_tiled
from geodistill.models.inference.global_context import read_global_view
from geodistill.models.inference.scaling import BandScaling
from geodistill.models.inference.tiling import TilingOptions
from geodistill.models.onnx_export import save_trained_package
from geodistill.models.package import ModelCard, load_model, read_card
from geodistill.models.registry import BUNDLED_FOLDER, list_packages, resolve_model
from geodistill.models.runtime import backends, onnx_file
from geodistill.models.runtime.backends import Backend, resolve_backend
from geodistill.models.runtime.loader import open_for_inference
from geodistill.models.runtime.onnx_file import load_onnx_package, read_onnx_card
from geodistill.models.runtime.onnx_models import OnnxClassifier, OnnxGINetTileModel, OnnxTileModel
from geodistill.models.runtime.torch_models import GINetTileModel, PanFirst

CPU = Backend(backends.ORT, backends.CPU_PROVIDER)
BUNDLED = sorted(p.stem for p in BUNDLED_FOLDER.glob("*.safetensors"))


def test_bundled_onnx_cards_equal_the_weights_cards_and_opset_is_17_or_newer():
    for stem in BUNDLED:
        package = load_onnx_package(BUNDLED_FOLDER / f"{stem}.onnx")
        assert package.card == read_card(BUNDLED_FOLDER / f"{stem}.safetensors")
        assert package.runtime.opset >= 17 and package.runtime.task == package.card.task
    assert set(load_onnx_package(BUNDLED_FOLDER / "segmentation_landcover_lite.onnx").parts) == {"global"}


def test_a_modified_graph_or_a_foreign_part_is_refused(tmp_path):
    source = BUNDLED_FOLDER / "pansharpening_lite_4band_x4.onnx"
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of a weight
    (tmp_path / "tampered.onnx").write_bytes(bytes(data))
    with pytest.raises(PackageError, match="does not match the sha256"):
        read_onnx_card(tmp_path / "tampered.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    with pytest.raises(PackageError, match="not a readable ONNX model"):
        read_onnx_card(tmp_path / "junk.onnx")
    for suffix in (".onnx", ".global.onnx"):
        shutil.copy(BUNDLED_FOLDER / f"segmentation_landcover_lite{suffix}", tmp_path / f"seg{suffix}")
    shutil.copy(BUNDLED_FOLDER / "dehazing_lite_rgb.onnx", tmp_path / "seg.global.onnx")
    with pytest.raises(PackageError, match="does not belong to seg.onnx"):
        load_onnx_package(tmp_path / "seg.onnx")


def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_file, "MAX_ONNX_BYTES", 1000)
    with pytest.raises(PackageError, match="more than the"):
        read_onnx_card(BUNDLED_FOLDER / "dehazing_lite_rgb.onnx")


def test_an_onnx_only_folder_is_listed_and_resolved(tmp_path):
    shutil.copy(BUNDLED_FOLDER / "dehazing_lite_rgb.onnx", tmp_path / "my_dehazer.onnx")
    for suffix in (".onnx", ".global.onnx"):
        shutil.copy(BUNDLED_FOLDER / f"segmentation_landcover_lite{suffix}", tmp_path / f"my_seg{suffix}")
    user = {p.name: p for p in list_packages(tmp_path) if p.source == "user"}
    assert set(user) == {"my_dehazer", "my_seg"} and user["my_seg"].card.task == "segmentation"
    assert resolve_model("my_dehazer", tmp_path) == tmp_path / "my_dehazer.onnx"


def engine_outputs(model_of, path, bands, out_folder, band_count, scale=1, extra=()):
    """The engine's float32 output of the same tiles for each backend's model."""
    results = []
    for name, model in model_of.items():
        out = out_folder / f"{name}.tif"
        inputs = [RasterInput(path, scaling=BandScaling([0.0] * bands, [1000.0] * bands)), *extra]
        run_tiled(model, inputs, OutputSpec(out, band_count, scale=scale),
                  TilingOptions(tile_size=64, overlap=16, batch_size=3, multiple_of=8), device="cpu")
        with rasterio.open(out) as dataset:
            results.append(dataset.read())
    return results


@pytest.fixture(scope="module")
def rgb_scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    array = (smooth_field((3, 136, 120), np.random.default_rng(4), scale=6) * 900).astype(np.float32)
    return write_raster(folder / "rgb.tif", array)


def test_dehazing_onnx_equals_torch_through_the_engine(rgb_scene, tmp_path):
    package = load_onnx_package(BUNDLED_FOLDER / "dehazing_lite_rgb.onnx")
    _, net = load_model(BUNDLED_FOLDER / "dehazing_lite_rgb.safetensors")
    onnx, torch_out = engine_outputs({"onnx": OnnxTileModel(package, CPU), "torch": net},
                                     rgb_scene, 3, tmp_path, 3)
    assert onnx.shape == (3, 136, 120) and np.abs(onnx - torch_out).max() <= 1e-4
    assert onnx.std() > 0.01  # a real image, not a constant


def test_pansharpening_onnx_equals_torch_through_the_engine(tmp_path):
    rng = np.random.default_rng(1)
    pan = write_raster(tmp_path / "pan.tif", (smooth_field((1, 144, 128), rng, 4) * 900).astype(np.float32))
    ms = write_raster(tmp_path / "ms.tif", (smooth_field((4, 36, 32), rng, 2) * 900).astype(np.float32),
                      pixel_size=4.0)
    package = load_onnx_package(BUNDLED_FOLDER / "pansharpening_lite_4band_x4.onnx")
    _, net = load_model(BUNDLED_FOLDER / "pansharpening_lite_4band_x4.safetensors")
    ms_input = RasterInput(ms, scaling=BandScaling([0.0] * 4, [1000.0] * 4))
    onnx, torch_out = engine_outputs({"onnx": OnnxTileModel(package, CPU), "torch": PanFirst(net)},
                                     pan, 1, tmp_path, 4, extra=(ms_input,))
    assert onnx.shape == (4, 144, 128) and np.abs(onnx - torch_out).max() <= 1e-4


def assert_ginet_graphs_equal_torch(package_path, scene, out_folder, classes):
    """The package's two ONNX graphs give torch's logits for a part of the scene."""
    package = load_onnx_package(package_path.with_suffix(".onnx"))
    _, net = load_model(package_path.with_suffix(".safetensors"))
    scaling = BandScaling([0.0] * 3, [1000.0] * 3)
    view = read_global_view(scene, None, scaling, package.runtime.global_size)
    models = {"onnx": OnnxGINetTileModel(package, CPU, view, (136, 120), (8, 16)),
              "torch": GINetTileModel(net, view, (136, 120), (8, 16))}
    onnx, torch_out = engine_outputs(models, scene, 3, out_folder, classes)
    assert np.abs(onnx - torch_out).max() <= 1e-4 and np.abs(onnx).max() > 0.1


def test_ginet_two_graphs_equal_torch_for_a_part_of_the_scene(rgb_scene, tmp_path):
    assert_ginet_graphs_equal_torch(BUNDLED_FOLDER / "segmentation_landcover_lite.onnx", rgb_scene,
                                    tmp_path, 6)


def test_a_local_only_ginet_gets_both_graphs_and_they_equal_torch(rgb_scene, tmp_path):
    """GINet without its global view still exports: its global graph keeps the view as an
    input although the net ignores what it holds."""
    torch.manual_seed(0)
    net = nets.build("ginet_lite", {"bands": 3, "classes": 4, "use_global_view": False})
    for module in net.modules():  # non-trivial guidance, as training leaves it
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "local.safetensors"
    save_trained_package(path, net.state_dict(), ModelCard(
        name="local", task="segmentation", architecture="ginet_lite",
        config=dataclasses.asdict(net.config),
        classes=[{"id": i, "name": f"class {i}", "color": "#102030"} for i in range(4)]))
    assert path.with_suffix(".onnx").is_file() and path.with_suffix(".global.onnx").is_file()
    assert_ginet_graphs_equal_torch(path, rgb_scene, tmp_path, 4)


def test_classifier_onnx_equals_torch_for_any_batch():
    package = load_onnx_package(BUNDLED_FOLDER / "classification_aid_efficientnet_lite0.onnx")
    size = package.runtime.input_size
    chips = np.random.default_rng(0).random((5, 3, size, size), dtype=np.float32)
    logits = OnnxClassifier(package, CPU).logits(chips)
    model = open_for_inference(BUNDLED_FOLDER / "classification_aid_efficientnet_lite0.safetensors", "cpu")
    assert model.onnx is not None and logits.shape == (5, 30)
    import torch

    _, net = load_model(BUNDLED_FOLDER / "classification_aid_efficientnet_lite0.safetensors")
    with torch.no_grad():
        expected = net(torch.from_numpy(chips)).numpy()
    assert np.abs(logits - expected).max() <= 1e-4


def test_auto_takes_ort_cuda_then_torch_cuda_then_platform_provider_then_cpu(monkeypatch):
    monkeypatch.setattr(backends, "torch_cuda_build", lambda: False)
    cpu = resolve_backend("auto")
    assert cpu == CPU and cpu.device == "cpu" and not cpu.fp16
    assert cpu.describe() == f"ONNX Runtime {onnxruntime.__version__}, CPUExecutionProvider"
    providers = ["DmlExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(backends, "ort_providers", lambda: providers)
    monkeypatch.setattr(backends.platform, "system", lambda: "Windows")
    assert resolve_backend("auto").provider == "DmlExecutionProvider"
    assert resolve_backend("cpu") == CPU
    monkeypatch.setattr(backends.platform, "system", lambda: "Linux")
    assert resolve_backend("auto") == CPU
    providers.insert(0, "CUDAExecutionProvider")
    assert resolve_backend("auto") == Backend(backends.ORT, "CUDAExecutionProvider", 0)
    assert resolve_backend("cuda:1").device == "cuda:1"


def test_a_gpu_that_cannot_be_used_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backends, "torch_cuda_build", lambda: False)
    with pytest.raises(DeviceError, match="neither onnxruntime-gpu nor a CUDA build of torch"):
        resolve_backend("cuda")
    with pytest.raises(DeviceError, match="Unknown device 'gpu'"):
        resolve_backend("gpu")


def test_operator_threads_leave_a_core_to_the_reader_and_writer():
    assert backends.intra_op_threads(8) == 7 and backends.intra_op_threads(1) == 1
    assert backends.intra_op_threads(8, pipelined=False) == 8


@pytest.mark.cuda
def test_onnx_runtime_cuda_provider_gives_the_cpu_values(rgb_scene, tmp_path):
    if backends.CUDA_PROVIDER not in backends.ort_providers():
        pytest.skip("onnxruntime has no CUDA provider here (install onnxruntime-gpu)")
    cuda = resolve_backend("cuda")
    assert cuda == Backend(backends.ORT, backends.CUDA_PROVIDER, 0) and cuda.device == "cuda:0"
    package = load_onnx_package(BUNDLED_FOLDER / "dehazing_lite_rgb.onnx")
    on_gpu, on_cpu = engine_outputs({"gpu": OnnxTileModel(package, cuda), "cpu": OnnxTileModel(package, CPU)},
                                    rgb_scene, 3, tmp_path, 3)
    assert np.abs(on_gpu - on_cpu).max() <= 1e-3


def test_graph_inputs_are_checked_in_python_with_a_clear_message():
    model = OnnxTileModel(load_onnx_package(BUNDLED_FOLDER / "dehazing_lite_rgb.onnx"), CPU)
    with pytest.raises(InputError, match="reads 3 band"):
        model.predict([np.zeros((1, 4, 64, 64), np.float32)], [None])
    multiple = model.package.runtime.multiple_of
    with pytest.raises(InputError, match=f"multiples of {multiple} pixels"):
        model.predict([np.zeros((1, 3, 64 + multiple // 2, 64), np.float32)], [None])
    assert model.predict([np.zeros((2, 3, 64, 64), np.float32)], [None, None]).shape == (2, 3, 64, 64)
