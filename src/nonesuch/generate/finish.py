"""The per-image finish: watermark the pixels, encode with XMP, sign the file. In this process or
in a pool of worker processes.

    finisher = Finisher(FinishSettings(fmt="jpg", sign=True))     # loads the signing keys once
    data, sha256 = finisher.finish(pixels, record)                # [S, S, 3] uint8 -> file bytes

    with FinishPool(settings, workers=2) as pool:                 # one Finisher per process
        futures = [pool.submit(p, r) for p, r in zip(pixels, records)]

The resize to the output size happens here too, not in the generating process: it moves ~1 ms
an image off the one process that cannot be parallelised, and a 32 px image is 3 KB to send
to a worker where a 256 px one is 192 KB.

Why processes: the finish is ~10 ms of many small numpy/scipy calls per 256 px image, and a
thread pool cannot run those side by side (each call holds the GIL between its small kernels;
measured ~1.1x on 2 cores with threads). Worker processes scale with the cores. Each worker
builds its own ManifestSigner and watermark key pattern once, in its initializer, so a task
carries only pixels and a record in, file bytes and their sha256 out.

Workers are spawned, not forked: the parent holds torch's OpenMP threads and, in the live server,
an event loop; forking a threaded process can copy a held lock into the child. Workers ignore
SIGINT (Ctrl-C is the parent's to handle: it shuts the pool down) and exit on their own when the
parent dies, so no worker outlives it.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import objective_text
from nonesuch.provenance.watermark import WatermarkConfig
from nonesuch.provenance.xmp import FORMATS, XmpFields, encode_image, xmp_packet


@dataclass(frozen=True)
class FinishSettings:
    """Everything a worker needs to finish images; pickled once into each worker."""
    fmt: str                                   # png | jpg | webp
    size: int = 256                            # output side; smaller pixels are resized here
    sign: bool = True
    keys_folder: str | None = None             # signing keys; None = the default keys folder
    version: str = ""                          # nonesuch version, for the C2PA claim generator
    watermark: WatermarkConfig = field(default_factory=WatermarkConfig)


class Finisher:
    """Holds the signer and the watermark config, so finishing an image costs only its own work.
    Raises ProvenanceError from the constructor when signing keys are missing."""

    def __init__(self, settings: FinishSettings):
        self.settings = settings
        self.media_type = FORMATS[settings.fmt]
        self.signer = None
        if settings.sign:
            from pathlib import Path

            from nonesuch.provenance.c2pa_sign import ManifestSigner
            from nonesuch.provenance.keys import SigningKeys
            keys = SigningKeys(Path(settings.keys_folder)) if settings.keys_folder else None
            self.signer = ManifestSigner(keys, version=settings.version)

    def finish(self, pixels: np.ndarray, record: GenerationRecord) -> tuple[bytes, str, bytes]:
        """[R, R, 3] uint8 (the generator's native size, or already `size`) -> (the finished file,
        its sha256 hex, the registry's thumbnail of what it shows: provenance/content.py).
        Resize, watermark (pixels), XMP while encoding (container), signature last (it hashes
        the final bytes)."""
        from nonesuch.generate.sampling import resize_lanczos
        from nonesuch.provenance import watermark
        from nonesuch.provenance.content import thumbnail

        pixels = resize_lanczos(pixels[None], self.settings.size)[0]         # [S, S, 3]
        marked = watermark.embed(pixels, record.watermark_id, config=self.settings.watermark)
        data = self.sign(encode_image(marked, self.settings.fmt, xmp_for(record)), record)
        return data, hashlib.sha256(data).hexdigest(), thumbnail(marked)

    def sign(self, data: bytes, record: GenerationRecord) -> bytes:
        """The encoded file with its C2PA manifest (unchanged when signing is off)."""
        if self.signer is None:
            return data
        return self.signer.sign(data, self.media_type, record.watermark_id,
                                title=f"{record.seed}.{self.settings.fmt}",
                                generation=record.manifest_fields())


def xmp_for(record: GenerationRecord) -> bytes:
    return xmp_packet(XmpFields(
        ai_system_version=f"{record.run} / {record.checkpoint} ({record.checkpoint_sha256[:12]})",
        created=record.created,
        extra={"Seed": record.seed, "WatermarkID": record.watermark_hex,
               "ClassName": record.class_name, "Truncation": record.truncation,
               "Objective": objective_text(record.objective)}))


class FinishPool:
    """`workers` spawned processes, each with its own Finisher. Results come back through
    futures, so the caller keeps the order it submitted in."""

    def __init__(self, settings: FinishSettings, workers: int):
        import multiprocessing

        self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(settings,))
        # Start every worker now (each submit spawns one while none is idle), so their imports
        # (~0.3 s of CPU each) overlap with the caller generating its first batch.
        for _ in range(workers):
            self._executor.submit(_ready)

    def submit(self, pixels: np.ndarray, record: GenerationRecord) -> Future:
        return self._executor.submit(_finish_in_worker, pixels, record)

    def close(self) -> None:
        """Waits for the images being finished (a few ms each), drops the queued ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "FinishPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- inside a worker process -----------------------------------------------------------------

_worker_finisher: Finisher | None = None


def _start_worker(settings: FinishSettings) -> None:
    import signal
    import threading

    global _worker_finisher
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    _worker_finisher = Finisher(settings)


def _exit_with_parent() -> None:
    """A worker whose parent was killed (SIGKILL, OOM) would wait on its task queue forever:
    the queue's pipe has a writer in every worker, so it never reports end of file."""
    import multiprocessing
    import os
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(0)


def _ready() -> None:
    return None


def _finish_in_worker(pixels: np.ndarray, record: GenerationRecord) -> tuple[bytes, str, bytes]:
    return _worker_finisher.finish(pixels, record)
