"""Counting a net's multiply-adds with forward hooks (conv, transposed conv, linear layers).

Only these layers are counted: they dominate every GeoDistill net, while activations,
attention products, pooling and interpolation are a few operations per element. FLOPs are
usually quoted as 2 x multiply-adds.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_multiply_adds(layer: nn.Conv2d, inputs: tuple, output: torch.Tensor) -> int:
    kernel = layer.kernel_size[0] * layer.kernel_size[1]
    return output.numel() * (layer.in_channels // layer.groups) * kernel


def _transposed_multiply_adds(layer: nn.ConvTranspose2d, inputs: tuple, output: torch.Tensor) -> int:
    # every input element is scattered through the kernel to out_channels / groups outputs
    kernel = layer.kernel_size[0] * layer.kernel_size[1]
    return inputs[0].numel() * (layer.out_channels // layer.groups) * kernel


def _linear_multiply_adds(layer: nn.Linear, inputs: tuple, output: torch.Tensor) -> int:
    return output.numel() * layer.in_features


_COUNTERS = {nn.Conv2d: _conv_multiply_adds, nn.ConvTranspose2d: _transposed_multiply_adds,
             nn.Linear: _linear_multiply_adds}


@torch.no_grad()
def count_multiply_adds(model: nn.Module, *inputs, **keyword_inputs) -> int:
    """Multiply-adds of the conv/linear layers in one `model(*inputs, **keyword_inputs)` call.

    The count covers the whole batch given; layers called several times are counted each time.
    """
    total = 0

    def hook(layer, layer_inputs, output):
        nonlocal total
        total += _COUNTERS[type(layer)](layer, layer_inputs, output)

    handles = [module.register_forward_hook(hook) for module in model.modules()
               if type(module) in _COUNTERS]
    try:
        model(*inputs, **keyword_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total
