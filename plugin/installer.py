"""Installing GeoDistill's Python dependencies with pip (no QGIS, no Qt: the dialog drives this).

Two packs (`deps.RUN_PACK`, `deps.TRAIN_PACK`): "Run models" is onnxruntime (onnxruntime-gpu
when `nvidia-smi` finds an NVIDIA GPU), "Train models" adds torch, the CPU build or the newest
CUDA build the driver supports. Everything is pinned. pip installs with `--target` into a
folder owned by the plugin, with a constraints file pinning the numpy, GDAL and PyQt that QGIS
already uses (so pip never picks other versions of them), run by QGIS's own Python interpreter
(`python_executable`: inside QGIS `sys.executable` is the QGIS program on Windows and macOS).
A fresh Python process then checks that the packages import from that folder, runs a tiny
model on ONNX Runtime's CUDA provider when onnxruntime-gpu was chosen (the dialog falls back to
the CPU onnxruntime when it fails) and a tiny CUDA operation for a torch CUDA build. The
folder is appended to `sys.path` (see `deps.use_packages_folder`), after QGIS's own paths.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import platform
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from . import deps

TORCH_INDEX = "https://download.pytorch.org/whl"
ONNXRUNTIME = "onnxruntime"
ONNXRUNTIME_GPU = "onnxruntime-gpu"
#: the bundled graph onnxruntime-gpu's CUDA provider is tested with (PAN 64 px + 4-band MS)
SMOKE_MODEL = Path(__file__).resolve().parents[1] / "resources" / "models" / "pansharpening_lite_4band_x4.onnx"
PYPI_INDEX = "https://pypi.org/simple"
#: PyTorch CUDA builds, newest first, with the driver CUDA version each needs: a build carries
#: its own CUDA runtime, which runs on any driver of the same major version (NVIDIA's minor
#: version compatibility), so a 12.4 driver runs the cu128 build
CUDA_BUILDS = (("cu130", (13, 0)), ("cu128", (12, 0)), ("cu118", (11, 0)))
#: distributions QGIS ships and that must never be replaced: distribution -> module to ask
PROTECTED = {"numpy": "numpy", "GDAL": "osgeo.gdal", "PyQt5": "PyQt5.QtCore", "PyQt6": "PyQt6.QtCore"}
#: the newest CUDA each driver branch supports (NVIDIA's compatibility table, Linux drivers)
_DRIVER_CUDA = (((580, 0), (13, 0)), ((570, 26), (12, 8)), ((560, 28), (12, 6)),
                ((525, 60), (12, 0)), ((450, 80), (11, 8)))


@dataclass(frozen=True)
class GpuInfo:
    """An NVIDIA GPU as `nvidia-smi` reports it."""

    name: str
    driver_version: str
    memory_mb: int | None
    cuda_version: tuple[int, int] | None  # the newest CUDA the driver supports


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def driver_cuda_version(driver_version: str) -> tuple[int, int] | None:
    """The newest CUDA a driver version supports, from NVIDIA's table (None: too old)."""
    driver = _numbers(driver_version)[:2]
    for minimum, cuda in _DRIVER_CUDA:
        if driver >= minimum:
            return cuda
    return None


def parse_nvidia_smi(query_output: str, header_output: str = "") -> list[GpuInfo]:
    """GPUs from `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader`.

    `header_output` is plain `nvidia-smi` output; its "CUDA Version: X.Y" is preferred to the
    driver table when present.
    """
    header_cuda = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", header_output)
    gpus = []
    for line in query_output.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0]:
            continue
        memory = _numbers(parts[2]) if len(parts) > 2 else ()
        cuda = ((int(header_cuda.group(1)), int(header_cuda.group(2))) if header_cuda
                else driver_cuda_version(parts[1]))
        gpus.append(GpuInfo(parts[0], parts[1], memory[0] if memory else None, cuda))
    return gpus


def detect_nvidia_gpus(timeout: float = 15) -> list[GpuInfo]:
    """NVIDIA GPUs on this machine ([] when `nvidia-smi` is absent or fails)."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        query = subprocess.run(
            [executable, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=timeout, check=True)
        header = subprocess.run([executable], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(query.stdout, header.stdout)


def choose_torch_build(gpus: list[GpuInfo]) -> str:
    """"cuXYZ" for the newest PyTorch CUDA build the first GPU's driver runs, else "cpu"."""
    if not gpus or gpus[0].cuda_version is None:
        return "cpu"
    for build, needed in CUDA_BUILDS:
        if gpus[0].cuda_version >= needed:
            return build
    return "cpu"


def torch_index_url(build: str) -> str:
    """The PyTorch wheel index of a build ("cpu", "cu126" ...)."""
    return f"{TORCH_INDEX}/{build}"


def protected_pins() -> list[str]:
    """`name==version` for each protected distribution this Python has (numpy, GDAL, PyQt)."""
    pins = []
    for distribution in PROTECTED:
        try:
            pins.append(f"{distribution}=={importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def python_executable(executable: str | None = None, prefix: str | None = None,
                      system: str | None = None, is_file=None) -> str:
    """The Python interpreter of the running QGIS. Inside QGIS `sys.executable` is python on
    Linux, but the QGIS program on Windows (OSGeo4W: `<prefix>/python.exe`) and macOS (the app
    bundle: `<prefix>/bin/python3`, or `Contents/MacOS/bin/python3`). The arguments stand in
    for this machine's facts (tests)."""
    system = system or platform.system()
    flavour = PureWindowsPath if system == "Windows" else PurePosixPath
    executable = executable or sys.executable
    prefix = flavour(prefix or sys.prefix)
    is_file = is_file or (lambda path: Path(path).is_file())
    name = flavour(executable).name.lower()
    if name.startswith("python") and not name.startswith("pythonw"):
        return executable
    if system == "Windows":
        candidates = [prefix / "python.exe", flavour(executable).parent / "python.exe",
                      flavour(executable).parent / "python3.exe"]
    elif system == "Darwin":
        candidates = [prefix / "bin" / "python3", flavour(executable).parent / "bin" / "python3"]
    else:
        candidates = [prefix / "bin" / "python3", prefix / "bin" / "python"]
    for candidate in candidates:
        if is_file(str(candidate)):
            return str(candidate)
    return shutil.which("python3") or shutil.which("python") or executable


def pack_requirements(packs: list[str], gpus: list[GpuInfo]) -> list[str]:
    """Pinned pip requirements of `packs`; onnxruntime-gpu in place of onnxruntime with a GPU."""
    requirements = []
    for dependency in deps.DEPENDENCIES:
        if dependency.pack == deps.RUN_PACK or dependency.pack in packs:
            requirement = dependency.requirement
            if dependency.module == ONNXRUNTIME and gpus:
                requirement = requirement.replace(ONNXRUNTIME, ONNXRUNTIME_GPU, 1)
            if requirement not in requirements:
                requirements.append(requirement)
    return requirements


def cpu_fallback(requirements: list[str]) -> list[str]:
    """The requirements with onnxruntime-gpu replaced by the CPU onnxruntime."""
    return [r.replace(ONNXRUNTIME_GPU, ONNXRUNTIME, 1) if r.startswith(ONNXRUNTIME_GPU) else r
            for r in requirements]


def quote_command(arguments: list[str], system: str | None = None) -> str:
    """A command line to paste into the platform's shell (cmd.exe on Windows, sh elsewhere)."""
    if (system or platform.system()) == "Windows":
        return subprocess.list2cmdline(arguments)
    return " ".join(shlex.quote(argument) for argument in arguments)


@dataclass
class InstallPlan:
    """One pip run: which requirements, which torch build, into which folder."""

    requirements: list[str]
    target: Path
    build: str = "cpu"  # "cpu" or a CUDA build such as "cu126"
    python: str = field(default_factory=python_executable)
    pins: list[str] = field(default_factory=protected_pins)
    extra_args: list[str] = field(default_factory=list)

    @property
    def constraints_path(self) -> Path:
        """The constraints file pip reads (written by `write_constraints`)."""
        return self.target.parent / "geodistill-constraints.txt"

    @property
    def installs_torch(self) -> bool:
        """Whether torch is among the requirements (then the PyTorch index is used)."""
        return any(re.match(r"torch(\W|$)", r) for r in self.requirements)

    def write_constraints(self) -> Path:
        """Write the pins to the constraints file; return its path."""
        self.target.mkdir(parents=True, exist_ok=True)
        self.constraints_path.write_text("".join(f"{pin}\n" for pin in self.pins), encoding="utf-8")
        return self.constraints_path

    def pip_arguments(self) -> list[str]:
        """Arguments after the Python executable."""
        arguments = ["-m", "pip", "install", "--upgrade", "--target", str(self.target),
                     "--constraint", str(self.constraints_path), "--disable-pip-version-check",
                     "--no-input", "--progress-bar", "off"]
        if self.installs_torch:
            arguments += ["--index-url", torch_index_url(self.build), "--extra-index-url", PYPI_INDEX]
        return arguments + self.extra_args + list(self.requirements)

    def pip_command(self) -> list[str]:
        """The full pip command line."""
        return [self.python, *self.pip_arguments()]

    def manual_command(self, system: str | None = None) -> str:
        """The command to paste in a shell when the automatic install fails (it writes the
        constraints file first), quoted for the platform's shell."""
        system = system or platform.system()
        pip = quote_command(self.pip_command(), system)
        if not self.pins:
            return pip
        if system == "Windows":
            lines = " & ".join(f"echo {pin}" for pin in self.pins)
            return f"({lines}) > {quote_command([str(self.constraints_path)], system)} && {pip}"
        pins = " ".join(shlex.quote(p) for p in self.pins)
        return f"printf '%s\\n' {pins} > {shlex.quote(str(self.constraints_path))} && {pip}"

    @property
    def installs_onnxruntime_gpu(self) -> bool:
        """Whether onnxruntime-gpu is among the requirements (then its CUDA provider is tested)."""
        return any(r.startswith(ONNXRUNTIME_GPU) for r in self.requirements)

    def verify_arguments(self, smoke_model: str | Path = SMOKE_MODEL) -> list[str]:
        """Arguments (after the Python executable) of the import check run after pip;
        `smoke_model` (a PAN + 4-band MS pansharpening graph) runs on the CUDA provider for
        onnxruntime-gpu."""
        modules = []
        for requirement in self.requirements:
            name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
            modules.append(ONNXRUNTIME if name == ONNXRUNTIME_GPU else name)
        checks = []
        if self.build != "cpu" and self.installs_torch:
            checks.append("torch-cuda")
        if self.installs_onnxruntime_gpu:
            checks.append("ort-cuda")
        return ["-c", VERIFY_SCRIPT, str(self.target), json.dumps(modules), ",".join(checks),
                str(smoke_model)]


#: run in a fresh Python: import each module from the plugin folder, run the GPU checks asked
#: for, report versions (and the ONNX Runtime CUDA smoke test's outcome) as JSON
VERIFY_SCRIPT = """
import importlib, json, sys
sys.path.append(sys.argv[1])
report = {"versions": {}, "cuda": None, "ort_cuda": None}
for name in json.loads(sys.argv[2]):
    module = importlib.import_module(name)
    report["versions"][name] = getattr(module, "__version__", "unknown")
checks = sys.argv[3].split(",")
if "torch-cuda" in checks:
    import torch
    value = (torch.arange(4, device="cuda", dtype=torch.float32) * 2).sum().item()
    if value != 12.0:
        raise SystemExit("CUDA check computed %r instead of 12.0" % value)
    report["cuda"] = torch.cuda.get_device_name(0)
if "ort-cuda" in checks:
    import numpy, onnxruntime
    try:
        graph = onnxruntime.InferenceSession(sys.argv[4], providers=["CUDAExecutionProvider"])
        if graph.get_providers()[0] != "CUDAExecutionProvider":
            raise RuntimeError("the CUDA provider did not load: " + ", ".join(graph.get_providers()))
        output = graph.run(None, {"pan": numpy.zeros((1, 1, 64, 64), numpy.float32),
                                    "ms": numpy.zeros((1, 4, 16, 16), numpy.float32)})[0]
        if output.shape != (1, 4, 64, 64):
            raise RuntimeError("the smoke test gave shape %r" % (output.shape,))
        report["ort_cuda"] = "ok"
    except Exception as error:
        report["ort_cuda"] = str(error)[:300]
print("GEODISTILL-VERIFY " + json.dumps(report))
"""


def parse_verify_output(output: str) -> dict | None:
    """The report printed by VERIFY_SCRIPT, or None when it did not get that far."""
    for line in output.splitlines():
        if line.startswith("GEODISTILL-VERIFY "):
            return json.loads(line.partition(" ")[2])
    return None


def pip_environment() -> dict[str, str]:
    """Environment for pip and the check: QGIS's own, without the user site folder."""
    return dict(os.environ, PYTHONNOUSERSITE="1", PIP_NO_INPUT="1")
