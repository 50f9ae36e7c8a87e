"""Shared bits of the benchmark scripts: paths, the `models` import, machine info, JSON output.

Benchmarks import the QGIS-free `models` package directly (it uses relative imports only), so
they run from any checkout folder name without QGIS.

Started by `torchrun --nproc_per_node N`, the training recipes train as N processes (see
`models.training.distributed`): every process joins the group here; only rank 0 writes JSON and
ships packages, and the other ranks write their logs and intermediate models to a scratch
folder instead of `OUT` (deleted at exit).
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
#: this process among torchrun's training processes (None when not started by torchrun)
REPLICAS = None
if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
    from models.training.distributed import start_from_environment

    REPLICAS = start_from_environment()
    if REPLICAS is not None and not REPLICAS.is_main:
        OUT = Path(tempfile.mkdtemp(prefix=f"geodistill-rank{REPLICAS.rank}-"))
        atexit.register(shutil.rmtree, OUT, True)


def writes_results() -> bool:
    """Whether this process writes results: always, except torchrun's ranks other than 0."""
    return REPLICAS is None or REPLICAS.is_main


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.is_available(),
            "python": platform.python_version(), "load_average": list(os.getloadavg())}


def require_shared(*parts: str) -> Path:
    """A path under ../shared/data; exits cleanly (status 0) with a message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        print(f"skipped: {path} is not there (benchmarks need ../shared/data beside the checkout)")
        sys.exit(0)
    return path


def write_json(data: dict, out: str | Path | None) -> None:
    """Print `data` as JSON and, with `out`, write it there too (rank 0 only under torchrun)."""
    if not writes_results():
        return
    text = json.dumps(data, indent=2, sort_keys=True)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n", encoding="utf-8")


def native_spacenet_pair(index: int) -> tuple[Path, Path]:
    """SpaceNet 6 Rotterdam pair `index` with its MS back on its native grid.

    The shared MS (1 m) is the native ~2 m MS repeated in 2 x 2 blocks (nearest-neighbour
    upsampling: every pixel equals its right/lower neighbour on even offsets), so its true
    PAN/MS ratio is 4, not 2. Training on the repeated grid teaches a net to paint blocks.
    Every other pixel is kept and the transform scaled; the result is cached in
    benchmarks/out/data/ (never committed).
    """
    import rasterio
    from affine import Affine

    source = require_shared("pansharpening", "spacenet_rotterdam")
    target = OUT / "data" / "spacenet_native" / f"ms{index}.tif"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(source / f"ms{index}.tif") as ms:
            array = ms.read()[:, ::2, ::2]
            profile = dict(ms.profile, height=array.shape[1], width=array.shape[2],
                           transform=ms.transform * Affine.scale(2))
        partial = target.with_suffix(".partial.tif")
        with rasterio.open(partial, "w", **profile) as out:
            out.write(array)
        partial.replace(target)
    return target, source / f"pan{index}.tif"


def pansharpening_model(name: str, key: str, seed: int = 0) -> Path:
    """Where train_pansharpen.py writes model `name` (psdnet, lite, lite_nokd) of set `key`:
    students of training seeds other than 0 carry the seed in their name (never shipped)."""
    suffix = f"_seed{seed}" if seed and name != "psdnet" else ""
    return OUT / "models" / f"pansharpening_{name}_{key}{suffix}.safetensors"


def ship_package(source: Path, target: Path, description: str | None = None) -> None:
    """Save the package at `source` as `target`, its card renamed to the target's file name
    (registries and tests expect card name = file name), with the gsd of its training data
    (`training_gsd.BUNDLED_GSD`) and, when given, described anew; weights unchanged. Under
    torchrun only rank 0 ships."""
    from models.package import load_package, save_package
    from training_gsd import BUNDLED_GSD

    if not writes_results():
        return
    card, weights = load_package(source)
    gsd = BUNDLED_GSD[target.stem].metres if target.stem in BUNDLED_GSD else card.gsd
    target.parent.mkdir(parents=True, exist_ok=True)
    save_package(target, weights, dataclasses.replace(
        card, name=target.stem, description=description or card.description, gsd=gsd))


def same_weights(first: Path, second: Path) -> bool:
    """Whether two packages hold the same tensors (their cards' sha256 match)."""
    from models.package import read_card

    return read_card(first).sha256 == read_card(second).sha256


def set_heldout_metrics(path: Path, metrics: dict[str, float], training_note: str = "") -> None:
    """Replace the `heldout_*` metrics in the card of the package at `path` by `metrics`
    (keys get the prefix; undefined scores are left out), appending `training_note` to its
    training data; weights unchanged."""
    from models.package import load_package, save_package

    card, weights = load_package(path)
    kept = {k: v for k, v in card.metrics.items() if not k.startswith("heldout_")}
    kept.update({f"heldout_{k}": round(float(v), 4) for k, v in metrics.items()
                 if math.isfinite(float(v))})
    note = f"; {training_note}" if training_note and training_note not in card.training_data else ""
    save_package(path, weights, dataclasses.replace(card, metrics=kept,
                                                    training_data=card.training_data + note))
