"""Training patches for segmentation from labelled scenes: patches cut with rasterio windows,
mostly around labelled pixels, each with its window in scene fractions, and each scene's global
view with its coarse labels (what GINet's global branch learns from); class weights from label
frequencies."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..inference.global_context import read_global_view
from ..inference.raster_io import band_list, open_raster, read_padded, scene_scaling
from ..inference.scaling import BandScaling
from .labels import IGNORE_INDEX, LabelledScene


@dataclass
class SegmentationSamples:
    """Training patches for GINet, all normalized per scene (`scalings[s]`)."""

    images: np.ndarray
    """[N, bands, p, p] float32."""
    labels: np.ndarray
    """[N, p, p] uint8 class indices, `ignore_index` where unlabelled."""
    windows: np.ndarray
    """[N, 4] float32 (top, left, bottom, right) of each patch in its scene, as fractions."""
    scene_index: np.ndarray
    """[N] int64: which scene (global view) each patch comes from."""
    global_images: np.ndarray
    """[S, bands, G, G] float32: each scene's global view."""
    global_labels: np.ndarray
    """[S, G, G] uint8: each scene's labels at the global view's size (majority per cell)."""
    classes: list[dict]
    scalings: list[BandScaling] = field(default_factory=list)
    ignore_index: int = IGNORE_INDEX

    def __len__(self) -> int:
        return self.images.shape[0]


def class_frequencies(labels: list[np.ndarray], classes: int,
                      ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Labelled pixels of each class over all label arrays (int64 [classes])."""
    counts = np.zeros(classes, dtype=np.int64)
    for array in labels:
        values = array[array != ignore_index].astype(np.int64)
        if values.size and values.max() >= classes:
            raise InputError(f"the labels hold class {values.max()} but only {classes} classes are "
                             "declared; check the classes list")
        counts += np.bincount(values, minlength=classes)
    return counts


def median_frequency_weights(labels: list[np.ndarray], classes: int,
                             ignore_index: int = IGNORE_INDEX, cap: float | None = None) -> np.ndarray:
    """Class weights for imbalance, median(freq) / freq_c over the classes present (Eigen &
    Fergus), at most `cap` when given; a class without labelled pixels gets 0. float32 [classes]."""
    if cap is not None and not cap > 0:
        raise InputError(f"the cap on the class weights must be positive, got {cap}")
    counts = class_frequencies(labels, classes, ignore_index).astype(np.float64)
    present = counts > 0
    if not present.any():
        raise InputError("the labels have no labelled pixel; label some pixels first")
    frequency = counts / counts.sum()
    weights = np.zeros(classes, dtype=np.float64)
    weights[present] = np.median(frequency[present]) / frequency[present]
    if cap is not None:
        weights = np.minimum(weights, cap)
    return weights.astype(np.float32)


def coarse_labels(labels: np.ndarray, size: int, classes: int,
                  ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Labels at size x size: each cell gets the most frequent labelled class among the pixels
    falling in it (IGNORE_INDEX when none is labelled). Works on labelled pixels only, so
    sparse labels survive and memory stays small."""
    rows, cols = np.nonzero(labels != ignore_index)
    coarse = np.full(size * size, ignore_index, dtype=np.uint8)
    if rows.size == 0:
        return coarse.reshape(size, size)
    cell = (rows * size // labels.shape[0]) * size + cols * size // labels.shape[1]
    counts = np.bincount(cell * classes + labels[rows, cols].astype(np.int64),
                         minlength=size * size * classes).reshape(size * size, classes)
    has_label = counts.sum(axis=1) > 0
    coarse[has_label] = counts[has_label].argmax(axis=1)
    return coarse.reshape(size, size)


def _patch_origins(labels: np.ndarray, patch_size: int, count: int, labelled_share: float,
                   rng: np.random.Generator) -> list[tuple[int, int]]:
    """Top-left corners: a share of patches placed around random labelled pixels, the rest
    uniformly. Patches stay inside the raster when it is larger than a patch."""
    height, width = labels.shape
    labelled = np.flatnonzero(labels != IGNORE_INDEX)
    origins = []
    for _ in range(count):
        if labelled.size and rng.random() < labelled_share:
            row, col = divmod(int(labelled[rng.integers(labelled.size)]), width)
            row -= int(rng.integers(patch_size))
            col -= int(rng.integers(patch_size))
        else:
            row, col = int(rng.integers(max(height - patch_size, 0) + 1)), \
                int(rng.integers(max(width - patch_size, 0) + 1))
        origins.append((min(max(row, 0), max(height - patch_size, 0)),
                        min(max(col, 0), max(width - patch_size, 0))))
    return origins


def _padded_labels(labels: np.ndarray, row: int, col: int, size: int) -> np.ndarray:
    patch = np.full((size, size), IGNORE_INDEX, dtype=np.uint8)
    part = labels[row:row + size, col:col + size]
    patch[:part.shape[0], :part.shape[1]] = part
    return patch


def sample_patches(scenes: list[LabelledScene], patch_size: int, count: int, global_size: int,
                   seed: int = 0, labelled_share: float = 0.9) -> SegmentationSamples:
    """`count` training patches of `patch_size` pixels from `scenes`, read with windows.

    Scenes get patches in proportion to their labelled pixels; `labelled_share` of the patches
    are centred near a random labelled pixel. Each scene is normalized with per-band
    percentile statistics of its decimated read (what the engine does at inference when the
    model card has no statistics), and gets its global view and coarse labels.
    """
    if not scenes:
        raise InputError("no labelled scene was given; add a raster with labels")
    classes = scenes[0].classes
    if any(s.classes != classes for s in scenes):
        raise InputError("the scenes are labelled with different classes; label them with one "
                         "class list")
    if count < 1 or patch_size < 1:
        raise InputError(f"the number of patches and their size must be positive, got {count} "
                         f"and {patch_size}")
    labelled = np.array([(s.labels != IGNORE_INDEX).sum() for s in scenes], dtype=np.float64)
    if not labelled.sum():
        raise InputError("none of the scenes has a labelled pixel; label some pixels first")
    rng = np.random.default_rng(seed)
    per_scene = rng.multinomial(count, labelled / labelled.sum())
    images, labels, windows, scene_index, globals_, global_labels, scalings = [], [], [], [], [], [], []
    band_count = None
    for index, (scene, n) in enumerate(zip(scenes, per_scene)):
        scaling = scene_scaling(scene.raster_path, scene.bands)
        if band_count is not None and scaling.band_count != band_count:
            raise InputError(f"{scene.raster_path.name} has {scaling.band_count} bands but the other "
                             f"scenes have {band_count}; use rasters with the same bands")
        band_count = scaling.band_count
        scalings.append(scaling)
        globals_.append(read_global_view(scene.raster_path, scene.bands, scaling, global_size))
        global_labels.append(coarse_labels(scene.labels, global_size, len(classes)))
        height, width = scene.labels.shape
        with open_raster(scene.raster_path) as dataset:
            if dataset.shape != scene.labels.shape:
                raise InputError(f"the labels of {scene.raster_path.name} are not on its grid; "
                                 "align them to the raster first")
            indexes = band_list(dataset, scene.bands)
            for row, col in _patch_origins(scene.labels, patch_size, int(n), labelled_share, rng):
                raw, valid = read_padded(dataset, indexes, row, col, patch_size, patch_size)
                image = scaling.normalize(raw)
                image[:, ~valid] = 0.0
                patch_labels = _padded_labels(scene.labels, row, col, patch_size)
                patch_labels[~valid] = IGNORE_INDEX
                images.append(image)
                labels.append(patch_labels)
                windows.append((row / height, col / width, (row + patch_size) / height,
                                (col + patch_size) / width))
                scene_index.append(index)
    return SegmentationSamples(
        images=np.stack(images).astype(np.float32), labels=np.stack(labels),
        windows=np.asarray(windows, dtype=np.float32), scene_index=np.asarray(scene_index, dtype=np.int64),
        global_images=np.stack(globals_).astype(np.float32), global_labels=np.stack(global_labels),
        classes=classes, scalings=scalings)
