"""Write docs/benchmarks/pansharpening.md from the pansharpening benchmarks' JSON.

    .venv/bin/python benchmarks/pansharpen_docs.py

Reads (each section is left out when its file is missing):
- benchmarks/out/pansharpen_teachers.json (benchmarks/pansharpen_teachers.py): the published
  teachers against MTF-GLP at reduced resolution;
- benchmarks/out/pansharpening_recipe/recipe.json (recipes/pansharpening.py): the fine-tuned
  teacher and the distilled and lone students of every seed on the held-out scenes;
- benchmarks/out/pansharpen.json, or pansharpen_4band_x4.json and pansharpen_8band_x4.json
  (benchmarks/pansharpen.py, all scenes or `--only` one model set): every method on every
  scene at reduced and full resolution, and speed;
and the bundled students' model cards.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import OUT, ROOT

DOC = ROOT / "docs" / "benchmarks" / "pansharpening.md"


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _table(header: list[str], rows: list[list]) -> list[str]:
    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows] + [""])


def teachers_section(data: dict) -> list[str]:
    lines = ["## Published teachers at reduced resolution",
             "", f"Inputs in the teachers' own units ({data['units']}), MS upsampled bicubically; "
             "ERGAS (lower is better) and its ratio to MTF-GLP on the same arrays.", ""]
    for scene, entry in data["scenes"].items():
        ranked = sorted(entry["methods"].items(), key=lambda item: item[1]["ergas"])
        lines += [f"### {scene}" + (" (held out)" if entry["held_out"] else ""), ""]
        lines += _table(["method", "ERGAS", "x MTF-GLP", "SAM", "Q2n"],
                        [[name, s["ergas"], s["ergas_vs_mtf_glp"], s["sam"], s["q2n"]]
                         for name, s in ranked])
    return lines


def recipe_section(data: dict) -> list[str]:
    lines = ["## Distillation from the fine-tuned teacher vs the student trained alone",
             "", "ERGAS relative to MTF-GLP (lower is better; goal <= 0.8) on the held-out "
             "scenes, `scene@MTF` = the MTF table the Wald degradation used. One row per "
             "student; the mean over seeds last.", ""]
    for key, entry in data["sets"].items():
        columns = list(entry["teacher"])
        lines += [f"### {key}", "", f"Trained on {', '.join(entry['training_scenes'])}; held out: "
                  f"{', '.join(entry['held_out_scenes'])}. {entry['wald_samples']} Wald patches, "
                  f"{entry['teacher_samples']} full-resolution teacher patches.", ""]
        rows = [["published teacher", *(entry["published_teacher"][c]["ergas_vs_mtf_glp"] for c in columns)],
                ["fine-tuned teacher", *(entry["teacher"][c]["ergas_vs_mtf_glp"] for c in columns)]]
        for variant in ("distilled", "alone"):
            runs = {name: s for name, s in entry["students"].items() if name.startswith(variant)}
            rows += [[name, *(s["held_out"][c]["ergas_vs_mtf_glp"] for c in columns)]
                     for name, s in sorted(runs.items())]
            if runs:
                rows.append([f"**{variant}, mean of {len(runs)}**",
                             *(statistics.mean(s["held_out"][c]["ergas_vs_mtf_glp"] for s in runs.values())
                               for c in columns)])
        lines += _table(["model", *columns], rows)
    return lines


def benchmark_section(data: dict) -> list[str]:
    lines = ["## Every method on every scene", "",
             f"Reduced resolution (Wald) and full resolution (no reference); scene adaptation: "
             f"at most {data['adapt_iterations']} iterations. Mpx/s: PAN output through the whole "
             "pipeline on this machine (median of runs; the CPU was shared with other jobs).", ""]
    for scene, entry in data["scenes"].items():
        glp = entry["quality"]["mtf_glp"]["ergas"]
        lines += [f"### {scene}" + (" (held out)" if entry["held_out"] else ""), ""]
        lines += _table(["method", "ERGAS", "x MTF-GLP", "SAM", "Q2n", "SCC", "D_lambda", "D_s", "QNR"],
                        [[name, q["ergas"], q["ergas"] / glp, q["sam"], q["q2n"], q["scc"],
                          q["d_lambda"], q["d_s"], q["qnr"]] for name, q in entry["quality"].items()])
        if "mpx_per_s" in entry:
            lines += _table(["method", "Mpx/s"], [[k, v] for k, v in entry["mpx_per_s"].items()])
    return lines


def cards_section() -> list[str]:
    """What the bundled students' model cards say (teacher, data, licence, held-out figures)."""
    from models.package import read_card

    lines = ["## Bundled students (their model cards)", ""]
    for path in sorted((ROOT / "resources" / "models").glob("pansharpening_lite_*.safetensors")):
        card = read_card(path)
        held_out = {k[len("heldout_"):]: v for k, v in card.metrics.items() if k.startswith("heldout_")}
        lines += [f"### {card.name}", "", card.description, "",
                  f"- teacher: {card.teacher or 'none (trained alone)'}",
                  f"- training data: {card.training_data}", f"- licence: {card.licence}",
                  f"- MS bands: {', '.join(card.input_bands.get('ms', []))}", ""]
        if held_out:
            lines += _table(["held-out figure", "value"],
                            [[k, float(v)] for k, v in sorted(held_out.items())])
    return lines


def goal_section(files: list[dict]) -> list[str]:
    """The issue's goal per held-out scene: min(default, adapted) ERGAS <= 0.8 x MTF-GLP."""
    rows = []
    for data in files:
        for scene, entry in data["scenes"].items():
            quality = entry["quality"]
            if not entry["held_out"] or "default" not in quality:
                continue
            glp = quality["mtf_glp"]["ergas"]
            default = quality["default"]["ergas"] / glp
            adapted = quality.get("default + adaptation", quality["default"])["ergas"] / glp
            rows.append([scene, default, adapted, min(default, adapted),
                         "yes" if min(default, adapted) <= 0.8 else "no"])
    if not rows:
        return []
    return ["## Goal: min(default, adapted) ERGAS <= 0.8 x MTF-GLP on held-out scenes", ""] + _table(
        ["held-out scene", "default", "adapted", "min", "met"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DOC))
    args = parser.parse_args()
    lines = ["# Pansharpening benchmarks", "",
             "Generated by `benchmarks/pansharpen_docs.py` from the JSON the benchmark scripts "
             "write; do not edit by hand.", ""]
    sources = [(OUT / "pansharpen_teachers.json", teachers_section),
               (OUT / "pansharpening_recipe" / "recipe.json", recipe_section),
               (OUT / "pansharpen.json", benchmark_section),
               (OUT / "pansharpen_4band_x4.json", benchmark_section),
               (OUT / "pansharpen_8band_x4.json", benchmark_section)]
    for path, section in sources:
        data = _load(path)
        if data is not None:
            lines += section(data)
    lines += goal_section([data for data in map(_load, (OUT / "pansharpen.json",
                                                        OUT / "pansharpen_4band_x4.json",
                                                        OUT / "pansharpen_8band_x4.json"))
                           if data is not None])
    lines += cards_section()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
