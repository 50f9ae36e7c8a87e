"""Scene classification benchmark: OA / kappa on the held-out AID chips and CPU speed.

    .venv/bin/python benchmarks/classify.py [--student mobilenetv2] [--update-card] [--quick]

Scores the teacher and the class-centric, class-aware and plain students trained by
benchmarks/train_classifier.py on the 20 chips per class it held out, and times each model on
the CPU (chips/s at its input size, batches of 64, after a warm-up). Goals: a distilled
student beats the plain one; the student runs at >= 200 chips/s on the CPU. --quick uses the
models of `train_classifier.py --quick` (4 classes). --update-card writes the held-out scores
of the student that was shipped (found by its weights) into the bundled card.
"""
from __future__ import annotations

import argparse
import time

import torch
from common import OUT, machine, require_shared, same_weights, set_heldout_metrics, write_json
from train_classifier import BUNDLED, aid_split, model_paths

from models.data.chips import load_chip_folder
from models.package import load_model
from models.tasks.classify_evaluation import score_model

SPEED_GOAL = 200.0


def cpu_chips_per_second(model: torch.nn.Module, bands: int, size: int, batch: int = 64,
                         repeats: int = 5) -> float:
    """Throughput of `model` on the CPU for batches of random chips (best of `repeats`)."""
    model = model.cpu().eval()
    chips = torch.randn(batch, bands, size, size)
    best = float("inf")
    with torch.no_grad():
        model(chips)
        for _ in range(repeats):
            started = time.perf_counter()
            model(chips)
            best = min(best, time.perf_counter() - started)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", choices=("mobilenetv2", "resnet18"), default="mobilenetv2")
    parser.add_argument("--quick", action="store_true", help="score the --quick models")
    parser.add_argument("--out", default=str(OUT / "classify.json"))
    parser.add_argument("--update-card", action="store_true",
                        help="write the held-out scores into the bundled student's card")
    args = parser.parse_args()
    source = require_shared("classification", "aid_train")
    _, held_out = aid_split(source, OUT / ("aid_split_quick" if args.quick else "aid_split"),
                            classes=4 if args.quick else 0, per_class=30 if args.quick else 0)
    results, missing = {}, []
    for name, path in model_paths(args.student, args.quick).items():
        if not path.exists():
            missing.append(str(path))
            continue
        card, model = load_model(path)
        chips = load_chip_folder(held_out, card.config["input_size"])
        scores = score_model(card, model, chips, "cpu")
        results[name] = {"overall_accuracy": scores["overall_accuracy"], "kappa": scores["kappa"],
                         "per_class_accuracy": dict(zip(scores["classes"], scores["per_class_accuracy"])),
                         "chips": scores["chips"], "input_size": card.config["input_size"],
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "cpu_chips_per_second": cpu_chips_per_second(
                             model, card.config["bands"], card.config["input_size"])}
    goals = {}
    if {"plain", "class_centric", "class_aware"} <= set(results):
        best = max(results[m]["overall_accuracy"] for m in ("class_centric", "class_aware"))
        goals["distilled_beats_plain"] = best > results["plain"]["overall_accuracy"]
        goals["student_cpu_chips_per_second"] = results["class_centric"]["cpu_chips_per_second"]
        goals["student_reaches_speed_goal"] = goals["student_cpu_chips_per_second"] >= SPEED_GOAL
    bundled = BUNDLED / f"classification_aid_{args.student}.safetensors"
    shipped = next((name for name, path in model_paths(args.student, args.quick).items()
                    if path.exists() and bundled.exists() and same_weights(path, bundled)), None)
    if args.update_card and shipped:
        scores = results[shipped]
        set_heldout_metrics(bundled, {"overall_accuracy": scores["overall_accuracy"],
                                      "kappa": scores["kappa"], "chips": scores["chips"]})
    write_json({"machine": machine(), "held_out": str(held_out), "student": args.student,
                "bundled_is": shipped,
                "results": results, "goals": goals, "missing_models": missing}, args.out)


if __name__ == "__main__":
    main()
