"""Pansharpening quality and speed on the shared scenes (numbers, not a timed test).

For each scene: reduced-resolution SAM / ERGAS / Q2n / SCC (Wald's protocol) and
full-resolution D_lambda / D_s / QNR for bicubic, GDAL Brovey, MTF-GLP, the bundled student
("default", with and without scene adaptation) and, where they were trained, the recipe's
students of one seed (recipes/pansharpening.py: "distilled", "alone") and the PSDNet
pipeline's (benchmarks/train_pansharpen.py); then Mpx/s of PAN output of each method, and of
METHOD=auto, through the real pipeline (`models.tasks.pansharpen.pansharpen`, timed around the
whole call) on this machine, the median of SPEED_RUNS runs (one run of a small scene takes a
fraction of a second here and moves by tens of percent from run to run). With
--update-cards, the bundled students' cards get the held-out scenes' scores.

    .venv/bin/python benchmarks/pansharpen.py --out benchmarks/out/pansharpen.json
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from common import OUT, ROOT, machine, native_spacenet_pair, pansharpening_model, require_shared, \
    set_heldout_metrics, write_json

from models.package import read_card
from models.tasks.pansharpen import PansharpenRequest, pansharpen
from models.tasks.pansharpen_evaluation import PansharpenEvaluationRequest, evaluate_pansharpening

ADAPT_ITERATIONS = 300
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
            + [Scene("worldview3_tiny_bgrn", band_subset(worldview3 / "ms.tif", WORLDVIEW_BGRN),
                     worldview3 / "pan.tif", "worldview3", "4band_x4", held_out=True),
               Scene("worldview2", worldview2 / "ms.tif", worldview2 / "pan.tif", "worldview2",
                     "8band_x4", held_out=False),
               Scene("worldview3_tiny", worldview3 / "ms.tif", worldview3 / "pan.tif", "worldview3",
                     "8band_x4", held_out=True)])


WORLDVIEW_BGRN = (2, 3, 5, 7)
"""Blue, green, red and NIR1 of an 8-band WorldView MS (1-based): a 4-band scene of a sensor
the 4-band student never trained on."""


def band_subset(path: Path, bands: tuple[int, ...]) -> Path:
    """`path` with only `bands` (1-based), cached in benchmarks/out/data (never committed)."""
    import rasterio

    target = OUT / "data" / f"{path.parent.name}_{'_'.join(map(str, bands))}.tif"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path) as source:
            array = source.read(list(bands))
            profile = dict(source.profile, count=len(bands))
        partial = target.with_suffix(".partial.tif")
        with rasterio.open(partial, "w", **profile) as out:
            out.write(array)
        partial.replace(target)
    return target


def model_paths(key: str, seed: int = 0) -> dict[str, Path]:
    """Packages of one model set: the bundled student ("default"), the recipe's students of
    training seed `seed` ("distilled", "alone"; recipes/pansharpening.py) and the PSDNet
    pipeline's (benchmarks/train_pansharpen.py); missing ones are left out."""
    recipe = OUT / "pansharpening_recipe" / key
    paths = {"default": ROOT / "resources" / "models" / f"pansharpening_lite_{key}.safetensors",
             "distilled": recipe / f"lite_distilled_seed{seed}.safetensors",
             "alone": recipe / f"lite_alone_seed{seed}.safetensors"}
    paths.update({name: pansharpening_model(name, key, seed) for name in ("lite", "lite_nokd", "psdnet")})
    return {name: path for name, path in paths.items() if path.exists()}


def quality(scene: Scene, paths: dict[str, Path], adapt: int) -> dict:
    """Reduced- and full-resolution scores of every method on the scene (whole scene crop)."""
    with tempfile.TemporaryDirectory() as folder:
        data = evaluate_pansharpening(PansharpenEvaluationRequest(
            str(scene.ms), str(scene.pan), str(Path(folder) / "report.html"),
            models=[str(p) for p in paths.values()], adapt_iterations=adapt, sensor=scene.sensor,
            max_ms_pixels=1024))
    rename = {read_card(path).name: label for label, path in paths.items()}
    results = {}
    for method, scores in data["methods"].items():
        base, _, suffix = method.partition(" + ")
        label = rename.get(base, base) + (f" + {suffix}" if suffix else "")
        results[label] = {**scores["reduced"], **scores["full"]}
    return results


def speed(scene: Scene, paths: dict[str, Path]) -> dict[str, float]:
    """Median Mpx/s of PAN output through the full pipeline, timed around the whole call
    (scaling, METHOD=auto's check, tiled engine, GeoTIFF written)."""
    import rasterio

    with rasterio.open(scene.pan) as pan:
        megapixels = pan.width * pan.height / 1e6
    runs = {"brovey (GDAL)": dict(method="brovey"), "mtf_glp": dict(method="mtf_glp"),
            "auto": dict(method="auto")}
    runs.update({label: dict(method="model", model=str(path)) for label, path in paths.items()})
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, options in runs.items():
            request = PansharpenRequest(str(scene.ms), str(scene.pan), str(Path(folder) / "out.tif"),
                                        device="cpu", sensor=scene.sensor, **options)
            seconds = []
            for _ in range(SPEED_RUNS):
                started = time.perf_counter()
                pansharpen(request)
                seconds.append(time.perf_counter() - started)
            results[label] = round(megapixels / statistics.median(seconds), 3)
    return results


def update_cards(results: dict) -> None:
    """Write each bundled student's held-out scores (Wald and full resolution, without and
    with scene adaptation, MTF-GLP's ERGAS beside them) into its card (weights unchanged)."""
    metrics: dict[str, dict[str, float]] = {}
    for scene_name, entry in results.items():
        quality = entry["quality"]
        if not entry["held_out"] or "default" not in quality:
            continue
        scores = metrics.setdefault(entry["key"], {})
        for name in ("sam", "ergas", "q2n", "d_lambda", "d_s", "qnr"):
            scores[f"{scene_name}_{name}"] = quality["default"][name]
        scores[f"{scene_name}_mtf_glp_ergas"] = quality["mtf_glp"]["ergas"]
        if "default + adaptation" in quality:
            scores[f"{scene_name}_adapted_ergas"] = quality["default + adaptation"]["ergas"]
    for key, values in metrics.items():
        bundled = ROOT / "resources" / "models" / f"pansharpening_lite_{key}.safetensors"
        set_heldout_metrics(bundled, values)


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
        adapt_paths = {k: v for k, v in paths.items() if k == "default"}
        entry = {"key": scene.key, "held_out": scene.held_out,
                 "quality": quality(scene, paths, 0)}
        if adapt_paths and args.adapt:
            adapted = quality(scene, adapt_paths, args.adapt)
            entry["quality"]["default + adaptation"] = adapted["default + adaptation"]
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
