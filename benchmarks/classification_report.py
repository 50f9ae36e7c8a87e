"""Write docs/benchmarks/classification.md from the JSON benchmarks/classify.py wrote.

    .venv/bin/python benchmarks/classification_report.py [--json benchmarks/out/classify.json]
        [--out docs/benchmarks/classification.md]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHOD_NAMES = {"plain": "student alone (cross-entropy)", "class_centric": "class-centric KD",
                "class_aware": "CASD (class-aware self-distillation)"}


def number(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def method_table(methods: dict) -> list[str]:
    lines = ["| method | seeds | overall accuracy per seed | mean | spread (stdev) |",
             "|---|---|---|---|---|"]
    for method, row in methods.items():
        values = ", ".join(number(v) for v in row["overall_accuracy"]) or "-"
        lines.append(f"| {METHOD_NAMES[method]} | {len(row['seeds'])} | {values} | "
                     f"{number(row['mean'])} | {number(row['stdev'])} |")
    return lines


def model_row(label: str, row: dict) -> str:
    size = row.get("input_size", "?")
    return (f"| {label} | {size} px | {number(row['overall_accuracy'])} | {number(row['kappa'])} | "
            f"{row.get('seconds', 0):.0f} |")


def accuracy_section(accuracy: dict) -> list[str]:
    teacher, student = accuracy.get("teacher") or {}, accuracy.get("student") or {}
    lines = ["## Accuracy on the validation split", "",
             "| model | input | overall accuracy | kappa | training s |", "|---|---|---|---|---|"]
    if teacher:
        lines.append(model_row(f"teacher: EfficientNet-{teacher['variant'].capitalize()}, "
                               "fine-tuned from ImageNet", teacher))
    if accuracy.get("frozen_teacher"):
        lines.append(model_row("teacher: EfficientNet-Lite2, frozen ImageNet encoder + trained head",
                               {**accuracy["frozen_teacher"], "input_size": accuracy["frozen_input_size"]}))
    if student:
        how = ("frozen ImageNet encoder + head" if student.get("encoder") == "frozen"
               else f"fine-tuned, {student.get('epochs', '?')} epochs")
        lines.append(model_row(f"**shipped student: Lite0, {METHOD_NAMES[student['method']]}, {how}** "
                               f"(from {student.get('shipped_from', '?')})", student))
    for key, row in sorted((accuracy.get("full_students") or {}).items()):
        if key != student.get("shipped_from"):
            lines.append(model_row(f"student: Lite0, {METHOD_NAMES[row['method']]}, fine-tuned, "
                                   f"{row.get('epochs', '?')} epochs", row))
    settings = accuracy.get("compare_settings") or {}
    if any(row["seeds"] for row in accuracy["methods"].values()):
        frozen = settings.get("frozen_until")
        trained = f"blocks up to {frozen} fixed" if frozen else "every weight trained"
        lines += ["", f"### Methods, fine-tuned short runs ({settings.get('epochs', '?')} epochs "
                  f"planned, {trained}, {settings.get('input_size', '?')} px)", ""] + \
            method_table(accuracy["methods"])
    if any(row["seeds"] for row in accuracy.get("frozen_methods", {}).values()):
        lines += ["", f"### Methods, heads on frozen ImageNet embeddings (Lite0 student, Lite2 "
                  f"teacher, {accuracy.get('frozen_input_size')} px)", ""] + \
            method_table(accuracy["frozen_methods"])
    return lines


def speed_section(speed: dict, sizes: dict, accuracy: dict) -> list[str]:
    lines = ["", "## Input size: accuracy against speed", "",
             "End to end through `classify_scenes` on a GeoTIFF mosaic of validation chips "
             "(one 150 px chip per cell: read, scale, resize, run, write), best of the runs.", "",
             "| input | model | chips/s | mosaic cell accuracy | uncertain share | accuracy of the "
             "other cells | load average |", "|---|---|---|---|---|---|---|"]
    for size, row in sorted(speed.items(), key=lambda item: int(item[0])):
        lines.append(f"| {size} px | {row['model']} | {row['chips_per_second']:.0f} | "
                     f"{number(row['overall_accuracy'])} | {number(row['uncertain_share'], 3)} | "
                     f"{number(row['accuracy_of_confident_cells'])} | "
                     f"{', '.join(f'{v:.1f}' for v in row['load_average'])} |")
    plain = accuracy["methods"].get("plain", {})
    seed0 = dict(zip(plain.get("seeds", []), plain.get("overall_accuracy", []))).get(0)
    by_size = {size: row["overall_accuracy"] for size, row in sizes.items()}
    if seed0 is not None:
        by_size[str((accuracy.get("compare_settings") or {}).get("input_size"))] = seed0
    if by_size:
        lines += ["", "Plain seed-0 fine-tuned comparison students by input size (validation "
                  "accuracy): " + ", ".join(f"{size} px: {number(value)}"
                                            for size, value in sorted(by_size.items())) + "."]
    return lines


def few_shot_section(few: dict) -> list[str]:
    if not few:
        return []
    lines = ["", f"## Your own classes: {few['chips_per_class']} chips per class", "",
             f"`train_scene_classifier` on {few['train_chips']} validation chips "
             f"({few['chips_per_class']} a class of {few.get('classes', 30)} classes, "
             f"{few['epochs']} epochs, plain), scored on the other {few['test_chips']} of those "
             "classes.", "",
             "| start | own validation accuracy | test accuracy | test kappa | seconds |",
             "|---|---|---|---|---|"]
    for key, label in (("from_bundled", "bundled classifier (default)"), ("from_scratch", "scratch")):
        row = few[key]
        lines.append(f"| {label} | {number(row['validation_overall_accuracy'])} | "
                     f"{number(row['test_overall_accuracy'])} | {number(row['test_kappa'])} | "
                     f"{row['seconds']:.0f} |")
    return lines


def render(data: dict) -> str:
    goals = data.get("goals", {})
    machine = data.get("machine", {})
    lines = ["# Scene classification benchmark", "",
             "Generated by `benchmarks/classification_report.py` from `benchmarks/classify.py`'s "
             "JSON; the models come from `recipes/classification.py`. Data: AID "
             "(`aid_train` + `aid_train_extra`, 30 classes, 150 px chips); validation = "
             f"{data.get('validation_chips', '?')} chips (15 % of every class, held out of all "
             "training, the teacher's included).", "",
             f"Machine: {machine.get('cpu_count', '?')} CPUs, torch {machine.get('torch', '?')}, "
             f"{machine.get('torch_threads', '?')} threads; shared with other jobs (load average "
             "in the speed table).", "", "## Goals", "",
             "| goal | measured | met |", "|---|---|---|",
             f"| student validation OA >= 0.92 | {number(goals.get('student_overall_accuracy'))} | "
             f"{goals.get('student_reaches_0.92')} |",
             f"| student within 2 points of the teacher | teacher - student = "
             f"{number(goals.get('teacher_minus_student'))} | "
             f"{goals.get('student_within_2_points_of_teacher')} |",
             f"| >= 300 chips/s end to end | {number(goals.get('end_to_end_chips_per_second'), 0)} | "
             f"{goals.get('reaches_300_chips_per_second')} |",
             f"| 30 chips/class: fine-tuning beats scratch | see below | "
             f"{goals.get('few_shot_bundled_beats_scratch')} |", ""]
    lines += accuracy_section(data["accuracy"])
    lines += speed_section(data.get("speed", {}), data["accuracy"].get("sizes", {}), data["accuracy"])
    lines += few_shot_section(data.get("few_shot", {}))
    notes = data.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "classify.json"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "classification.md"))
    args = parser.parse_args()
    text = render(json.loads(Path(args.json).read_text()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
