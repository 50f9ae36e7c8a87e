"""Training a dehazing model on the user's own imagery, written as a model package.

Training data:
- clear images (files or a folder): synthetic non-homogeneous haze is laid over random
  windows of each (`models.data.haze.make_dehaze_pairs`), and the hazy window's scaling
  (`MODEL_SCALING`) is applied to both, as the engine scales a hazy scene;
- optional real (hazy, clear) pairs on the same grid: random aligned windows, both in the hazy
  image's scaling.

Architectures: "lite" (the small student): a compact KTDN teacher autoencoder is first trained
on the clear patches of this run and the student is distilled from it (knowledge transfer of
its bottleneck features), and also from the outputs of a "ktdn" package given as `teacher`;
with fewer than `MIN_DISTILLATION_SAMPLES` samples the student is trained alone. "ktdn": the
paper-sized net with knowledge transfer from the paper's ResNet-18 teacher (slow on a CPU).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ..catalogue import DEHAZE_ARCHITECTURES
from ..crs_units import pixel_size_metres
from ..data.haze import DehazeSamples, make_dehaze_pairs
from ..training.train_dehaze import TrainConfig, train_dehazer, train_student, train_teacher
from ..training.training import TrainResult
from ..errors import InputError
from ..inference.memory import FLOAT_BYTES, check_memory
from ..inference.raster_io import band_list, band_names, valid_mask
from ..inference.scaling import BandScaling
from ..nets.ktdn import KTDNConfig, KTDNTeacherConfig
from ..package import ModelCard, training_sources
from .callbacks import Callbacks
from .requests import TrainingRequest
from .trained_models import load_teacher, trained_card, validation_metrics, write_trained_model
from .training_checks import check_patch_multiple, check_training_request
from .dehaze import TASK, model_scaling_from_array

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2", ".img", ".vrt")
#: the side of the central crop read from each image (bounds memory on large scenes)
MAX_IMAGE_SIDE = 1024
#: patch sides must be multiples of this (the KTDN family's `multiple_of`)
PATCH_MULTIPLE = 32
#: fewer samples than this: the lite student is trained alone (a teacher would not generalize)
MIN_DISTILLATION_SAMPLES = 32
#: a training window may hold this fraction of valid pixels at least
MIN_VALID_FRACTION = 0.995
#: clear images that are not uint8 are mapped to [0, 1] by this percentile of all bands
CLEAR_HIGH_PERCENTILE = 99.5


def compact_teacher_config(bands: int) -> KTDNTeacherConfig:
    """The teacher the lite pipeline trains: KTDN's autoencoder at half width (6.5 M parameters
    instead of 26 M) so that a run stays practical on a CPU."""
    return KTDNTeacherConfig(bands=bands, encoder_planes=(32, 64, 128), stem_width=32,
                             bottleneck_width=512)


@dataclass
class DehazeTrainingRequest(TrainingRequest):
    """Images to learn from and how to train (plain values: no QGIS objects)."""

    output_model: str
    clear_paths: list[str] = field(default_factory=list)
    clear_folder: str | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    architecture: str = "lite"
    epochs: int = 30
    patch_size: int = 64
    samples: int = 512
    validation_fraction: float = 0.1


@dataclass
class TrainingData:
    """Samples from every image and pair, and what the card records about them."""

    samples: DehazeSamples
    bands: int
    band_names: list[str]
    patch_size: int
    names: list[str]
    gsd: float | None


def folder_images(folder: str | Path) -> list[Path]:
    """Raster and image files directly inside `folder` (not its sub-folders), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"CLEAR_FOLDER {folder} is not a folder.")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def valid_central_crop(array: np.ndarray, valid: np.ndarray, name: str) -> np.ndarray:
    """The largest centred window (shrunk in 10 % steps) that is at least 99.5 % valid (a few
    isolated pixels equal to the nodata value inside a scene are dark pixels, not a collar)."""
    height, width = valid.shape
    for fraction in np.linspace(1.0, 0.1, 10):
        rows, cols = max(1, int(height * fraction)), max(1, int(width * fraction))
        top, left = (height - rows) // 2, (width - cols) // 2
        if valid[top:top + rows, left:left + cols].mean() >= MIN_VALID_FRACTION:
            return array[:, top:top + rows, left:left + cols]
    raise InputError(f"{name} has too much nodata: not even its central tenth is free of "
                     f"nodata. Clip it to the area with data first.")


def _open(path: str | Path):
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"{Path(path).name} cannot be read as a raster: {error}") from error


def read_central(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(array, valid mask) of a central crop of at most MAX_IMAGE_SIDE pixels a side."""
    with _open(path) as dataset:
        rows, cols = min(dataset.height, MAX_IMAGE_SIDE), min(dataset.width, MAX_IMAGE_SIDE)
        window = Window((dataset.width - cols) // 2, (dataset.height - rows) // 2, cols, rows)
        array = dataset.read(band_list(dataset, None), window=window)
        valid = valid_mask(dataset, array, window=window)
    if not valid.any():
        raise InputError(f"{Path(path).name} has no valid pixels: every pixel is nodata.")
    return array, valid


def band_names_and_gsd(paths: list[str | Path]) -> tuple[list[str], float | None]:
    """Band names of the first image, and the training data's pixel size in metres: the median
    over the georeferenced images when they are at least half of them, else None (unknown; a
    few georeferenced images among many plain pictures do not speak for the rest)."""
    sizes = []
    for path in paths:
        with _open(path) as dataset:
            sizes.append(pixel_size_metres(dataset))
    with _open(paths[0]) as dataset:
        names = band_names(dataset)
    known = [size for size in sizes if size is not None]
    return names, float(np.median(known)) if len(known) * 2 >= len(sizes) else None


def unit_scaling(clear: np.ndarray) -> BandScaling:
    """The scaling that maps a clear image to [0, 1]: uint8 divided by 255; other types by the
    99.5th percentile of all bands (low 0), so band ratios (colours) are kept."""
    if clear.dtype == np.uint8:
        return BandScaling(low=[0.0] * clear.shape[0], high=[255.0] * clear.shape[0])
    return BandScaling.from_array(clear, mode="common", low_percentile=None,
                                  high_percentile=CLEAR_HIGH_PERCENTILE)


def clear_to_unit(array: np.ndarray) -> np.ndarray:
    """A clear image in [0, 1] (`unit_scaling`, then clipped)."""
    return np.clip(unit_scaling(array).normalize(array), 0.0, 1.0)


def read_clear_image(path: str | Path) -> np.ndarray:
    """A clear image (central crop, free of nodata) as float32 (bands, H, W) in [0, 1]."""
    array, valid = read_central(path)
    return clear_to_unit(valid_central_crop(array, valid, Path(path).name))


def read_pair(hazy_path: str | Path, clear_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A real (hazy, clear) pair, both in the hazy image's scaling (`MODEL_SCALING`)."""
    hazy, hazy_valid = read_central(hazy_path)
    clear, clear_valid = read_central(clear_path)
    if hazy.shape != clear.shape:
        raise InputError(f"The hazy image {Path(hazy_path).name} {hazy.shape[1:]} with "
                         f"{hazy.shape[0]} band(s) and the clear image {Path(clear_path).name} "
                         f"{clear.shape[1:]} with {clear.shape[0]} band(s) must have the same size "
                         f"and bands: a pair shows the same pixels with and without haze.")
    stacked = valid_central_crop(np.concatenate([hazy, clear]), hazy_valid & clear_valid,
                                 Path(hazy_path).name)
    hazy, clear = stacked[:hazy.shape[0]], stacked[hazy.shape[0]:]
    scaling = model_scaling_from_array(hazy)
    return scaling.normalize(hazy), scaling.normalize(clear)


def pair_samples(pairs: list[tuple[np.ndarray, np.ndarray]], patch_size: int, count: int,
                 rng: np.random.Generator) -> DehazeSamples:
    """`count` random aligned patches from normalized (hazy, clear) pairs, picked by area."""
    areas = np.array([h.shape[1] * h.shape[2] for h, _ in pairs], dtype=np.float64)
    hazy_patches, clear_patches = [], []
    for index in rng.choice(len(pairs), size=count, p=areas / areas.sum()):
        hazy, clear = pairs[index]
        top = rng.integers(0, hazy.shape[1] - patch_size + 1)
        left = rng.integers(0, hazy.shape[2] - patch_size + 1)
        hazy_patches.append(hazy[:, top:top + patch_size, left:left + patch_size])
        clear_patches.append(clear[:, top:top + patch_size, left:left + patch_size])
    return DehazeSamples(np.stack(hazy_patches).astype(np.float32),
                         np.stack(clear_patches).astype(np.float32))


def clear_image_list(clear_paths: list[str], clear_folder: str | None) -> list[str]:
    """The clear images: the given files plus the images directly inside the folder."""
    paths = list(clear_paths)
    if clear_folder:
        found = folder_images(clear_folder)
        if not found:
            raise InputError(f"CLEAR_FOLDER {clear_folder} holds no image files "
                             f"({', '.join(IMAGE_SUFFIXES)}).")
        paths += [str(p) for p in found]
    return paths


def load_training_data(request: DehazeTrainingRequest, callbacks: Callbacks) -> TrainingData:
    """Check every image and pair (same band count, large enough) and cut the samples."""
    check_patch_multiple(request.patch_size, PATCH_MULTIPLE)
    paths = clear_image_list(request.clear_paths, request.clear_folder)
    if not paths and not request.pairs:
        raise InputError("Give clear images to train on (CLEAR_IMAGES or CLEAR_FOLDER), or "
                         "pairs of hazy and clear images (HAZY_LAYERS and CLEAR_LAYERS).")
    clear_images, pairs = [], []
    for path in paths:
        callbacks.raise_if_cancelled()
        clear_images.append(read_clear_image(path))
    for hazy_path, clear_path in request.pairs:
        callbacks.raise_if_cancelled()
        pairs.append(read_pair(hazy_path, clear_path))
    names = [Path(p).name for p in paths] + [f"{Path(h).name} / {Path(c).name}"
                                             for h, c in request.pairs]
    images = clear_images + [clear for _, clear in pairs]
    bands = images[0].shape[0]
    for name, image in zip(names, images):
        if image.shape[0] != bands:
            raise InputError(f"{name} has {image.shape[0]} band(s) but {names[0]} has {bands}: "
                             f"one model dehazes one band count; train on images with the same "
                             f"bands.")
    smallest = min(min(image.shape[1:]) for image in images)
    patch = min(request.patch_size, smallest) // PATCH_MULTIPLE * PATCH_MULTIPLE
    if patch < PATCH_MULTIPLE:
        small = names[[min(i.shape[1:]) for i in images].index(smallest)]
        raise InputError(f"{small} is too small to train on: every image needs at least "
                         f"{PATCH_MULTIPLE} valid pixels a side.")
    sample_sets = bool(clear_images) + bool(pairs)
    # hazy and clear patches, held once per set and once concatenated
    check_memory(4 * sample_sets * request.samples * bands * patch * patch * FLOAT_BYTES,
                 f"Cutting {request.samples} training patches of {patch} px",
                 "use fewer SAMPLES or a smaller PATCH_SIZE")
    rng = np.random.default_rng(request.seed)
    sets = []
    if clear_images:
        sets.append(make_dehaze_pairs(clear_images, patch, request.samples, rng))
    if pairs:
        sets.append(pair_samples(pairs, patch, request.samples, rng))
    samples = DehazeSamples.concatenate(sets)
    callbacks.log(f"{len(paths)} clear image(s) with synthetic haze and {len(pairs)} real "
                  f"pair(s): {len(samples)} patches of {patch} px.")
    band_names, gsd = band_names_and_gsd(list(paths) + [clear for _, clear in request.pairs])
    return TrainingData(samples, bands, band_names, patch, names, gsd)


def train_config(request: DehazeTrainingRequest) -> TrainConfig:
    """The training-loop settings of a request."""
    return TrainConfig(epochs=request.epochs, device=request.device, seed=request.seed,
                       validation_fraction=request.validation_fraction)


def _big_net(request: DehazeTrainingRequest, bands: int):
    """The "ktdn" package given as `teacher` (its outputs are distilled), or (None, None)."""
    if not request.teacher:
        return None, None
    card, net = load_teacher(request, TASK)
    if card.architecture != "ktdn" or card.config.get("bands") != bands:
        raise InputError(f"The teacher '{card.name}' is a {card.config.get('bands')}-band "
                         f"'{card.architecture}' model; a teacher must be a 'ktdn' dehazing model "
                         f"for {bands} bands (train one with ARCHITECTURE ktdn).")
    return card.name, net


def train_dehazing_model(request: DehazeTrainingRequest,
                         callbacks: Callbacks | None = None) -> ModelCard:
    """Train as `request` says and write the model package; return its card."""
    callbacks = callbacks or Callbacks()
    check_training_request(request, DEHAZE_ARCHITECTURES, "ktdn")
    data = load_training_data(request, callbacks.part(0.0, 0.05))
    big_name, big_net = _big_net(request, data.bands)
    config = train_config(request)
    distil = len(data.samples) >= MIN_DISTILLATION_SAMPLES
    teacher_config = (compact_teacher_config(data.bands) if request.architecture == "lite"
                      else KTDNTeacherConfig(bands=data.bands))
    teacher_part, student_part = (callbacks.part(0.05, 0.35), callbacks.part(0.35, 1.0)) if distil else \
        (None, callbacks.part(0.05, 1.0))
    teacher = None
    if distil:
        callbacks.log(f"Training the teacher autoencoder ({teacher_config.bottleneck_width}-channel "
                      f"bottleneck) on the clear patches.")
        teacher = train_teacher(data.samples.clear, dataclasses.replace(
            config, epochs=max(1, request.epochs // 2)), teacher_part.progress,
            callbacks.is_cancelled, callbacks.log, net_config=teacher_config).model
    else:
        callbacks.log(f"Only {len(data.samples)} samples: the student is trained without a "
                      f"teacher (distillation needs {MIN_DISTILLATION_SAMPLES}).")
    if request.architecture == "lite":
        result = train_student(data.samples, config, teacher, big_net, student_part.progress,
                               callbacks.is_cancelled, callbacks.log)
    else:
        result = train_dehazer(data.samples, config, teacher, student_part.progress,
                               callbacks.is_cancelled, callbacks.log,
                               net_config=KTDNConfig(bands=data.bands))
    sources = [s for s, used in ((f"ktdn_teacher trained in the same run "
                                  f"({teacher_config.bottleneck_width}-channel bottleneck)", teacher),
                                 (big_name, big_net)) if used is not None]
    return write_trained_model(request, result, card_for(result, data, request, " + ".join(sources)),
                               callbacks.log)


def card_for(result: TrainResult, data: TrainingData, request: DehazeTrainingRequest,
             teacher_name: str, metrics: dict | None = None) -> ModelCard:
    """The model card of a freshly trained dehazing model (`metrics` replace the validation
    metrics of the training run when given, e.g. scores on held-out images)."""
    return trained_card(
        result, request, TASK, input_bands={"image": data.band_names}, scaling=None,
        gsd=data.gsd, tile_size=512, overlap=32, teacher=teacher_name,
        training_data=training_sources(data.names),
        metrics=metrics if metrics is not None else validation_metrics(result.metrics),
        description=request.description or
        f"{result.architecture} trained on {len(data.names)} image(s) with synthetic haze, "
        f"{data.patch_size}-pixel patches; input scaled by the hazy scene's 99.5th percentile "
        f"of all bands (low 0).")
