"""Check the published pansharpening teachers on the shared scenes before trusting them.

Every FusionNet and DiCNN of the DLPan-Toolbox (`../shared/data/pretrained/pansharpening`)
whose band count fits the scene sharpens it at reduced resolution (Wald's protocol) in the
teachers' own units (DN / 2047, MS upsampled bicubically), next to MTF-GLP on the same arrays.
Writes SAM / ERGAS / Q2n / SCC per method and ERGAS relative to MTF-GLP.

    .venv/bin/python benchmarks/pansharpen_teachers.py --out benchmarks/out/pansharpen_teachers.json
"""
from __future__ import annotations

import argparse

import numpy as np
from common import OUT, machine, require_shared, write_json
from pansharpen import scenes

from models.classical.pansharpen import mtf_glp
from models.inference.scaling import BandScaling
from models.metrics.evaluation import reduced_resolution_scores
from models.nets.pretrained_pansharpen import SENSOR_FOLDERS, TEACHER_DN_SCALE, TEACHER_NETS, \
    load_teacher
from models.tasks.pansharpen import PansharpenRequest, inspect_pair, read_scene_crop
from models.tasks.pansharpen_evaluation import fuse_with_net


def dn_crop(ms_path: str, pan_path: str, max_ms_pixels: int = 1024):
    """(ms, pan, valid, ratio): a central crop of the pair in teacher units (DN / 2047)."""
    info = inspect_pair(ms_path, pan_path, 1)
    scaling = BandScaling(low=[0.0] * info.ms_bands, high=[TEACHER_DN_SCALE] * info.ms_bands)
    ms, pan, valid = read_scene_crop(PansharpenRequest(ms_path, pan_path, ""), info, scaling,
                                     BandScaling(low=[0.0], high=[TEACHER_DN_SCALE]), max_ms_pixels)
    return ms, pan, valid, info.ratio


def teacher_paths(bands: int):
    """{"<folder>/<net>": path} of every teacher made for `bands` MS bands."""
    root = require_shared("pretrained", "pansharpening")
    return {f"{folder}/{net}": root / folder / f"{net}.safetensors"
            for folder, count in SENSOR_FOLDERS.items() if count == bands for net in TEACHER_NETS}


def score_scene(scene) -> dict:
    """Reduced-resolution scores of MTF-GLP and every fitting teacher on one scene."""
    ms, pan, valid, ratio = dn_crop(str(scene.ms), str(scene.pan))
    methods = {"mtf_glp": lambda m, p: mtf_glp(m, p, ratio, scene.sensor)}
    for label, path in teacher_paths(ms.shape[0]).items():
        net = load_teacher(path)
        methods[label] = lambda m, p, net=net: fuse_with_net(net, m, p, "cpu")
    results = {name: reduced_resolution_scores(sharpen, ms, pan, ratio, scene.sensor, valid)
               for name, sharpen in methods.items()}
    reference = results["mtf_glp"]["ergas"]
    for scores in results.values():
        scores["ergas_vs_mtf_glp"] = scores["ergas"] / reference
    return {"held_out": scene.held_out, "bands": int(ms.shape[0]), "methods": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT / "pansharpen_teachers.json"))
    args = parser.parse_args()
    results = {}
    for scene in scenes():
        entry = score_scene(scene)
        results[scene.name] = entry
        ranked = sorted(entry["methods"].items(), key=lambda item: item[1]["ergas"])
        print(scene.name + ": " + ", ".join(f"{name} {s['ergas']:.2f}" for name, s in ranked),
              flush=True)
    write_json({"machine": machine(), "units": f"DN / {TEACHER_DN_SCALE:g}", "scenes": results},
               args.out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
