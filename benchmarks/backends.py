"""torch against ONNX Runtime for every bundled model, end to end, in one run.

Each bundled model runs through the whole engine (read, scale, infer, blend, write) on a
synthetic raster, once with its torch net and once with its `.onnx` graph on ONNX Runtime's
CPU provider, with the same tiles, batch and operator threads (`intra_op_threads`). Scene
classifiers run through the scene classification loop (read, scale, resize, infer). Runs
alternate between the backends and the best of `--repeats` counts (the machine is shared).
Writes JSON: {"models": [{"name", "torch", "onnx", "speedup", "max_abs_diff", "unit"}],
"geometric_mean_speedup", "machine"}; `docs/benchmarks/backends.md` is generated from it by
`benchmarks/backends_table.py`. With `--gpu` the same runs compare torch CUDA (fp32 and fp16
autocast) with ONNX Runtime's CUDA provider instead, and report the fp16 drift (largest
|fp16 - fp32| of torch's outputs): `benchmarks/gpu_check.sh` uses it.

    .venv/bin/python benchmarks/backends.py --out benchmarks/out/backends.json
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS

from common import machine, write_json

from models.inference.engine import OutputSpec, RasterInput, run_tiled
from models.inference.global_context import read_global_view
from models.inference.scaling import BandScaling
from models.inference.tiling import TilingOptions
from models.package import load_model
from models.registry import BUNDLED_FOLDER
from models.runtime.backends import (CPU_PROVIDER, CUDA_PROVIDER, ORT, Backend, intra_op_threads,
                                     ort_providers)
from models.runtime.onnx_file import load_onnx_package
from models.runtime.onnx_models import OnnxClassifier, OnnxGINetTileModel, OnnxTileModel
from models.runtime.torch_models import GINetTileModel, PanFirst, TorchClassifier

CPU = Backend(ORT, CPU_PROVIDER)
CUDA = Backend(ORT, CUDA_PROVIDER)
TILING = TilingOptions(tile_size=512, overlap=32, batch_size=2, multiple_of=8)


def write_scene(path: Path, bands: int, height: int, width: int, pixel_size: float, seed: int) -> Path:
    """A smooth, textured float32 raster in 0-1000."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((bands, height // 32 + 2, width // 32 + 2))
    smooth = np.kron(coarse, np.ones((32, 32)))[:, :height, :width]
    values = (600 * smooth + 400 * rng.random((bands, height, width))).astype(np.float32)
    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype="float32",
                   crs=CRS.from_epsg(32631), transform=Affine(pixel_size, 0, 500000, 0, -pixel_size, 5700000),
                   tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values)
    return path


def scaling(bands: int) -> BandScaling:
    return BandScaling([0.0] * bands, [1000.0] * bands)


def timed_engine(model, inputs, output: OutputSpec, device: str, precision: str) -> tuple[float, np.ndarray]:
    """(seconds, output values) of one engine run."""
    started = time.perf_counter()
    run_tiled(model, inputs, output, TILING, device=device, precision=precision)
    seconds = time.perf_counter() - started
    with rasterio.open(output.probabilities_path or output.path) as dataset:
        return seconds, dataset.read()


class Case:
    """One bundled model: its two backends' runs and the pixels or chips each run covers."""

    def __init__(self, stem: str, folder: Path, size: int, gpu: bool):
        self.stem, self.folder, self.size = stem, folder, size
        self.ort_backend = CUDA if gpu else CPU
        self.torch_device = "cuda" if gpu else "cpu"
        self.package = load_onnx_package(BUNDLED_FOLDER / f"{stem}.onnx")
        self.card, self.net = load_model(BUNDLED_FOLDER / f"{stem}.safetensors")
        self.task = self.card.task
        self.unit = "chips/s" if self.task == "classification" else "Mpx/s"
        self.prepare()

    def prepare(self) -> None:
        size, config = self.size, self.net.config
        if self.task == "pansharpening":
            ratio = config.ratio
            self.inputs = [RasterInput(write_scene(self.folder / "pan.tif", 1, size, size, 1.0, 1), scaling=scaling(1)),
                           RasterInput(write_scene(self.folder / f"ms{config.ms_bands}.tif", config.ms_bands,
                                                   size // ratio, size // ratio, float(ratio), 2),
                                       scaling=scaling(config.ms_bands))]
            self.bands_out = config.ms_bands
        else:
            bands = config.bands
            self.inputs = [RasterInput(write_scene(self.folder / f"image{bands}.tif", bands, size, size, 1.0, 3),
                                       scaling=scaling(bands))]
            self.bands_out = config.classes if self.task in ("segmentation", "classification") else bands
        self.work = size * size / 1e6

    def models(self) -> dict:
        if self.task == "segmentation":
            view = read_global_view(self.inputs[0].path, None, self.inputs[0].scaling, self.package.runtime.global_size)
            shape = (self.size, self.size)
            return {"torch": lambda: GINetTileModel(self.net, view, shape),
                    "onnx": lambda: OnnxGINetTileModel(self.package, self.ort_backend, view, shape)}
        module = PanFirst(self.net) if self.task == "pansharpening" else self.net
        return {"torch": lambda: module, "onnx": lambda: OnnxTileModel(self.package, self.ort_backend)}

    def run(self, backend: str, index: int, precision: str = "fp32") -> tuple[float, np.ndarray]:
        """(seconds, values) of one run on `backend` ("torch" or "onnx")."""
        if self.task == "classification":
            return self.classify(backend, precision)
        out = self.folder / f"{self.stem}-{backend}-{index}.tif"
        if self.task == "segmentation":
            spec = OutputSpec(out, self.bands_out, kind="classes", probabilities_path=out.with_suffix(".p.tif"))
        else:
            spec = OutputSpec(out, self.bands_out)
        return timed_engine(self.models()[backend](), self.inputs, spec, self.torch_device, precision)

    def classify(self, backend: str, precision: str) -> tuple[float, np.ndarray]:
        from models.tasks.classify import _classify_cells, _Grid
        from models.tasks.callbacks import Callbacks

        chip = 64
        grid = _Grid(chip, chip, self.size // chip, self.size // chip)
        self.work = grid.rows * grid.cols
        torch_backend = Backend("torch", self.torch_device, fp16=precision == "fp16")
        logits = (OnnxClassifier(self.package, self.ort_backend) if backend == "onnx"
                  else TorchClassifier(self.net, torch_backend)).logits
        with rasterio.open(self.inputs[0].path) as dataset:
            started = time.perf_counter()
            _, probabilities, _ = _classify_cells(logits, self.package.runtime.input_size, dataset,
                                                  [1, 2, 3], grid, self.inputs[0].scaling, 64, Callbacks())
            return time.perf_counter() - started, probabilities


def measure(case: Case, repeats: int, gpu: bool) -> dict:
    """Best-of-`repeats` throughput of each run, alternating their order; speedup onnx/torch."""
    runs = {"torch": ("torch", "fp32"), "onnx": ("onnx", "fp32")}
    if gpu:
        runs["torch_fp16"] = ("torch", "fp16")
    best = dict.fromkeys(runs, math.inf)
    values = {}
    for index in range(repeats):
        for name in list(runs) if index % 2 == 0 else list(runs)[::-1]:
            backend, precision = runs[name]
            seconds, values[name] = case.run(backend, index, precision)
            best[name] = min(best[name], seconds)
    rates = {name: case.work / seconds for name, seconds in best.items()}
    result = {"name": case.stem, "task": case.task, "unit": case.unit,
              **{name: round(rate, 4) for name, rate in rates.items()},
              "speedup": round(rates["onnx"] / rates["torch"], 3),
              "max_abs_diff": float(np.abs(values["torch"].astype(np.float64) - values["onnx"]).max())}
    if gpu:
        result["fp16_drift"] = float(np.abs(values["torch"].astype(np.float64) - values["torch_fp16"]).max())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--size", type=int, default=1024, help="raster side in pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="model names to run (default: all)")
    parser.add_argument("--gpu", action="store_true",
                        help="torch CUDA (fp32, fp16) against ONNX Runtime's CUDA provider")
    arguments = parser.parse_args()
    if arguments.gpu and not (torch.cuda.is_available() and CUDA_PROVIDER in ort_providers()):
        raise SystemExit("--gpu needs a CUDA GPU, a CUDA build of torch and onnxruntime-gpu "
                         f"(ONNX Runtime providers here: {', '.join(ort_providers())}).")
    threads = intra_op_threads()
    torch.set_num_threads(threads)
    stems = sorted(p.stem for p in BUNDLED_FOLDER.glob("*.safetensors") if p.with_suffix(".onnx").is_file()
                   and (arguments.only is None or p.stem in arguments.only))
    results = []
    with tempfile.TemporaryDirectory(prefix="geodistill-backends-") as folder:
        for stem in stems:
            case_folder = Path(folder) / stem
            case_folder.mkdir()
            results.append(measure(Case(stem, case_folder, arguments.size, arguments.gpu),
                                   arguments.repeats, arguments.gpu))
            print(results[-1], flush=True)
    speedups = [r["speedup"] for r in results]
    write_json({"models": results, "threads": threads, "repeats": arguments.repeats,
                "backends": "torch CUDA / ONNX Runtime CUDAExecutionProvider" if arguments.gpu
                else "torch CPU / ONNX Runtime CPUExecutionProvider", "raster_side": arguments.size,
                "tiling": {"tile_size": TILING.tile_size, "overlap": TILING.overlap,
                           "batch_size": TILING.batch_size},
                "geometric_mean_speedup": round(math.exp(sum(map(math.log, speedups)) / len(speedups)), 3),
                "machine": {**machine(), "onnxruntime": __import__("onnxruntime").__version__}},
               arguments.out)


if __name__ == "__main__":
    main()
