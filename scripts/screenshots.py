"""Pictures of each tool's result in a real QGIS window, for the README (docs/screenshots/).

Starts QGIS under a virtual X server (Debian's xvfb-run) with a fresh profile, shows the input
and result of each tool that `make demo` wrote (demo_out/demo.json), and saves a PNG of the
window per tool; with --panel, also the GeoDistill panel at 360 px (dock_pansharpen.png, the
plugin loaded from this checkout with the packages of .venv).
Usage: python3 scripts/screenshots.py [--demo demo_out] [--out docs/screenshots] [--panel]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TITLES = {"pansharpen": "Pansharpened", "dehaze": "Dehazed", "segment": "Land cover",
          "classify_scenes": "Scene classes"}
SCREEN = "1280x800x24"
WIDTH = 960


def shots(demo: Path, out: Path) -> list[dict]:
    """One shot per tool in demo.json: its title, input, result and the PNG to write."""
    results = json.loads((demo / "demo.json").read_text())["results"]
    return [{"title": TITLES.get(tool, tool), "input": run["input"], "output": run["output"],
             "png": str(out / f"result_{tool}.png")} for tool, run in results.items()]


def panel_job(demo: Path, out: Path, folder: Path) -> dict:
    """The panel's picture: the pansharpening inputs loaded, the plugin importable from
    `folder` (which gets a `geodistill` link to this checkout)."""
    (folder / "geodistill").symlink_to(ROOT, target_is_directory=True)
    run = json.loads((demo / "demo.json").read_text())["results"]["pansharpen"]
    pan = Path(run["input"]).with_name("pan" + Path(run["input"]).suffix)
    return {"plugin_parent": str(folder), "layers": [run["input"], str(pan)],
            "png": str(out / "dock_pansharpen.png")}


def venv_packages() -> str:
    """The site-packages folders of .venv (torch ...), for QGIS's Python."""
    return os.pathsep.join(str(path) for path in sorted((ROOT / ".venv").glob("lib/python3*/site-packages")))


def take(job: list[dict], panel: dict | None = None, width: int = WIDTH,
         timeout: float = 300) -> subprocess.CompletedProcess:
    """Run QGIS under xvfb-run with scripts/qgis_window_shots.py and a throw-away profile."""
    with tempfile.TemporaryDirectory(prefix="geodistill-shots-") as profiles:
        env = dict(os.environ, GEODISTILL_SHOTS=json.dumps({"shots": job, "width": width, "panel": panel}),
                   PYTHONPATH=venv_packages())
        env.pop("QT_QPA_PLATFORM", None)  # a real (virtual) X display, not offscreen
        command = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}", "qgis", "--nologo",
                   "--noversioncheck", "--noplugins", "--profiles-path", profiles,
                   "--code", str(ROOT / "scripts" / "qgis_window_shots.py")]
        # a group of its own, so that QGIS and Xvfb are stopped with xvfb-run on a timeout
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            stderr += f"\nQGIS did not finish within {timeout:g} s."
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=ROOT / "demo_out")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--panel", action="store_true", help="also the GeoDistill panel at 360 px")
    args = parser.parse_args()
    if not (args.demo / "demo.json").is_file():
        print(f"{args.demo / 'demo.json'} is missing: run `make demo` first.")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    job = shots(args.demo.resolve(), args.out.resolve())
    with tempfile.TemporaryDirectory(prefix="geodistill-link-") as link_folder:
        panel = panel_job(args.demo.resolve(), args.out.resolve(), Path(link_folder)) if args.panel else None
        pictures = [shot["png"] for shot in job] + ([panel["png"]] if panel else [])
        for picture in pictures:  # so that a picture QGIS did not take is not mistaken for a new one
            Path(picture).unlink(missing_ok=True)
        result = take(job, panel)
    missing = [picture for picture in pictures if not Path(picture).is_file()]
    print(result.stdout)
    if result.returncode != 0 or missing:
        print(result.stderr[-3000:], file=sys.stderr)
        print(f"not written: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
