"""Decode on every core, results in input order, and survive a decoder that crashes.

    DecoderPool(workers, options).results(tasks) -> (entry, outcome) in the order of `tasks`
        outcome: ('ok', pixels [R, R, 3] uint8, sha256, phash, width, height, mode)
                 ('rejected', reason)

Tasks go out in chunks, with a bounded number of chunks and of payload bytes in flight, so
reading a large archive never runs far ahead of decoding (memory stays flat, however large the
members). Workers die with the main process (PR_SET_PDEATHSIG): a SIGKILLed ingest leaves no
decoder behind. If a worker process dies (a C decoder
crashing on a hostile file), the chunks in flight are retried one file at a time in a fresh
pool; the file that kills it again is rejected and the run carries on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image

from nonesuch.data.decode import DecodeOptions, RejectedImage, read_and_decode
from nonesuch.data.dedupe import perceptual_hash
from nonesuch.data.sources import SourceEntry

Task = tuple[SourceEntry, bytes | Path | str]  # payload: member bytes, file path, or a reason
Result = tuple[SourceEntry, tuple]

CRASH_REASON = "crashed the image decoder (a worker process died reading it)"
STALL_REASON = "stalled the image decoder (no result in time; its worker was killed)"

# ---- worker side ------------------------------------------------------------------------------

_options: DecodeOptions | None = None
_max_bytes = 0


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when the process that forked it dies. Without it a
    SIGKILLed ingest leaves its workers blocked on the task queue for a minute or more."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl (an unusual libc): workers still exit when the pool's pipes close
    if os.getppid() != parent_pid:  # the parent died before the request was in place
        os._exit(1)


def _init_worker(options: DecodeOptions, max_bytes: int, parent_pid: int) -> None:
    global _options, _max_bytes
    _options, _max_bytes = options, max_bytes
    die_with_parent(parent_pid)
    # Ctrl-C goes to the whole process group; only the main process should handle it (it stops
    # the pool and leaves the dataset at its last checkpoint), not every worker with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # decode.py applies --max-pixels itself, with a reason that names the option; Pillow's own
    # fixed limit would otherwise refuse files the user allowed.
    Image.MAX_IMAGE_PIXELS = None


def decode_task(task: Task) -> Result:
    entry, payload = task
    if isinstance(payload, str):
        return entry, ("rejected", payload)
    try:
        image = read_and_decode(payload, _options, _max_bytes)
    except RejectedImage as e:
        return entry, ("rejected", str(e))
    except Exception as e:  # a decoder bug on one hostile file must not end the run
        return entry, ("rejected", f"unreadable: {type(e).__name__}: {' '.join(str(e).split())}")
    return entry, ("ok", image.pixels, image.sha256, perceptual_hash(image.pixels),
                   image.width, image.height, image.mode)


def _payload_bytes(tasks: list[Task]) -> int:
    return sum(len(payload) for _, payload in tasks if isinstance(payload, bytes))


def _decode_chunk(tasks: list[Task]) -> list[Result]:
    return [decode_task(task) for task in tasks]


# ---- main side --------------------------------------------------------------------------------

WORKER_START_TIMEOUT_S = 120.0   # the first task: a worker that never starts fails loudly, not forever
WORKER_EXIT_TIMEOUT_S = 10.0
# No chunk back for this long: a worker is stuck, not slow (the largest image --max-pixels allows
# decodes in seconds). A forked worker can deadlock on a lock another thread of this process held
# at the fork (it hung the test suite in CI); such a pool is killed and its chunks retried in a
# fresh one, like a pool a crashing decoder broke.
STALL_TIMEOUT_S = 120.0


class DecoderPool:
    def __init__(self, workers: int, options: DecodeOptions, max_bytes: int,
                 chunk: int = 4, chunks_in_flight_per_worker: int = 4, max_bytes_in_flight: int = 64 << 20):
        self.workers, self.options, self.max_bytes = workers, options, max_bytes
        self.chunk = chunk  # small: results stream back steadily; large enough to cut IPC cost
        self.window = workers * chunks_in_flight_per_worker
        # Archive members travel as bytes: 16 chunks of 4 members of 500 MB would be 32 GB. A chunk
        # closes early at a quarter of the budget, so a few large members never travel together.
        self.max_bytes_in_flight = max_bytes_in_flight
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # fork: workers start in milliseconds and inherit the imported modules. With fork the
        # executor starts every worker on its first submit: do it now, before the caller starts
        # other threads (a progress bar), so no worker inherits a lock held by such a thread.
        executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_init_worker,
                                       initargs=(self.options, self.max_bytes, os.getpid()))
        executor.submit(int).result(timeout=WORKER_START_TIMEOUT_S)
        return executor

    def close(self) -> None:
        """Stop the workers. A forked child can deadlock before it runs any of our code, when
        another thread of this process held one of Python's own locks at the moment of the fork
        (seen once in the test suite: ingest hung in shutdown on such a worker). Every result has
        been collected by now, so a worker that does not exit in time is killed, not waited for."""
        self._stop(WORKER_EXIT_TIMEOUT_S)

    def _stop(self, grace_s: float) -> None:
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=grace_s)
            if process.is_alive():
                process.kill()
                process.join(timeout=WORKER_EXIT_TIMEOUT_S)

    def _restart(self) -> None:
        """A fresh pool in place of a broken or stuck one, whose workers are killed, not awaited."""
        self._stop(0.0)
        self._executor = self._start()


    def _next_chunk(self, tasks: Iterator[Task]) -> list[Task]:
        chunk: list[Task] = []
        for task in tasks:
            chunk.append(task)
            if len(chunk) == self.chunk or _payload_bytes(chunk) >= self.max_bytes_in_flight // 4:
                break
        return chunk

    def results(self, tasks: Iterable[Task]) -> Iterator[Result]:
        tasks = iter(tasks)
        in_flight: deque[tuple[list[Task], Future]] = deque()
        bytes_in_flight = 0
        while True:
            while (len(in_flight) < self.window and (not in_flight or bytes_in_flight < self.max_bytes_in_flight)
                   and (chunk := self._next_chunk(tasks))):
                in_flight.append((chunk, self._executor.submit(_decode_chunk, chunk)))
                bytes_in_flight += _payload_bytes(chunk)
            if not in_flight:
                return
            chunk, future = in_flight[0]
            try:
                done = future.result(timeout=STALL_TIMEOUT_S)
            except (BrokenProcessPool, TimeoutError):
                yield from self._isolate_crash([c for c, _ in in_flight])
                in_flight.clear()
                bytes_in_flight = 0
                continue
            in_flight.popleft()
            bytes_in_flight -= _payload_bytes(chunk)
            yield from done

    def _isolate_crash(self, chunks: list[list[Task]]) -> Iterator[Result]:
        """Retry every task that was in flight, one at a time, in a fresh pool."""
        self._restart()
        for task in (task for chunk in chunks for task in chunk):
            try:
                yield self._executor.submit(decode_task, task).result(timeout=STALL_TIMEOUT_S)
            except BrokenProcessPool:
                self._restart()
                yield task[0], ("rejected", CRASH_REASON)
            except TimeoutError:
                self._restart()
                yield task[0], ("rejected", STALL_REASON)
