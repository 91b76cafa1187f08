"""Data-parallel training under torchrun, one process per GPU (or per CPU share, on gloo).

Every process holds the full networks and trains on its slice of the global batch; after each
backward the gradients are averaged across processes, so every process takes the same Adam step
and the weights stay identical. We all-reduce gradients ourselves instead of wrapping the networks
in DistributedDataParallel: the gradient penalty differentiates D twice, which DDP's hooks do not
support, and the explicit reduction keeps each training step readable.

One process group for the life of the process: it is created by the first train() and destroyed
at exit, not per train() call. Re-creating it (the smoke run trains, stops, and resumes in the
same processes) reused the first group's name, and with it the first group's addresses still
held in torchrun's store: a rank that looked a peer up before the peer had re-registered dialled
a socket that no longer existed and waited on it with no end (both ranks had printed "resuming").
Every wait for the other processes has a time limit, so a rank that is stuck or gone fails the
run with a message instead of hanging it.
"""

from __future__ import annotations

import atexit
import os
from datetime import timedelta
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nonesuch.cpus import usable_cpus


@dataclass(frozen=True)
class Placement:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    return device


# A count from the environment or a run's config.json is trusted up to here and no further:
# torch.set_num_threads(100000) segfaults, while an honest count from a bigger machine (resumed
# here with the same count, so the run continues exactly) is far below it.
MAX_THREADS = 256


def training_threads(requested: int = 0) -> int:
    """Threads for each training process: `requested` if > 0 (--threads, or the count saved in
    the run), else OMP_NUM_THREADS if set, else this process's share of the CPUs it may use.

    Never chosen from how busy the cores are: the thread count changes the order of floating-point
    sums inside convolutions, so it is part of a run's trajectory; choosing it from momentary load
    made a run resumed on a quieter (or busier) machine end with different weights. The count is
    saved in the run and reused on resume. On a shared machine pass --threads: OpenMP threads
    spin-wait for each other, and a 2-thread step on cores other processes hold was measured
    3-30x slower than a 1-thread one (benchmarks/bench_train.py).
    """
    if requested > 0:                 # --threads is checked at the CLI; a saved run's count is not
        return min(requested, MAX_THREADS)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return min(int(os.environ["OMP_NUM_THREADS"]), MAX_THREADS)
    # Processes sharing one machine's cores (torchrun) must not each start a thread per core.
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return max(1, len(usable_cpus()) // max(1, local_processes))




def collective_timeout() -> timedelta:
    """How long a process waits for the others at any collective: NONESUCH_DISTRIBUTED_TIMEOUT_S,
    default 15 minutes. It must outlast the longest thing one rank does alone while the others
    wait, which is rank 0's snapshot (grid, metric, checkpoint) before the barrier after it."""
    return timedelta(seconds=float(os.environ.get("NONESUCH_DISTRIBUTED_TIMEOUT_S", "900")))


def setup(device_name: str) -> Placement:
    """Join the torchrun process group if launched by torchrun (once per process; later calls
    reuse it), else a single process."""
    device = choose_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Placement(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=collective_timeout())
        atexit.register(_destroy_process_group)
    return Placement(device, rank, world_size)


def average_gradients(module: torch.nn.Module, placement: Placement) -> None:
    """Mean of every parameter's gradient over processes, in one flattened all-reduce."""
    if placement.world_size == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= placement.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def sum_over_processes(values: torch.Tensor, placement: Placement) -> torch.Tensor:
    """The element-wise sum of `values` over every process (itself when there is one)."""
    if placement.world_size == 1:
        return values
    values = values.to(placement.device)
    dist.all_reduce(values)
    return values.cpu()


def barrier(placement: Placement) -> None:
    """Wait for every process, at most collective_timeout(). On gloo a monitored barrier: rank 0
    fails naming the ranks that did not arrive, instead of every rank failing alike."""
    if placement.world_size == 1:
        return
    if dist.get_backend() == "gloo":
        dist.monitored_barrier(timeout=collective_timeout(), wait_all_ranks=True)
    else:
        dist.barrier()  # NCCL: bounded by the group's timeout (the watchdog aborts a stuck collective)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
