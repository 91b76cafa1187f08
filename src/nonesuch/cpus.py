"""How many CPUs this process may use: one answer for every stage.

The answer is the process's affinity mask (what `taskset`, a container's cpuset or a batch
scheduler allows), not os.cpu_count(), which counts the machine's CPUs whether or not this
process may run on them, and not how busy they are at this moment, which changes under a run's
feet and would make two runs of one command use different thread counts.

    usable_cpu_count()              # ingest's decode processes, curate's ONNX sessions,
                                    # generate's finish workers, training's threads all start here
    check_cpu_count("--threads", n) # a count a person typed: refused unless 1..usable_cpu_count()
    with torch_threads(2): ...      # torch's intra-op threads for this block only
    with blas_threads(1): ...       # numpy's and scikit-learn's BLAS/OpenMP threads, likewise
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from nonesuch.bounds import check_range


def usable_cpus() -> list[int]:
    """The ids of the CPUs this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))        # macOS, Windows: no affinity mask to read


def usable_cpu_count() -> int:
    """How many CPUs this process may run on; at least 1."""
    return max(1, len(usable_cpus()))


def check_cpu_count(option: str, count: int) -> None:
    """A count of threads or processes that each keep a CPU busy (--threads, --workers): from 1 to
    usable_cpu_count(); ValueError otherwise. More than the CPUs only makes them wait for each
    other, and a typo costs far more: torch.set_num_threads(100000) segfaults, and 100000 decode
    processes exhaust memory before the first image is read."""
    check_range(option, count, 1, usable_cpu_count(), " (the CPUs this process may use)")


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads, then restore the previous count.
    None leaves the count alone. torch's count is process-wide: a library that set it for good
    would change every other user of torch in the process."""
    import torch

    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Run the block with at most `count` BLAS/OpenMP threads (numpy's, scipy's and scikit-learn's),
    then restore them. For small problems on a shared machine: OpenBLAS's threads spin-wait for
    each other, so when another process holds the cores a 325 x 1280 logistic fit measured 0.27 s
    of CPU and 3.7 s wall with 2 threads, 0.024 s and 0.3 s with one (curate's classifier). The
    libraries are looked up on every call (a few milliseconds), so ones loaded late count too."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, count)):
        yield
