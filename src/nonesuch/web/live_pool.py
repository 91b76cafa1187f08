"""A small stock of freshly generated images, refilled in the background by batched generation.

Generating one image at a time per request would make every visitor wait for a whole forward
pass (and watermarking and signing); a batch of 16 costs little more than one. So a thread keeps
`capacity` images ready, generating whenever there is room for a batch, and a request takes the
oldest. Every image is handed out once: each visitor sees an image nobody else saw.

The thread reads one long `produce_batches` stream, which hands back each batch as soon as it is
finished while the generator already runs the next, and simply stops reading while the pool is
full: the generator and the finishing workers never wait for each other, which one `produce`
call per batch made them do.

The pool needs only an object with `produce(seeds: list[int]) -> list[ProducedImage]` (the
generate stage's Producer), each image having `data` (encoded bytes), `media_type`, `extension`
and `record` (its generation record); `produce_batches(seeds, batch_size)` yielding lists is used if present.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("nonesuch.web")

SEED_LIMIT = 2**31     # seeds stay in int32 range, which every generator accepts


class ImageProducer(Protocol):
    def produce(self, seeds: list[int]) -> list[Any]: ...
    # optional: def produce_batches(self, seeds: list[int], batch_size: int) -> Iterator[list[Any]]


class PoolEmpty(Exception):
    """No image became ready in time: the generator is slower than the requests."""


@dataclass(frozen=True)
class PoolConfig:
    capacity: int = 64          # images kept ready
    batch_size: int = 16        # images per generator call (the Producer's fixed batch shape)
    stream_seeds: int = 4096    # seeds per produce_batches stream (see _stream)
    error_backoff_s: float = 2.0


@dataclass
class PoolStats:
    produced: int = 0
    served: int = 0
    batches: int = 0
    generate_seconds: float = 0.0    # total time inside produce()
    errors: int = 0
    last_error: str | None = None


class LivePool:
    def __init__(self, producer: ImageProducer, config: PoolConfig = PoolConfig()):
        if config.batch_size < 1 or config.capacity < config.batch_size:
            raise ValueError(f"need 1 <= batch_size ({config.batch_size}) <= capacity ({config.capacity})")
        self.producer = producer
        self.config = config
        self.stats = PoolStats()
        self._ready: collections.deque = collections.deque()   # deque appends/pops are thread-safe
        self._room = threading.Event()          # set when a request made room for a batch
        self._stopping = threading.Event()
        # Distinct seeds from a random start: two visitors never get the same image.
        self._seeds = (s % SEED_LIMIT for s in itertools.count(secrets.randbelow(SEED_LIMIT)))
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restocked: asyncio.Event | None = None

    def start(self) -> None:
        """Start refilling; call from inside the event loop that will call take()."""
        self._loop = asyncio.get_running_loop()
        self._restocked = asyncio.Event()
        self._thread = threading.Thread(target=self._refill_forever, name="live-pool", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._room.set()
        if self._thread is not None:
            self._thread.join(timeout)   # a batch in progress finishes first

    async def take(self, timeout: float) -> Any:
        """The oldest ready image; waits up to `timeout` seconds for one, else PoolEmpty."""
        deadline = self._loop.time() + timeout
        while True:
            try:
                image = self._ready.popleft()
            except IndexError:
                # The refill thread sets `_restocked` through call_soon_threadsafe, which runs
                # on this loop only after we clear it below: a restock cannot be missed.
                self._restocked.clear()
                self._room.set()
                remaining = deadline - self._loop.time()
                try:
                    await asyncio.wait_for(self._restocked.wait(), max(remaining, 0))
                except TimeoutError:
                    raise PoolEmpty(f"no image ready within {timeout:g} s") from None
                continue
            self.stats.served += 1
            if self._has_room():
                self._room.set()
            return image

    def ready_count(self) -> int:
        return len(self._ready)

    def _has_room(self) -> bool:
        return self.config.capacity - len(self._ready) >= self.config.batch_size

    def _refill_forever(self) -> None:
        while not self._stopping.is_set():
            self._stream()

    def _wait_for_room(self) -> None:
        while not self._has_room() and self._ready and not self._stopping.is_set():
            self._room.wait(timeout=1.0)
            self._room.clear()

    def _stream(self) -> None:
        """Generate a long run of seeds as one stream of batches, pausing between batches while
        the pool is full. One stream keeps the generator and the finishing workers overlapped
        from batch to batch; a new `produce_batches` call per refill drained that pipeline
        every time (bench_serve.py, 16 clients flat out: p99 317 ms that way, 262 ms this way)."""
        seeds = [next(self._seeds) for _ in range(self.config.stream_seeds)]
        stream = self._batches(seeds)
        started = time.perf_counter()
        try:
            for images in stream:
                self.stats.generate_seconds += time.perf_counter() - started
                self.stats.batches += 1
                self.stats.produced += len(images)
                self._ready.extend(images)
                if not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._restocked.set)
                self._wait_for_room()
                if self._stopping.is_set():
                    break
                started = time.perf_counter()
        except Exception as error:    # keep serving what is ready; log and try again later
            self.stats.errors += 1
            self.stats.last_error = f"{type(error).__name__}: {error}"
            log.exception("generating seeds %d..%d failed", seeds[0], seeds[-1])
            self._stopping.wait(self.config.error_backoff_s)
        finally:
            stream.close()

    def _batches(self, seeds: list[int]):
        produce_batches = getattr(self.producer, "produce_batches", None)
        if produce_batches is not None:
            yield from produce_batches(seeds, self.config.batch_size)
        else:
            for start in range(0, len(seeds), self.config.batch_size):
                yield self.producer.produce(seeds[start:start + self.config.batch_size])
