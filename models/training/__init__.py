"""Losses and teacher -> student training loops, with progress/cancel/log callbacks.

`training`: the generic loop (`fit`), progress spans, `TrainResult`, `frozen_copy`.
`losses`: stage L1, output and feature distillation (with 1x1 adapters).
`train_pansharpen` / `scene_adaptation`: PSDNet with its ground-truth teacher, the lite student,
and run-time scene adaptation. `train_dehaze` / `dehaze_losses`: KTDN teacher autoencoder, knowledge
transfer, Laplacian-pyramid and Lab losses. `train_segmentation` / `ginet_losses`: GINet with
local affinity distillation. `train_classifier` / `class_centric` / `class_aware`: scene
classifiers with class-centric KD and class-aware self-distillation.
"""
