"""Training in several processes (`torchrun --nproc_per_node N`) with DistributedDataParallel.

`start_from_environment()` joins the process group torchrun describes (gloo on the CPU, nccl
when CUDA is available, each process on the GPU of its local rank). `fit` then trains the same
global batch as one process would: every process takes its share of each batch, and DDP
averages the gradients, so the loss curve matches a one-process run within float rounding
(within the noise of batch statistics for nets with batch normalization, which each process
takes over its share, and of random augmentations, which each process draws itself).
The batch loss runs inside the DDP-wrapped module (`ReplicatedLoss`), which is what lets DDP
synchronize gradients for the task-specific loss closures the trainers pass to `fit`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import InputError


@dataclass(frozen=True)
class Replicas:
    """This process's place among the training processes."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """Whether this process writes the results (rank 0)."""
        return self.rank == 0


def start_from_environment() -> Replicas | None:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR, MASTER_PORT); None when not started by torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return current()


def current() -> Replicas | None:
    """The replicas of the initialized process group, None without one (or with one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return Replicas(dist.get_rank(), dist.get_world_size())


def stop() -> None:
    """Leave the process group (at the end of a training script) once every process is done
    with it: a process that tears gloo down while another still talks to it can abort."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard(indices: torch.Tensor, replicas: Replicas) -> torch.Tensor:
    """This process's share of a global batch (every world_size-th sample from its rank)."""
    if len(indices) % replicas.world_size:
        raise InputError(f"A batch of {len(indices)} samples cannot be shared equally by "
                         f"{replicas.world_size} training processes; choose a batch size that is "
                         f"a multiple of the number of processes.")
    return indices[replicas.rank::replicas.world_size]


def mean_over_replicas(value: float, replicas: Replicas) -> float:
    """The mean of `value` over all processes."""
    tensor = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return float(tensor.item()) / replicas.world_size


def any_replica(flag: bool, replicas: Replicas) -> bool:
    """Whether `flag` is set in any process (so that all take the same decision)."""
    return mean_over_replicas(float(flag), replicas) > 0


class ReplicatedLoss(nn.Module):
    """A batch-loss closure as a module over `model`, for DistributedDataParallel to wrap."""

    def __init__(self, model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model = model
        self.batch_loss = batch_loss

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return self.batch_loss(indices)


def replicated(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor],
               replicas: Replicas) -> Callable[[torch.Tensor], torch.Tensor]:
    """`batch_loss` on this process's share of each global batch, with gradients averaged
    over the processes by DistributedDataParallel."""
    parameter = next(model.parameters())
    device_ids = [parameter.device] if parameter.is_cuda else None
    wrapped = DistributedDataParallel(ReplicatedLoss(model, batch_loss), device_ids=device_ids,
                                      find_unused_parameters=True)
    return lambda indices: wrapped(shard(indices, replicas))
