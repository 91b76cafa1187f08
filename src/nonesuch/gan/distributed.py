"""Data-parallel training under torchrun, one process per GPU (or per CPU share, on gloo).

Every process holds the full networks and trains on its slice of the global batch; after each
backward the gradients are averaged across processes, so every process takes the same Adam step
and the weights stay identical. We all-reduce gradients ourselves instead of wrapping the networks
in DistributedDataParallel: the gradient penalty differentiates D twice, which DDP's hooks do not
support, and the explicit reduction keeps each training step readable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nonesuch.cpus import usable_cpu_count, usable_cpus


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


def cpu_threads() -> int:
    """Threads for CPU training: OMP_NUM_THREADS if set, else one per core not already busy.

    One per core is fastest on an idle machine, but OpenMP's threads spin-wait for each other, and
    on a machine where other processes hold the cores a 2-thread step was measured 3-30x slower
    than a 1-thread one (benchmarks/bench_train.py). How busy the cores are is sampled now, from
    /proc/stat over a quarter second: the 1-minute load average used before still counted a job
    that had ended a minute ago, and gave 1 of 2 cores to a run on an idle machine.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cpus = usable_cpus()
    return max(1, min(len(cpus), len(cpus) - round(busy_cores(cpus))))


def busy_cores(cpus: list[int], seconds: float = 0.25) -> float:
    """How many of these CPUs other work is using right now: their non-idle share over `seconds`;
    the load average where /proc/stat does not exist."""
    first = _cpu_times(cpus)
    if first is None:
        return float(os.getloadavg()[0])
    time.sleep(seconds)
    second = _cpu_times(cpus)
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])       # idle + iowait
    return 0.0 if total <= 0 else len(cpus) * (1 - idle / total)


def _cpu_times(cpus: list[int]) -> list[int] | None:
    """/proc/stat's 'cpuN' lines of these CPUs, summed: user nice system idle iowait irq softirq steal."""
    wanted = {f"cpu{c}" for c in cpus}
    try:
        with open("/proc/stat") as stat:
            rows = [[int(v) for v in line.split()[1:9]] for line in stat if line.split(maxsplit=1)[0] in wanted]
    except (OSError, ValueError, IndexError):
        return None
    return [sum(column) for column in zip(*rows)] if rows else None


def setup(device_name: str) -> Placement:
    """Join the torchrun process group if launched by torchrun, else a single process."""
    device = choose_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Placement(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":
        # Processes sharing one machine's cores must not each start a thread per core.
        torch.set_num_threads(max(1, usable_cpu_count() // int(os.environ.get("LOCAL_WORLD_SIZE", world_size))))
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
    if placement.world_size > 1:
        dist.barrier()


def teardown(placement: Placement) -> None:
    if placement.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
