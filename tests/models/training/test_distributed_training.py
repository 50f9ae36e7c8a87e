"""Training under torchrun with 2 CPU processes (gloo, DistributedDataParallel) follows the
loss curve of one process on the same global batch."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddp_training import loss_history
from geodistill.models.training.distributed import Replicas, shard
from geodistill.models.errors import InputError
from support import ROOT

TESTS = ROOT / "tests"


def test_each_process_takes_its_share_of_the_global_batch():
    batch = torch.arange(8)
    shares = [shard(batch, Replicas(rank, 2)).tolist() for rank in range(2)]
    assert shares == [[0, 2, 4, 6], [1, 3, 5, 7]]
    with pytest.raises(InputError, match="multiple of the number of processes"):
        shard(torch.arange(5), Replicas(0, 2))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_processes_give_the_one_process_loss_curve(tmp_path):
    torch.set_num_threads(1)
    single = loss_history()
    result = tmp_path / "history.json"
    torchrun = Path(sys.executable).parent / "torchrun"
    parent = str(Path(sys.modules["geodistill"].__file__).parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([parent, str(TESTS)]),
               MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1")
    command = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), str(TESTS / "ddp_training.py"), str(result)]
    # its own process group, so that a hung run is stopped with both of its training processes
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, errors[-3000:]
    data = json.loads(result.read_text())
    assert data["world_size"] == 2
    parallel = data["history"]
    assert [e["epoch"] for e in parallel] == [e["epoch"] for e in single] == [0, 1, 2, 3]
    for one, two in zip(single, parallel):
        for key in ("train_loss", "val_loss"):
            if one[key] is not None:
                assert two[key] == pytest.approx(one[key], rel=1e-4), (key, one, two)
    assert single[-1]["train_loss"] < single[1]["train_loss"]  # it did learn
