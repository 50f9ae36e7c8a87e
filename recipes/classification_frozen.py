"""The classification recipe with frozen ImageNet encoders: every chip's embedding is computed
once, and linear heads are trained on them (teacher: Lite2; students: Lite0).

    .venv/bin/python recipes/classification_frozen.py [--stages embeddings heads]
        [--variants lite0 lite2] [--size 96]

This is how the method comparison (student alone, class-centric KD, CASD; 3 seeds) fits a
shared 2-core CPU: a head trains in seconds, a fine-tuned net in hours. Same chips, same
validation split as recipes/classification.py (its cache stage is reused). Every head is
packaged as a whole classifier (the unchanged ImageNet encoder and the head), so it runs in
classify_scenes like any other; results go to the same results.json under "frozen".
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "recipes"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from classification import (ARCHITECTURE, METHODS, SPLIT_SEED, Recipe, RecipeSettings,  # noqa: E402
                            aid_card, imagenet_backbone)

from models.data.chips import chip_scaling  # noqa: E402
from models.training.train_classifier import (ChipBatches, ClassifierTrainResult,  # noqa: E402
                                             _stratified_split)
from models.training.train_heads import HeadTrainConfig, train_head  # noqa: E402
from models.nets import build  # noqa: E402
from models.package import save_package  # noqa: E402

SAVE_EVERY = 256
"""Chips between saves of the partial embeddings (a stopped run resumes from the last save)."""


class FrozenRecipe:
    """Embeddings of the recipe's chips and heads trained on them."""

    def __init__(self, recipe: Recipe, size: int):
        self.recipe, self.size = recipe, size

    def net(self, variant: str):
        chips = self.recipe.chips
        model = build(ARCHITECTURE, {"bands": 3, "classes": len(chips.classes), "variant": variant,
                                     "input_size": self.size})
        model.init_from_backbone(imagenet_backbone(variant))
        return model.eval()

    def embeddings(self, variant: str, start: int = 0) -> torch.Tensor:
        """[N, 1280] pooled ImageNet embeddings of every chip (no augmentation).

        With `start` > 0 only chips from `start` on are embedded (into a file of their own), so a
        second process can take the second half; the whole set is then joined from the first
        process's partial save and that file."""
        path = self.recipe.work / f"embeddings_{variant}_{self.size}.pt"
        if path.exists():
            return torch.load(path, weights_only=True)
        chips = self.recipe.chips
        target = path if start == 0 else path.with_name(f"{path.stem}_from{start}.pt")
        partial = target.with_suffix(".partial.pt")
        done = torch.load(partial, weights_only=True) if partial.exists() else torch.zeros(0, 1280)
        joined = self._join(path, len(chips)) if start == 0 else None
        if joined is not None:
            return joined
        model = self.net(variant)
        batches = ChipBatches(chips, chip_scaling(chips.images, seed=0), torch.device("cpu"), 0)
        started, first = time.monotonic(), start + len(done)
        parts = [done]
        with torch.no_grad():
            for begin in range(first, len(chips), 64):
                index = torch.arange(begin, min(begin + 64, len(chips)))
                parts.append(model.forward_features(batches.batch(index, self.size))[1]["embedding"])
                count = begin + len(index)
                if (count - start) % SAVE_EVERY < 64 or count == len(chips):
                    torch.save(torch.cat(parts), partial)
                    rate = (count - first) / (time.monotonic() - started)
                    self.recipe.log(f"embeddings {variant} {self.size} px: chips {start}-{count} of "
                                    f"{len(chips)} ({rate:.1f} chips/s)")
                if start == 0 and self._join(path, len(chips)) is not None:
                    return torch.load(path, weights_only=True)
        partial.replace(target)
        return torch.load(target, weights_only=True)

    def _join(self, path: Path, count: int) -> torch.Tensor | None:
        """The whole embeddings chained from the saved segments (the first process's partial
        save, and every embeddings_*_from<start> file, finished or partial), written to `path`;
        None while they do not cover every chip."""
        segments = []
        for segment in path.parent.glob(f"{path.stem}*.pt"):
            name = segment.name.removesuffix(".pt").removesuffix(".partial")
            if name == path.stem or name.startswith(f"{path.stem}_from"):
                start = int(name.rsplit("_from", 1)[1]) if "_from" in name else 0
                segments.append((start, torch.load(segment, weights_only=True)))
        joined = torch.zeros(0, 1280)
        while len(joined) < count:
            reaching = [(start, values) for start, values in segments
                        if start <= len(joined) < start + len(values)]
            if not reaching:
                return None
            start, values = max(reaching, key=lambda item: item[0] + len(item[1]))
            joined = torch.cat([joined, values[len(joined) - start:]])
        torch.save(joined, path)
        return joined

    def package(self, name: str, variant: str, head: torch.nn.Linear, scores: dict,
                method: str, seconds: float, teacher: str | None = None) -> None:
        chips = self.recipe.chips
        model = self.net(variant)
        model.head.load_state_dict(head.state_dict())
        result = ClassifierTrainResult(
            model=model, best_val_loss=0.0, history=[], metrics=scores, architecture=ARCHITECTURE,
            config=asdict(model.config), distilled_from=teacher,
            train_config={**asdict(HeadTrainConfig(method=method)), "encoder": "frozen (ImageNet)"},
            classes=list(chips.classes), scaling=chip_scaling(chips.images, seed=0), seconds=seconds)
        save_package(self.recipe.work / f"{name}.safetensors", model.state_dict(), aid_card(result, name))

    def heads(self, teacher_variant: str | None = "lite2") -> None:
        """Teacher head on Lite2 (unless `teacher_variant` is None: then class-centric KD is
        left out), then plain / class-centric KD / CASD Lite0 heads per seed."""
        chips, settings = self.recipe.chips, self.recipe.settings
        labels = torch.as_tensor(chips.labels)
        train, validation = _stratified_split(chips.labels, settings.validation_fraction, SPLIT_SEED)
        classes = len(chips.classes)
        student_embeddings = self.embeddings("lite0")
        teacher_logits, record = None, {"input_size": self.size}
        methods = [m for m in METHODS if teacher_variant or m != "class_centric"]
        if teacher_variant:
            teacher_embeddings = self.embeddings(teacher_variant)
            started = time.monotonic()
            teacher_head, teacher_scores = train_head(teacher_embeddings, labels, train, validation,
                                                      classes, HeadTrainConfig())
            self.package("frozen_teacher", teacher_variant, teacher_head, teacher_scores, "plain",
                         time.monotonic() - started)
            self.recipe.log(f"frozen teacher head: validation OA {teacher_scores['overall_accuracy']:.4f}")
            record["teacher"] = {"variant": teacher_variant, **teacher_scores}
            with torch.no_grad():
                teacher_logits = teacher_head(teacher_embeddings)
        table = {}
        for seed in settings.seeds:
            for method in methods:
                started = time.monotonic()
                head, scores = train_head(student_embeddings, labels, train, validation, classes,
                                          HeadTrainConfig(method=method, seed=seed), teacher_logits)
                seconds = time.monotonic() - started
                table[f"{method}_seed{seed}"] = {"method": method, "seed": seed, **scores,
                                                 "seconds": round(seconds, 1)}
                self.recipe.log(f"frozen head {method} seed {seed}: validation OA "
                                f"{scores['overall_accuracy']:.4f}")
                if seed == settings.seeds[0]:
                    self.package(f"frozen_student_{method}", "lite0", head, scores, method, seconds,
                                 "frozen_teacher" if method == "class_centric" else None)
        self.recipe.record("frozen", {**record, "compare": table})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", nargs="+", choices=("embeddings", "heads"),
                        default=["embeddings", "heads"])
    parser.add_argument("--variants", nargs="+", default=["lite0", "lite2"])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--no-teacher", action="store_true",
                        help="heads: leave out the Lite2 teacher and class-centric KD")
    parser.add_argument("--start", type=int, default=0,
                        help="embed only the chips from this index on (a second process's half)")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "recipes" / "classification"))
    args = parser.parse_args()
    frozen = FrozenRecipe(Recipe(Path(args.work), RecipeSettings()), args.size)
    for stage in args.stages:
        if stage == "embeddings":
            for variant in args.variants:
                frozen.embeddings(variant, args.start)
        else:
            frozen.heads(None if args.no_teacher else "lite2")


if __name__ == "__main__":
    main()
