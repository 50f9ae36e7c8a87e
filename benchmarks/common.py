"""Shared bits of the benchmark scripts: paths, the `models` import, machine info, JSON output.

Benchmarks import the QGIS-free `models` package directly (it uses relative imports only), so
they run from any checkout folder name without QGIS.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
    """Print `data` as JSON and, with `out`, write it there too."""
    text = json.dumps(data, indent=2, sort_keys=True)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n", encoding="utf-8")
