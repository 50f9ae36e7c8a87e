"""Generalisation check of the bundled land-cover model: the class histogram it gives on shared
scenes from other sensors (Landsat 7, WorldView-2, SpaceNet), none of them Dubai.

    .venv/bin/python benchmarks/segment_histogram.py [--model PATH] [--min-confidence 0.5]

Every scene plainly holds several land-cover classes (water, vegetation, bare land, built-up
areas), so the goal is that no single class takes more than 80 % of a scene's pixels. Shares
are over the pixels with data; with a minimum confidence the "uncertain" pixels are reported
apart and left out of the class shares. Writes benchmarks/out/segment_histogram.json.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from common import OUT, ROOT, SHARED_DATA, machine, write_json

sys.path.insert(0, str(ROOT / "recipes"))
from segmentation import BUNDLED  # noqa: E402

from models.inference.raster_style import UNCERTAIN_NAME
from models.tasks.segment import SegmentRequest, segment  # noqa: E402

GOAL_SHARE = 0.8


@dataclass
class Scene:
    """A shared raster, the bands that make its RGB image, and what it shows."""

    name: str
    path: str
    bands: list[int] | None
    shows: str


SCENES = [
    Scene("landsat7_rgb", "generic/rasterio/RGB.byte.tif", None,
          "Landsat 7 RGB, coast: sea, wetland, farmland, towns"),
    Scene("landsat7_stack_1999", "segmentation/landsat7_sparse/LE70220491999322EDC01_stack.gtif",
          [3, 2, 1], "Landsat 7 bands 3-2-1: forest, water, herbaceous, barren, urban (its labels)"),
    Scene("landsat7_stack_2002", "segmentation/landsat7_sparse/LE70220492002106EDC00_stack.gtif",
          [3, 2, 1], "Landsat 7 bands 3-2-1, the same area in 2002"),
    Scene("worldview2_ms", "pansharpening/worldview2/ms.tif", [5, 3, 2],
          "WorldView-2 bands red-green-blue: city blocks, roads, vegetation"),
    Scene("spacenet_rotterdam_ms1", "pansharpening/spacenet_rotterdam/ms1.tif", [1, 2, 3],
          "SpaceNet 6 Rotterdam MS (bands 1-3 taken as red-green-blue): buildings, roads, water"),
    Scene("spacenet_buildings_pan", "segmentation/spacenet_buildings/sample_geotiff.tif", [1, 1, 1],
          "SpaceNet panchromatic as grey RGB: buildings, roads, open land"),
]


def histogram(path: Path) -> dict:
    """{class name: share of the pixels with data} of a class raster written by `segment`."""
    from models.tasks.segment import read_class_table

    table = read_class_table(path)
    with rasterio.open(path) as dataset:
        values = dataset.read(1)
        valid = values != dataset.nodata
    counts = np.bincount(values[valid].ravel(), minlength=256)
    total = max(int(valid.sum()), 1)
    return {item["name"]: float(counts[int(item["id"])] / total) for item in table}


def scene_result(scene: Scene, model: Path, min_confidence: float, work: Path) -> dict:
    """Histogram of `scene` and whether its largest class share stays within the goal."""
    output = work / f"{scene.name}.tif"
    segment(SegmentRequest(str(SHARED_DATA / scene.path), str(output), model=str(model),
                           device="cpu", bands=scene.bands, min_confidence=min_confidence))
    shares = histogram(output)
    uncertain = shares.pop(UNCERTAIN_NAME, 0.0)
    decided = {name: share / max(1 - uncertain, 1e-9) for name, share in shares.items()}
    top = max(decided, key=decided.get)
    return {"shows": scene.shows, "bands": scene.bands, "shares": shares, "uncertain": uncertain,
            "largest_class": top, "largest_share_of_decided": decided[top],
            "met": decided[top] <= GOAL_SHARE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(BUNDLED))
    parser.add_argument("--min-confidence", type=float, default=0.0)
    parser.add_argument("--out", default=str(OUT / "segment_histogram.json"))
    args = parser.parse_args()
    scenes = [s for s in SCENES if (SHARED_DATA / s.path).exists()]
    if not scenes:
        print(f"skipped: no scene under {SHARED_DATA}")
        return
    with tempfile.TemporaryDirectory() as temporary:
        results = {s.name: scene_result(s, Path(args.model), args.min_confidence, Path(temporary))
                   for s in scenes}
    write_json({"model": args.model, "min_confidence": args.min_confidence, "goal_share": GOAL_SHARE,
                "machine": machine(), "scenes": results,
                "all_met": all(r["met"] for r in results.values())}, args.out)


if __name__ == "__main__":
    main()
