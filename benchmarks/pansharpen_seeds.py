"""Distilled vs lone lite student over training seeds, from the JSON of pansharpen.py runs.

Distillation's gain is small next to the spread between training runs, so one seed cannot show
it. Train and score the students of more seeds (same PSDNet), then summarize:

    .venv/bin/python benchmarks/train_pansharpen.py --only 4band_x4 --seed 1 --reuse-teachers
    .venv/bin/python benchmarks/pansharpen.py --quick --only 4band_x4 --seed 1 --adapt 0
    ...
    .venv/bin/python benchmarks/pansharpen_seeds.py

For each held-out scene: ERGAS and SAM of both students by seed, their means and ranges, and
the paired difference (distilled minus alone: negative = distillation helps) with the number
of seeds where distillation wins. Reads benchmarks/out/pansharpen.json (seed 0) and every
benchmarks/out/pansharpen_seed*.json unless files are given.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import OUT, write_json

STUDENTS = ("lite", "lite_nokd")


def held_out_scores(files: list[Path]) -> dict[str, dict[int, dict[str, dict]]]:
    """{scene: {seed: {student: scores}}} of the held-out scenes in the given runs."""
    table: dict[str, dict[int, dict[str, dict]]] = {}
    for path in files:
        run = json.loads(path.read_text(encoding="utf-8"))
        for scene, entry in run["scenes"].items():
            if entry["held_out"] and all(s in entry["quality"] for s in STUDENTS):
                # runs from before pansharpen.py had --seed were seed 0
                table.setdefault(scene, {})[run.get("seed", 0)] = {
                    s: entry["quality"][s] for s in STUDENTS}
    return table


def summarize(by_seed: dict[int, dict[str, dict]]) -> dict:
    """Per-seed scores, mean and range of each student, and the paired differences."""
    seeds = sorted(by_seed)
    summary: dict = {"seeds": seeds}
    for metric in ("ergas", "sam"):
        values = {s: [by_seed[seed][s][metric] for seed in seeds] for s in STUDENTS}
        differences = [kd - alone for kd, alone in zip(values["lite"], values["lite_nokd"])]
        summary[metric] = {
            **{s: {"by_seed": v, "mean": statistics.fmean(v), "range": max(v) - min(v)}
               for s, v in values.items()},
            "distilled_minus_alone": {
                "mean": statistics.fmean(differences),
                "stdev": statistics.stdev(differences) if len(differences) > 1 else None,
                "distilled_better": sum(d < 0 for d in differences)}}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="pansharpen.py JSON outputs")
    parser.add_argument("--out", default=str(OUT / "pansharpen_seeds.json"))
    args = parser.parse_args()
    files = args.files or [OUT / "pansharpen.json", *sorted(OUT.glob("pansharpen_seed[0-9]*.json"))]
    write_json({scene: summarize(by_seed) for scene, by_seed in held_out_scores(files).items()},
               args.out)


if __name__ == "__main__":
    main()
