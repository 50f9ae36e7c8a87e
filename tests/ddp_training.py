"""A few steps of `fit` on the lite pansharpening student with fixed synthetic data: run as
a script under torchrun (rank 0 writes the loss history as JSON to argv[1]) or called in one
process by the test."""
from __future__ import annotations

import json
import sys

import torch

from geodistill.models.training import distributed
from geodistill.models.training.training import ProgressSpan, fit
from geodistill.models.nets.pansharpen_lite import PansharpenLite, PansharpenLiteConfig

SAMPLES, VALIDATION, BATCH, EPOCHS = 16, 4, 4, 3


def loss_history() -> list[dict]:
    """The epoch losses of a short training run (the same data and start in every process)."""
    torch.manual_seed(0)
    pan = torch.rand(SAMPLES + VALIDATION, 1, 32, 32)
    ms = torch.nn.functional.avg_pool2d(pan.repeat(1, 4, 1, 1), 4) * torch.linspace(0.6, 1.2, 4).view(1, 4, 1, 1)
    target = torch.nn.functional.interpolate(ms, scale_factor=4, mode="bilinear") * (0.5 + pan)
    net = PansharpenLite(PansharpenLiteConfig(ms_bands=4, ratio=4, width=8, depth=1))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)

    def batch_loss(indices):
        return torch.nn.functional.l1_loss(net(ms[indices], pan[indices]), target[indices])

    held_out = torch.arange(SAMPLES, SAMPLES + VALIDATION)
    outcome = fit(net, optimizer, batch_loss, lambda: batch_loss(held_out),
                  torch.arange(SAMPLES), epochs=EPOCHS, batch_size=BATCH, patience=EPOCHS, seed=1,
                  span=ProgressSpan(None))
    return outcome.history


if __name__ == "__main__":
    torch.set_num_threads(1)
    replicas = distributed.start_from_environment()
    history = loss_history()
    if replicas is not None and replicas.is_main:
        with open(sys.argv[1], "w") as handle:
            json.dump({"world_size": replicas.world_size, "history": history}, handle)
    distributed.stop()
