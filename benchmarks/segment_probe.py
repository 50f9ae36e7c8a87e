"""How far the ImageNet encoders carry on a held-out Dubai tile: frozen EfficientNet-Lite features
under a trained FPN decoder, and each tile's class shares.

    .venv/bin/python benchmarks/segment_probe.py [--encoders lite0 lite2] [--held-out "Tile 6"]

For each encoder (ImageNet weights, frozen) and held-out tile, the encoder's features of every
other whole tile are computed once, in VIEWS views (as it is, and turned/flipped with colour
jitter); GINet's FPN decoder and a 1x1 head are trained on random 256 px windows of them for
STEPS steps; the held-out whole tile is segmented once at the end and scored over the six
classes (mIoU, per-class IoU, confusion matrix). The decoder is all that learns, so the run
shows what the pretrained features themselves separate, in minutes on the CPU. Also written:
each tile's class shares (the held-out tile's rare classes weigh as much in the mIoU as the
common ones). With --in-sample, the probe of an encoder is also trained on every tile, the
scored one included: how well the features fit a tile whose kind of land cover they were shown.
Writes benchmarks/out/segment_probe.json and docs/segmentation_probe.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from torch import nn

from common import OUT, ROOT, machine, require_shared, write_json

sys.path.insert(0, str(ROOT / "recipes"))
from dubai import CLASS_NAMES, dubai_classes, tile_scenes, whole_tile  # noqa: E402

from models.data.labels import IGNORE_INDEX  # noqa: E402
from models.metrics.segmentation import confusion_matrix, scores_from_confusion  # noqa: E402
from models.nets.blocks import conv  # noqa: E402
from models.nets.ginet import FPNDecoder  # noqa: E402
from models.nets.lite_stages import LiteStages, load_imagenet  # noqa: E402
from models.training.train_classifier import jitter_colours  # noqa: E402

DOC = ROOT / "docs" / "segmentation_probe.md"
VIEWS, STEPS, BATCH, WINDOW, DECODER_WIDTH = 4, 1500, 8, 256, 96
JITTER = 0.25
"""Colour jitter strength of the turned views (brightness, contrast, saturation: 1 +- JITTER)."""
STRIDE = 32
"""The encoder's deepest stride: windows and padding are whole multiples of it."""


def encode(encoder: LiteStages, image: torch.Tensor) -> list[torch.Tensor]:
    """The features at strides 4-32 of one [3, H, W] image in [0, 1] (padded by reflection to
    multiples of STRIDE), as float16 to keep every tile's views in memory."""
    height, width = image.shape[1:]
    x = F.pad(image[None], (0, -width % STRIDE, 0, -height % STRIDE), mode="reflect")
    features = []
    with torch.no_grad():
        x = encoder.stem(x)
        for layer in encoder.layers:
            x = layer(x)
            features.append(x[0].half())
    return features


def tile_views(image: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
               ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """VIEWS (image, labels) views of a tile: the tile itself, then turned or flipped ones with
    their colours jittered."""
    views = [(image, labels)]
    for turns, flip in ((1, True), (2, False), (3, True))[:VIEWS - 1]:
        def turned(x: torch.Tensor) -> torch.Tensor:
            return torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1)).contiguous()
        views.append((jitter_colours(turned(image)[None], JITTER, generator)[0].clamp(0, 1),
                      turned(labels)))
    return views


class Probe(nn.Module):
    """GINet's FPN decoder and a 1x1 class head on frozen encoder features."""

    def __init__(self, widths: list[int], classes: int):
        super().__init__()
        self.decoder = FPNDecoder(widths, DECODER_WIDTH)
        self.head = conv(DECODER_WIDTH, classes, 1, bias=True)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Class logits at stride 1 (the decoder works at stride 4)."""
        return F.interpolate(self.head(self.decoder(features)), scale_factor=4, mode="bilinear",
                             align_corners=False)


def random_windows(encoded: list, rng: np.random.Generator) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A batch of BATCH WINDOW-px windows: each level's features and the labels."""
    cells = WINDOW // STRIDE
    levels, labels = [[] for _ in encoded[0][0]], []
    for _ in range(BATCH):
        features, truth = encoded[rng.integers(len(encoded))]
        rows, cols = features[-1].shape[1:]
        top, left = rng.integers(0, max(1, rows - cells)), rng.integers(0, max(1, cols - cells))
        for level, feature in enumerate(features):
            scale = STRIDE // (4 * 2 ** level)
            levels[level].append(feature[:, top * scale:(top + cells) * scale,
                                         left * scale:(left + cells) * scale].float())
        window = torch.full((WINDOW, WINDOW), IGNORE_INDEX, dtype=torch.long)
        part = truth[top * STRIDE:(top + cells) * STRIDE, left * STRIDE:(left + cells) * STRIDE]
        window[:part.shape[0], :part.shape[1]] = part
        labels.append(window)
    return [torch.stack(level) for level in levels], torch.stack(labels)


def train_probe(encoded: list, widths: list[int], seed: int, steps: int) -> Probe:
    """The decoder and head trained on the encoded training views (one-cycle AdamW)."""
    torch.manual_seed(seed)
    probe = Probe(widths, len(CLASS_NAMES))
    optimizer = torch.optim.AdamW(probe.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        features, labels = random_windows(encoded, rng)
        loss = F.cross_entropy(probe(features), labels, ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 500 == 0:
            print(f"  step {step + 1}: loss {loss.item():.3f}", flush=True)
    return probe.eval()


def load_tile(folder: Path, tile: str, classes: list[dict], work: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole tile as a [3, H, W] float image in [0, 1] and its [H, W] labels."""
    scene = whole_tile(folder, tile, classes, work)
    with rasterio.open(scene.raster_path) as dataset:
        image = dataset.read().astype(np.float32) / 255
    return torch.from_numpy(image), torch.from_numpy(scene.labels.astype(np.int64))


def class_shares(folder: Path, tiles: list[str], classes: list[dict]) -> dict[str, dict[str, float]]:
    """Each tile's share of labelled pixels in each class."""
    shares = {}
    for tile in tiles:
        labels = np.concatenate([s.labels.ravel() for s in tile_scenes(folder, [tile], classes)])
        labelled = labels[labels != IGNORE_INDEX]
        counts = np.bincount(labelled, minlength=len(classes))
        shares[tile] = {c["name"]: round(float(counts[c["id"]] / labelled.size), 4) for c in classes}
    return shares


def probe_run(encoder_name: str, held_out: str, tiles: dict, seed: int, steps: int,
              in_sample: bool = False) -> dict:
    """Train the probe on every tile but `held_out` (every tile with `in_sample`: the ceiling of
    the features where the scene's own kind of land cover was seen) and score it on `held_out`."""
    started = time.perf_counter()
    encoder = LiteStages(encoder_name)
    load_imagenet(encoder, encoder_name)
    encoder.eval()
    generator = torch.Generator().manual_seed(seed)
    encoded = [(encode(encoder, image), labels)
               for name, (tile_image, tile_labels) in tiles.items() if in_sample or name != held_out
               for image, labels in tile_views(tile_image, tile_labels, generator)]
    probe = train_probe(encoded, encoder.widths, seed, steps)
    image, truth = tiles[held_out]
    with torch.no_grad():
        logits = probe([f[None].float() for f in encode(encoder, image)])
    predicted = logits[0].argmax(0)[:truth.shape[0], :truth.shape[1]].numpy()
    scores = scores_from_confusion(confusion_matrix(truth.numpy(), predicted, len(CLASS_NAMES),
                                                    IGNORE_INDEX))
    scores["iou_per_class"] = dict(zip(CLASS_NAMES, scores["iou_per_class"]))
    return {"encoder": encoder_name, "held_out": held_out, "in_sample": in_sample, "seed": seed, **scores,
            "seconds": round(time.perf_counter() - started, 1)}


def write_doc(data: dict) -> None:
    """docs/segmentation_probe.md from the JSON."""
    lines = ["# Frozen ImageNet encoders on held-out Dubai tiles", "",
             "Generated by `benchmarks/segment_probe.py` from `benchmarks/out/segment_probe.json`. "
             f"Each EfficientNet-Lite encoder keeps its ImageNet weights; an FPN decoder learns on "
             f"the other tiles, or on every tile where the table says it was trained on the scored one "
             f"({data['views']} views each, {data['steps']} steps of {data['batch']} x "
             f"{data['window']} px windows), then segments the scored tile. mIoU is the mean over "
             "the six classes.", "",
             f"| encoder | scored tile | trained on it | mIoU | OA | {' | '.join(CLASS_NAMES)} | s |",
             "|---" * (len(CLASS_NAMES) + 6) + "|"]
    for run in data["runs"]:
        ious = " | ".join(f"{run['iou_per_class'][name]:.3f}" for name in CLASS_NAMES)
        lines.append(f"| {run['encoder']} | {run['held_out']} | {'yes' if run.get('in_sample') else 'no'} | "
                     f"{run['miou']:.3f} | "
                     f"{run['overall_accuracy']:.3f} | {ious} | {run['seconds']:.0f} |")
    lines += ["", "## Confusion on the scored tile (rows: truth, columns: predicted; shares of "
              "each true class)", ""]
    for run in data["runs"]:
        matrix = np.asarray(run["confusion_matrix"], dtype=np.float64)
        rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        seen = ", trained on it" if run.get("in_sample") else ""
        lines += [f"### {run['encoder']}, {run['held_out']}{seen}", "",
                  f"| truth | {' | '.join(CLASS_NAMES)} |", "|---" * (len(CLASS_NAMES) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(f"{v * 100:.0f} %" for v in row) + " |"
                  for name, row in zip(CLASS_NAMES, rows)]
        lines.append("")
    lines += ["## Class shares of each tile (labelled pixels)", "",
              f"| tile | {' | '.join(CLASS_NAMES)} |", "|---" * (len(CLASS_NAMES) + 1) + "|"]
    for tile, shares in data["class_shares"].items():
        lines.append(f"| {tile} | " + " | ".join(f"{shares[n] * 100:.1f} %" for n in CLASS_NAMES) + " |")
    DOC.write_text("\n".join(lines) + "\n")
    print(f"wrote {DOC}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="*", default=["lite0", "lite2"])
    parser.add_argument("--held-out", nargs="+", default=["Tile 6"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=STEPS, help="decoder training steps")
    parser.add_argument("--in-sample", nargs="*", default=[], metavar="ENCODER",
                        help="also train these encoders' probes on every tile, the scored one too")
    parser.add_argument("--out", default=str(OUT / "segment_probe.json"))
    args = parser.parse_args()
    folder = require_shared("segmentation", "dubai")
    classes = dubai_classes(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    runs = []
    with tempfile.TemporaryDirectory() as work:
        tiles = {name: load_tile(folder, name, classes, Path(work)) for name in names}
        for held_out in args.held_out:
            for encoder in args.encoders:
                print(f"{encoder}, {held_out} held out", flush=True)
                runs.append(probe_run(encoder, held_out, tiles, args.seed, args.steps))
                print(f"  mIoU {runs[-1]['miou']:.3f}, OA {runs[-1]['overall_accuracy']:.3f}", flush=True)
            for encoder in args.in_sample:
                runs.append(probe_run(encoder, held_out, tiles, args.seed, args.steps, in_sample=True))
                print(f"  in sample: mIoU {runs[-1]['miou']:.3f}", flush=True)
    out = Path(args.out)
    if out.exists():  # runs may be split over several calls with the same settings
        def key(run: dict) -> tuple:
            return run["encoder"], run["held_out"], bool(run.get("in_sample"))
        new = {key(run) for run in runs}
        runs = [run for run in json.loads(out.read_text())["runs"] if key(run) not in new] + runs
    data = {"machine": machine(), "views": VIEWS, "steps": args.steps, "batch": BATCH, "window": WINDOW,
            "runs": runs, "class_shares": class_shares(folder, names, classes)}
    write_json(data, args.out)
    write_doc(data)


if __name__ == "__main__":
    main()
