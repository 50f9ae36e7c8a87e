"""Pansharpening quality and speed on the shared scenes (numbers, not a timed test).

For each scene: reduced-resolution SAM / ERGAS / Q2n / SCC (Wald's protocol) and
full-resolution D_lambda / D_s / QNR for bicubic, GDAL Brovey, MTF-GLP, the lite student
(distilled), the lite student trained without distillation, PSDNet, and the lite student
with scene adaptation; then Mpx/s of PAN output of each method through the real pipeline
(`models.tasks.pansharpen.pansharpen`, tiled engine, GeoTIFF written) on this machine, the
median of SPEED_RUNS runs (one run of a small scene takes a fraction of a second here and moves
by tens of percent from run to run).
Models come from benchmarks/train_pansharpen.py (benchmarks/out/models/). With
--update-cards, the bundled students' cards get the held-out scene's scores.

    .venv/bin/python benchmarks/pansharpen.py --out benchmarks/out/pansharpen.json
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

from common import OUT, ROOT, machine, native_spacenet_pair, pansharpening_model, require_shared, \
    set_heldout_metrics, write_json

from models.package import read_card
from models.tasks.pansharpen import PansharpenRequest, pansharpen
from models.tasks.pansharpen_evaluation import PansharpenEvaluationRequest, evaluate_pansharpening

ADAPT_ITERATIONS = 100
SPEED_RUNS = 5


@dataclasses.dataclass
class Scene:
    """A shared scene, the model set it belongs to, and whether that set trained on it."""

    name: str
    ms: Path
    pan: Path
    sensor: str
    key: str
    held_out: bool


def scenes() -> list[Scene]:
    worldview2 = require_shared("pansharpening", "worldview2")
    worldview3 = require_shared("pansharpening", "worldview3_tiny")
    return ([Scene(f"spacenet_{i}", *native_spacenet_pair(i), "worldview2", "4band_x4",
                   held_out=i == 3) for i in (1, 2, 3)]
            + [Scene("worldview2", worldview2 / "ms.tif", worldview2 / "pan.tif", "worldview2",
                     "8band_x4", held_out=False),
               Scene("worldview3_tiny", worldview3 / "ms.tif", worldview3 / "pan.tif", "worldview3",
                     "8band_x4", held_out=True)])


def model_paths(key: str, seed: int = 0) -> dict[str, Path]:
    """Packages of one model set (the students of training seed `seed`); missing ones are
    left out (run train_pansharpen.py first)."""
    paths = {name: pansharpening_model(name, key, seed) for name in ("lite", "lite_nokd", "psdnet")}
    return {name: path for name, path in paths.items() if path.exists()}


def quality(scene: Scene, paths: dict[str, Path], adapt: int) -> dict:
    """Reduced- and full-resolution scores of every method on the scene (whole scene crop)."""
    with tempfile.TemporaryDirectory() as folder:
        data = evaluate_pansharpening(PansharpenEvaluationRequest(
            str(scene.ms), str(scene.pan), str(Path(folder) / "report.html"),
            models=[str(p) for p in paths.values()], adapt_iterations=adapt, sensor=scene.sensor,
            max_ms_pixels=1024))
    rename = {path.stem: label for label, path in paths.items()}
    results = {}
    for method, scores in data["methods"].items():
        base, _, suffix = method.partition(" + ")
        label = rename.get(base, base) + (f" + {suffix}" if suffix else "")
        results[label] = {**scores["reduced"], **scores["full"]}
    return results


def speed(scene: Scene, paths: dict[str, Path]) -> dict[str, float]:
    """Median Mpx/s of PAN output through the full pipeline (tiled engine, GeoTIFF written)."""
    runs = {"brovey (GDAL)": dict(method="brovey"), "mtf_glp": dict(method="mtf_glp")}
    runs.update({label: dict(method="model", model=str(path)) for label, path in paths.items()})
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, options in runs.items():
            request = PansharpenRequest(str(scene.ms), str(scene.pan), str(Path(folder) / "out.tif"),
                                        device="cpu", sensor=scene.sensor, **options)
            rates = [pansharpen(request).megapixels_per_second for _ in range(SPEED_RUNS)]
            results[label] = round(statistics.median(rates), 3)
    return results


def update_cards(results: dict) -> None:
    """Write each bundled student's held-out scores into its card (weights unchanged)."""
    for scene_name, entry in results.items():
        if not entry["held_out"] or "lite" not in entry["quality"]:
            continue
        bundled = ROOT / "resources" / "models" / f"pansharpening_lite_{entry['key']}.safetensors"
        if not bundled.exists():
            continue
        card = read_card(bundled)
        shipped = "lite" if card.teacher else "lite_nokd"  # a student trained alone has no teacher
        scores = entry["quality"][shipped]
        metrics = {k: scores[k] for k in ("sam", "ergas", "q2n", "qnr")}
        metrics["mtf_glp_ergas"] = entry["quality"]["mtf_glp"]["ergas"]
        set_heldout_metrics(bundled, metrics, f"held-out evaluation scene: {scene_name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="JSON to write (default: benchmarks/out/pansharpen.json; "
                                       "for another seed pansharpen_seedN[_SET].json)")
    parser.add_argument("--adapt", type=int, default=ADAPT_ITERATIONS,
                        help="scene adaptation iterations for the adapted lite student")
    parser.add_argument("--update-cards", action="store_true")
    parser.add_argument("--quick", action="store_true", help="held-out scenes only, no speed")
    parser.add_argument("--only", help="only the scenes of this model set (e.g. 8band_x4)")
    parser.add_argument("--seed", type=int, default=0,
                        help="score the students of this training seed (train_pansharpen.py --seed)")
    args = parser.parse_args()
    if args.out is None:
        name = "pansharpen"
        if args.seed:  # one file per seed and model set, for pansharpen_seeds.py
            name += f"_seed{args.seed}" + (f"_{args.only}" if args.only else "")
        args.out = str(OUT / f"{name}.json")
    results = {}
    for scene in scenes():
        if (args.quick and not scene.held_out) or args.only not in (None, scene.key):
            continue
        paths = model_paths(scene.key, args.seed)
        adapt_paths = {k: v for k, v in paths.items() if k == "lite"}
        entry = {"key": scene.key, "held_out": scene.held_out,
                 "quality": quality(scene, paths, 0)}
        if adapt_paths and args.adapt:
            adapted = quality(scene, adapt_paths, args.adapt)
            entry["quality"]["lite + adaptation"] = adapted["lite + adaptation"]
        if not args.quick:
            entry["mpx_per_s"] = speed(scene, paths)
        results[scene.name] = entry
        print(f"{scene.name}: " + ", ".join(f"{m} ERGAS {q['ergas']:.2f}" for m, q in entry["quality"].items()),
              flush=True)
    if args.update_cards and not args.seed:
        update_cards(results)
    write_json({"machine": machine(), "adapt_iterations": args.adapt, "seed": args.seed,
                "scenes": results}, args.out)


if __name__ == "__main__":
    main()
