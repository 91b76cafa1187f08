"""Seeds in, finished images out: generate (Generator.sample, batches of 32 seeds) -> resize -> watermark -> XMP -> C2PA sign -> registry.

This is the API the CLI (`nonesuch generate`) and the live server share:

    producer = Producer("smileys32", size=256, fmt="jpg")           # loads the generator once
    for image in producer.produce([0, 1, 2]):
        image.data            # bytes of the finished file (watermarked, XMP, signed)
        image.media_type      # "image/jpeg"
        image.extension       # "jpg"
        image.record          # the generation record: run, checkpoint_sha256, seed, class_name,
                              # truncation, size, format, watermark_id, watermark_hex, sha256, ...

Order matters: the watermark goes into the pixels, XMP into the container while encoding, and the
C2PA signature last, because it hashes the final bytes. The registry row is written (one
transaction per batch) before a batch is handed out, so every image a caller can see is
traceable.

Parallelism: the generator runs batched in this process (torch threads); the per-image finish
(resize, watermark, encode, sign; finish.py) runs in worker processes, which scale with the cores where
threads did not (the GIL), and overlaps with generating the next batch. A call for fewer than
PROCESS_POOL_MIN images while no pool is running uses threads in this process instead: spawning
workers (~0.25 s of CPU each to import numpy, scipy and c2pa) costs more than it saves on a few
images. Once started, the pool serves every later call until close().

The watermark uses this install's secret key (keys.py); the workers get it through their
initializer, never through a file or an output.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Iterator

import numpy as np

import nonesuch
from nonesuch.cpus import torch_threads, usable_cpu_count
from nonesuch.gan.sampling import check_truncation
from nonesuch.generate.errors import GenerateError
from nonesuch.generate.finish import Finisher, FinishPool, FinishSettings
from nonesuch.generate.records import generation_record
from nonesuch.generate.sampling import MIN_WATERMARKED_SIZE, resize_lanczos
from nonesuch.generate.screen import SCREEN_FILE, load_screen
from nonesuch.provenance.keys import default_keys, watermark_config
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.xmp import FORMATS

log = logging.getLogger("nonesuch.generate")

BATCH_SIZE = 32          # seeds per pipeline batch (one registry transaction)
PROCESS_POOL_MIN = 128   # images in one call from which worker processes pay off (bench_generate.py)


@dataclass
class ProducedImage:
    data: bytes          # the finished file
    media_type: str      # "image/png" | "image/jpeg" | "image/webp"
    extension: str       # "png" | "jpg" | "webp"
    record: dict         # GenerationRecord.to_json(), including watermark_id, seed, sha256


class Producer:
    """Holds the loaded generator, signer and registry, so producing an image costs only the work
    for that image. Raises CheckpointError (bad generator or checkpoint), GenerateError (unknown
    class, format or precision, a size too small) or ProvenanceError (missing keys) from the
    constructor, before any work is done.

    source: a Generator, or what load_generator accepts (a shipped name, an exported folder, a
    RUN). class_name: None on a conditional generator means classes take turns by seed (seed mod
    classes). truncation: psi in (0, 1] pulls G's first features towards their mean
    (networks.py); None off. registry / keys: default to the ones in nonesuch_home().
    threads: the CPUs this producer may use (default: all this process may use, cpus.py); the
    generator runs with half of them as torch threads, the finish on all of them. processes:
    finish images in worker processes: None = from the first call of PROCESS_POOL_MIN or more
    images on, True = always, False = never (threads in this process). Close it (or use `with`)
    to stop the workers. amp: the generator's precision: "auto" (bf16 on CPUs with bf16
    kernels, else fp32), "bf16", "off" (fp32). `precision` says which one it runs.
    """

    def __init__(self, source, checkpoint=None, size: int = 256, fmt: str = "jpg",
                 truncation: float | None = None, class_name: str | None = None,
                 sign: bool = True, register: bool = True, registry: Registry | None = None,
                 keys=None, threads: int | None = None, processes: bool | None = None,
                 amp: str = "auto", device: str = "cpu", screen: bool | None = None):
        import torch

        from nonesuch.gan.distributed import choose_device
        from nonesuch.gan.generator import Generator, load_generator
        from nonesuch.gan.precision import amp_dtype, precision_name

        check_settings(size, fmt, truncation, amp)
        try:
            generator_device = str(choose_device(device))   # the generator's; the finish is always CPU work
        except (ValueError, RuntimeError) as error:
            raise GenerateError(str(error), option="device") from None
        self.generator = (source if isinstance(source, Generator)
                          else load_generator(source, checkpoint, device=generator_device))
        try:
            self.generator.class_index(class_name)
        except ValueError as error:
            raise GenerateError(str(error), option="class") from None
        self.size, self.fmt, self.truncation, self.class_name = size, fmt, truncation, class_name
        self.media_type = FORMATS[fmt]
        self.threads = threads or usable_cpu_count()
        # Half the CPUs run the generator; the finish can use all of them. Giving torch every
        # CPU as well oversubscribes: its OpenMP threads spin at barriers while the finish
        # holds the cores, measured 2-4x slower on 2 busy cores (bench_generate.py).
        self.generator_threads = max(1, self.threads // 2)
        # bf16 where the CPU has bf16 kernels: G runs 1.7x faster (4.9 -> 2.8 ms an image at
        # 32 px) and its output moves by 0.36 grey levels on average (p99 3), which nobody sees.
        self.amp = amp
        self.precision = precision_name(amp_dtype(amp, self.generator.device))
        keys = keys or default_keys()
        self.finish_settings = FinishSettings(
            fmt=fmt, size=size, sign=sign, keys_folder=str(keys.folder), version=nonesuch.__version__,
            watermark=watermark_config(keys))                 # this install's secret key
        self.finisher = Finisher(self.finish_settings)      # also fails early on missing keys
        self.screen = None if screen is False else load_screen(self.generator.folder)
        if screen and self.screen is None:
            raise GenerateError(f"{self.generator.folder}: has no {SCREEN_FILE} to screen samples with "
                                f"(shipped and exported generators can carry one); draw without the screen",
                                option="screen")
        self.registry = (registry if registry is not None else Registry()) if register else None
        self.processes = processes
        self._threads = ThreadPoolExecutor(self.threads)
        self._workers: FinishPool | None = None

    def produce(self, seeds: list[int]) -> list[ProducedImage]:
        return [image for batch in self.produce_batches(seeds) for image in batch]

    def produce_batches(self, seeds: list[int], batch_size: int = BATCH_SIZE) -> Iterator[list[ProducedImage]]:
        """Yields finished batches of `batch_size` in order. While the workers finish batch k
        (resize, watermark, encode, sign), the generator already runs batch k+1, so neither
        waits for the other. Smaller batches hand out their first images sooner (the live
        server uses 16); larger ones mean fewer registry transactions."""
        if self._workers is None and (self.processes is True or
                                      (self.processes is None and len(seeds) >= PROCESS_POOL_MIN)):
            self._workers = FinishPool(self.finish_settings, self.threads)
        # The generator's thread count for the whole stream, not per batch: changing torch's
        # count resizes its OpenMP pool (~ms), a few percent of a 16-image batch.
        with torch_threads(self.generator_threads):
            pending = None              # (records, pixels, futures) of the batch being finished
            for start in range(0, len(seeds), batch_size):
                batch = seeds[start:start + batch_size]
                pixels, attempts = self._draw(batch)         # [B, R, R, 3]; resized when finished
                if pending is not None:
                    yield self._collect(*pending)
                records = [self._record(seed, attempt) for seed, attempt in zip(batch, attempts)]
                pending = (records, pixels, [self._submit(p, r) for p, r in zip(pixels, records)])
            if pending is not None:
                yield self._collect(*pending)

    def _submit(self, pixels: np.ndarray, record: GenerationRecord) -> Future:
        """Finish one image in the worker processes if there are any, else on a thread here."""
        if self._workers is not None:
            try:
                return self._workers.submit(pixels, record)
            except BrokenProcessPool as error:
                self._stop_workers_after(error)
        return self._threads.submit(self.finisher.finish, pixels, record)

    def _collect(self, records: list[GenerationRecord], pixels: np.ndarray,
                 futures: list[Future]) -> list[ProducedImage]:
        produced = []
        for record, image, future in zip(records, pixels, futures):
            try:
                data, record.sha256, record.content = future.result()
            except BrokenProcessPool as error:        # redo here what the dead worker had
                self._stop_workers_after(error)
                data, record.sha256, record.content = self.finisher.finish(image, record)
            produced.append(ProducedImage(data, self.media_type, self.fmt, record.to_json()))
        if self.registry is not None:
            self.registry.add(records)            # one transaction per batch
        return produced

    def _stop_workers_after(self, error: BrokenProcessPool) -> None:
        """A worker died (killed, out of memory, or it could not start: spawn re-imports the
        caller's main script, which fails for code read from stdin and re-runs a script's
        top level without `if __name__ == "__main__":`). Carry on with threads."""
        if self._workers is None:
            return
        log.warning("finish workers stopped (%s); finishing images on threads in this process "
                    "from now on", error)
        self._workers.close()
        self._workers, self.processes = None, False

    def pixels(self, seeds: list[int]) -> np.ndarray:
        """[N, size, size, 3] uint8: the generator's output, resized, before any marking."""
        return resize_lanczos(self.native_pixels(seeds), self.size)

    def native_pixels(self, seeds: list[int]) -> np.ndarray:
        """[N, R, R, 3] uint8: the generator's output at its own resolution R (Generator.sample),
        through the screen when there is one."""
        return self._draw(seeds)[0]

    def _draw(self, seeds: list[int]) -> tuple[np.ndarray, list[int | None]]:
        """(pixels, each seed's screen attempt: None without a screen)."""
        generator = self.generator
        labels = generator.labels_for_seeds(seeds, self.class_name)

        def sample(z, rows=None):
            rows_labels = labels if labels is None or rows is None else labels[rows]
            return generator.sample(z.to(generator.device), rows_labels, self.truncation, self.amp,
                                    threads=self.generator_threads)

        if self.screen is None:
            return sample(generator.latents(seeds)), [None] * len(seeds)
        pixels, attempts, _ = self.screen.draw(sample, seeds, generator.latent_dim)
        return pixels, attempts

    def _record(self, seed: int, attempt: int | None = None) -> GenerationRecord:
        return generation_record(self.generator, seed, size=self.size, fmt=self.fmt,
                                 class_name=_class_name(self.generator, seed, self.class_name),
                                 truncation=self.truncation, signed=self.finisher.signer is not None,
                                 screen_attempt=attempt)

    def close(self) -> None:
        """Stops the worker processes and threads (waiting for images in progress) and closes
        the registry. Safe to call twice."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None
        self._threads.shutdown(cancel_futures=True)
        if self.screen is not None:
            self.screen.close()
        if self.registry is not None:
            self.registry.close()

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_settings(size: int, fmt: str, truncation: float | None, amp: str) -> None:
    """GenerateError, naming the setting, for what no generator could honour."""
    if fmt not in FORMATS:
        raise GenerateError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", option="format")
    if size < MIN_WATERMARKED_SIZE:
        raise GenerateError(f"size {size} is too small: the watermark cannot be read below "
                            f"{MIN_WATERMARKED_SIZE} px (use 128 or more)", option="size")
    check_sampling(truncation, amp)


def check_sampling(truncation: float | None, amp: str) -> None:
    """GenerateError for a truncation or a precision the generator cannot sample with."""
    if amp not in ("auto", "bf16", "off"):
        raise GenerateError(f"precision {amp!r}: choose auto, bf16 or off", option="amp")
    try:
        check_truncation(truncation)
    except ValueError as error:
        raise GenerateError(str(error), option="truncation") from None


def _class_name(generator, seed: int, class_name: str | None) -> str | None:
    label = generator.label_for_seed(seed, class_name)
    return None if label is None else generator.class_names[label]
