"""Seeds in, finished images out: generate (batches of 32 seeds) -> resize -> watermark -> XMP -> C2PA sign -> registry.

This is the API the CLI (`nonesuch generate`) and the live server share:

    producer = Producer("runs/emoji", size=256, fmt="jpg")          # loads the EMA generator once
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

import contextlib
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np

import nonesuch
from nonesuch.generate.about import training_data
from nonesuch.generate.finish import Finisher, FinishPool, FinishSettings
from nonesuch.generate.sampling import check_truncation
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.keys import default_keys, watermark_config
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry, watermark_id_for
from nonesuch.provenance.xmp import FORMATS

log = logging.getLogger("nonesuch.generate")

BATCH_SIZE = 32          # seeds per pipeline batch (one registry transaction)
GENERATOR_BATCH = 16     # latents per generator call, always this many (see _generate_fixed_shape)
PROCESS_POOL_MIN = 128   # images in one call from which worker processes pay off (bench_generate.py)


@dataclass
class ProducedImage:
    data: bytes          # the finished file
    media_type: str      # "image/png" | "image/jpeg" | "image/webp"
    extension: str       # "png" | "jpg" | "webp"
    record: dict         # GenerationRecord.to_json(), including watermark_id, seed, sha256


class Producer:
    """Holds the loaded generator, signer and registry, so producing an image costs only the work
    for that image. Raises CheckpointError (bad run/checkpoint) or ProvenanceError (missing keys,
    unknown class or format) from the constructor, before any work is done.

    class_name: None on a conditional run means classes take turns by seed (seed mod classes).
    truncation: psi in (0, 1] pulls G's first features towards their mean (networks.py); None off.
    registry / keys: default to the ones in nonesuch_home(). threads: cores to use (default:
    all); the generator gets half of them as torch threads. processes: finish images in worker
    processes: None = from the first call of PROCESS_POOL_MIN or more images on, True = always,
    False = never (threads in this process). Close it (or use `with`) to stop the workers.
    amp: the generator's precision: "auto" (bf16 on CPUs with bf16 kernels, else fp32), "bf16",
    "off" (fp32). `precision` says which one it runs.
    """

    def __init__(self, run_dir, checkpoint=None, size: int = 256, fmt: str = "jpg",
                 truncation: float | None = None, class_name: str | None = None,
                 sign: bool = True, register: bool = True, registry: Registry | None = None,
                 keys=None, threads: int | None = None, processes: bool | None = None,
                 amp: str = "auto", device: str = "cpu"):
        import torch

        from nonesuch.gan.checkpoint import load_generator
        from nonesuch.gan.distributed import choose_device

        if fmt not in FORMATS:
            raise ProvenanceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if amp not in ("auto", "bf16", "off"):
            raise ProvenanceError(f"--amp {amp!r}: choose auto, bf16 or off")
        if size < 64:
            raise ProvenanceError(f"--size {size} is too small: the watermark cannot be read "
                                  "below 64 px (use 128 or more)")
        try:
            check_truncation(truncation)
        except ValueError as error:
            raise ProvenanceError(str(error)) from None
        try:
            self.device = choose_device(device)       # the generator's; the finish is always CPU work
        except (ValueError, RuntimeError) as error:
            raise ProvenanceError(f"--device {device}: {error}") from None
        self.loaded = load_generator(run_dir, checkpoint=checkpoint, device=str(self.device))
        self.label = class_index(self.loaded.class_names, class_name)
        self.training_data = training_data(run_dir)       # trained_on, licence, attribution
        self.size, self.fmt, self.truncation, self.class_name = size, fmt, truncation, class_name
        self.media_type = FORMATS[fmt]
        self.threads = threads or os.cpu_count() or 1
        # Half the cores run the generator; the finish can use all of them. Giving torch every
        # core as well oversubscribes: its OpenMP threads spin at barriers while the finish
        # holds the cores, measured 2-4x slower on 2 busy cores (bench_generate.py).
        torch.set_num_threads(max(1, self.threads // 2))
        # bf16 where the CPU has bf16 kernels: G runs 1.7x faster (4.9 -> 2.8 ms an image at
        # 32 px) and its output moves by 0.36 grey levels on average (p99 3), which nobody sees.
        from nonesuch.gan.train import amp_dtype
        self.amp_dtype = amp_dtype(amp, self.device)
        self.precision = "fp32" if self.amp_dtype is None else "bf16"
        keys = keys or default_keys()
        self.finish_settings = FinishSettings(
            fmt=fmt, size=size, sign=sign, keys_folder=str(keys.folder), version=nonesuch.__version__,
            watermark=watermark_config(keys))                 # this install's secret key
        self.finisher = Finisher(self.finish_settings)      # also fails early on missing keys
        self.registry = (registry or Registry()) if register else None
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
        pending = None                  # (records, pixels, futures) of the batch being finished
        for start in range(0, len(seeds), batch_size):
            batch = seeds[start:start + batch_size]
            pixels = self.native_pixels(batch)               # [B, R, R, 3]; resized when finished
            if pending is not None:
                yield self._collect(*pending)
            records = [self._record(seed) for seed in batch]
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
                data, record.sha256 = future.result()
            except BrokenProcessPool as error:        # redo here what the dead worker had
                self._stop_workers_after(error)
                data, record.sha256 = self.finisher.finish(image, record)
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
        from nonesuch.generate.sampling import resize_lanczos

        return resize_lanczos(self.native_pixels(seeds), self.size)

    def native_pixels(self, seeds: list[int]) -> np.ndarray:
        """[N, R, R, 3] uint8: the generator's output at its own resolution R."""
        import torch

        from nonesuch.generate.sampling import latents_for_seeds, to_uint8

        z = latents_for_seeds(seeds, self.loaded.latent_dim).to(self.device)   # [N, D], drawn on CPU
        classes = [self._class_of(seed) for seed in seeds]
        labels = None if classes[0] is None else torch.tensor(classes, dtype=torch.int64, device=self.device)  # [N]
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            images = torch.cat([self._generate_fixed_shape(z[i:i + GENERATOR_BATCH],
                                                           None if labels is None else labels[i:i + GENERATOR_BATCH])
                                for i in range(0, len(seeds), GENERATOR_BATCH)])  # [N, 3, R, R]
        return to_uint8(images.float().cpu())

    def _generate_fixed_shape(self, z, labels):
        """G on exactly GENERATOR_BATCH latents, padding a short batch with zeros.

        A CPU kernel may sum in a different order for another batch shape (measured: half of all
        seeds off by one grey level between batch 1 and 32), and "same seed, same image" should
        hold to the bit. With one fixed shape every image is computed the same way wherever it
        sits in the batch (tested), and batching is ~1.4x faster than one latent per call."""
        import torch

        count = len(z)
        if count < GENERATOR_BATCH:
            z = torch.cat([z, z.new_zeros(GENERATOR_BATCH - count, z.shape[1])])
            if labels is not None:
                labels = torch.cat([labels, labels.new_zeros(GENERATOR_BATCH - count)])
        return self.loaded.generator(z, labels, truncation=self.truncation)[:count]

    def _class_of(self, seed: int) -> int | None:
        """The class index for `seed`: --class if given; for a conditional run without --class,
        classes take turns (seed mod number of classes), so a seed range covers every class."""
        if self.label is not None or not self.loaded.class_names:
            return self.label
        return int(seed) % len(self.loaded.class_names)

    def _record(self, seed: int) -> GenerationRecord:
        class_index = self._class_of(seed)
        class_name = None if class_index is None else self.loaded.class_names[class_index]
        return GenerationRecord(
            run=Path(self.loaded.run_dir).name, checkpoint=Path(self.loaded.checkpoint_path).parent.name,
            checkpoint_sha256=self.loaded.checkpoint_sha256, seed=int(seed),
            class_name=class_name, truncation=self.truncation, size=self.size,
            format=self.fmt, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            watermark_id=watermark_id_for(self.loaded.checkpoint_sha256, seed, class_name,
                                          self.truncation),
            signed=self.finisher.signer is not None, nonesuch_version=nonesuch.__version__,
            **self.training_data)

    def close(self) -> None:
        """Stops the worker processes and threads (waiting for images in progress) and closes
        the registry. Safe to call twice."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None
        self._threads.shutdown(cancel_futures=True)
        if self.registry is not None:
            self.registry.close()

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def class_index(class_names: list[str] | None, class_name: str | None) -> int | None:
    if class_name is None:
        return None
    if not class_names:
        raise ProvenanceError(f"--class {class_name!r}: this run is unconditional (no classes)")
    if class_name not in class_names:
        raise ProvenanceError(f"--class {class_name!r} is not a class of this run; "
                              f"choose one of {', '.join(class_names)}")
    return class_names.index(class_name)
