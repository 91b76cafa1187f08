"""`nonesuch ingest`: a messy pile of images becomes a clean multi-resolution dataset.

    list_entries(SRC...)        names, in a fixed order (sources.py)
      -> skip what an earlier run already handled (resume)
      -> read_entries           bytes of archive members / paths of files
      -> DecoderPool            decode_square + sha256 + pHash on every core (decode_pool.py)
      -> in order               exact / near duplicate?  -> DatasetWriter.duplicate
                                rejected?               -> DatasetWriter.reject
                                else                    -> batch -> DatasetWriter.append

Results come back in input order, and every decision depends only on the entries
before it, so the dataset's order and contents are the same however many workers ran, and an
interrupted run re-run with the same arguments ends with the same bytes as one clean run.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import ImageColor

from nonesuch.bounds import check_range
from nonesuch.cpus import usable_cpu_count
from nonesuch.data.dataset import DatasetError, DatasetWriter, ImageRecord, _read_meta, resolutions_up_to
from nonesuch.data.decode import DecodeOptions
from nonesuch.data.decode_pool import DecoderPool
from nonesuch.data.dedupe import NearDuplicateIndex, hash_to_hex
from nonesuch.data.sources import (MAX_IMAGE_FILE_BYTES, ReadLimits, SourceEntry, SourceError, list_entries,
                                   read_entries)
from nonesuch.names import printable
from nonesuch.progress import progress_bar


@dataclass(frozen=True)
class IngestConfig:
    resolution: int = 128          # largest stored side; every power of two from 4 up is stored
    crop: str = "center"           # 'center' | 'pad'
    background: str = "white"      # what transparency is composited over (and pad fills with)
    min_size: int | None = None    # reject if the squared side is shorter; default resolution // 2
    labels_from: str = "folder"    # 'folder': the parent folder's name; 'none'
    dedupe: str = "exact"          # 'exact' (sha256) | 'near' (also perceptual hash)
    near_distance: int = 6         # pHash bits that may differ for a near duplicate
    max_pixels: int = 89_478_485   # width x height above which a file is a decompression bomb
    max_file_bytes: int = MAX_IMAGE_FILE_BYTES  # larger files and archive members are refused unread
    workers: int | None = None     # decode processes; default: the CPUs this process may use
    batch_size: int = 256          # files decided per checkpoint (one append + their rows)

    def resolved(self) -> IngestConfig:
        """Defaults filled in and every field checked; raises DatasetError naming the option."""
        resolutions_up_to(self.resolution)
        if self.crop not in ("center", "pad"):
            raise DatasetError(f"--crop must be 'center' or 'pad', not {self.crop!r}")
        if self.labels_from not in ("folder", "none"):
            raise DatasetError(f"--labels-from must be 'folder' or 'none', not {self.labels_from!r}")
        if self.dedupe not in ("exact", "near"):
            raise DatasetError(f"--dedupe must be 'exact' or 'near', not {self.dedupe!r}")
        background_rgb(self.background)
        try:
            if self.min_size is not None:
                check_range("--min-size", self.min_size, 0, unit=" px")
            check_range("--near-distance", self.near_distance, 0, 64, " bits (of the 64-bit pHash)")
            check_range("--max-pixels", self.max_pixels, 1)
        except ValueError as e:
            raise DatasetError(str(e)) from None
        return replace(
            self,
            min_size=self.resolution // 2 if self.min_size is None else self.min_size,
            workers=self.workers or usable_cpu_count(),
        )

    def identity(self) -> dict:
        """The fields that decide the dataset's contents (not how fast it is made)."""
        fields = asdict(self)
        for speed_only in ("workers", "batch_size"):
            fields.pop(speed_only)
        return fields


def background_rgb(name: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(name)[:3]
    except ValueError as e:
        raise DatasetError(f"--background {name!r} is not a colour (try white, black, #808080)") from e


@dataclass
class IngestSummary:
    out: str
    ingested: int = 0                   # images added by this run
    rejected: list[dict] = field(default_factory=list)  # [{"source", "member", "reason"}]
    duplicates: int = 0                 # exact + near, skipped by this run
    near_duplicates: int = 0
    already_done: int = 0               # entries an earlier run handled (resume)
    images_in_dataset: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0


# ---- main side --------------------------------------------------------------------------------

class _Decisions:
    """What the run has kept so far, to tell new images from duplicates; rebuilt from the
    manifest on resume, so a resumed run decides exactly as a clean run would."""

    def __init__(self, writer: DatasetWriter, config: IngestConfig):
        rows = writer.image_hashes()
        self.by_sha256 = {sha: idx for idx, sha, _ in rows}
        self.near = NearDuplicateIndex(config.near_distance) if config.dedupe == "near" else None
        if self.near is not None:
            for idx, _, phash in rows:
                if phash is not None:
                    self.near.add(int(phash, 16), idx)

    def duplicate_of(self, sha256: str, phash: int) -> tuple[int, str] | None:
        if sha256 in self.by_sha256:
            return self.by_sha256[sha256], "exact"
        if self.near is not None and (idx := self.near.find(phash)) is not None:
            return idx, "near"
        return None

    def keep(self, sha256: str, phash: int, idx: int) -> None:
        self.by_sha256[sha256] = idx
        if self.near is not None:
            self.near.add(phash, idx)


@dataclass
class _Batch:
    """Decisions not yet on disk; written together so a checkpoint is one consistent prefix."""

    images: list[np.ndarray] = field(default_factory=list)   # each [R, R, 3] uint8
    records: list[ImageRecord] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str, int, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.images) + len(self.rejected) + len(self.duplicates)

    def write(self, writer: DatasetWriter) -> None:
        if self.images:
            writer.append(np.stack(self.images), self.records)
        writer.reject(self.rejected)
        writer.duplicate(self.duplicates)


def _open_writer(out: Path, config: IngestConfig) -> DatasetWriter:
    """Create the dataset, or reopen it to resume / add to it if it was ingested the same way."""
    wanted = config.identity()
    writer = DatasetWriter(out, config.resolution, config=wanted, what="ingest", made_by="nonesuch ingest")
    stored = _read_meta(out).get("config", {})    # bounded: a FIFO or a 3 GB file is a DatasetError
    stored = stored if isinstance(stored, dict) else {}
    differing = [k for k in wanted if k in stored and stored[k] != wanted[k]]
    if differing:
        writer.close()
        k = differing[0]
        raise DatasetError(
            f"{out}: was ingested with {k}={stored[k]!r}, not {wanted[k]!r}; re-run with the "
            f"same options to resume or add to it, or choose another --out")
    return writer


def ingest(sources: Iterable[str | Path], out: str | Path, config: IngestConfig = IngestConfig(),
           *, show_progress: bool = True,
           after_batch: Callable[[int], None] | None = None) -> IngestSummary:
    """Ingest images from folders, files and archives into the dataset at `out`.

    Re-running with the same sources and config resumes an interrupted run, or adds nothing.
    after_batch(n) is called after the n-th batch is on disk (tests use it to interrupt a run).
    Raises DatasetError / SourceError for problems with the arguments; bad images never raise.
    """
    started = time.perf_counter()
    config = config.resolved()
    out = Path(out)
    sources = list(sources)
    _refuse_sources_inside(out, sources)
    limits = ReadLimits(max_member_bytes=config.max_file_bytes)
    entries = list_entries(sources, exclude=out, limits=limits)
    writer = _open_writer(out, config)
    summary = IngestSummary(out=str(out))
    try:
        done = writer.seen()
        todo = [e for e in entries if e.key not in done]
        summary.already_done = len(entries) - len(todo)
        _run(todo, writer, config, limits, summary, show_progress, after_batch)
        summary.images_in_dataset = writer.count
    finally:
        writer.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.images_per_second = round(summary.ingested / max(summary.seconds, 1e-9), 1)
    return summary


def _refuse_sources_inside(out: Path, sources: list) -> None:
    """A dataset cannot ingest itself: a SRC that is --out, or inside it, would read our own
    pixel files while writing them. (--out inside a SRC folder is fine: the walk skips it.)"""
    if not out.exists():
        return
    out_real = out.resolve()
    for source in sources:
        # realpath, not Path.resolve(): resolve() raises RuntimeError on a symlink loop; the
        # listing reports the loop as one rejected line.
        real = Path(os.path.realpath(source))
        if real == out_real or real.is_relative_to(out_real):
            raise SourceError(f"{printable(str(source))}: is {'--out itself' if real == out_real else 'inside --out'} "
                              f"({printable(str(out))}); a dataset cannot ingest its own folder")


def _run(todo: list[SourceEntry], writer: DatasetWriter, config: IngestConfig, limits: ReadLimits,
         summary: IngestSummary, show_progress: bool,
         after_batch: Callable[[int], None] | None) -> None:
    options = DecodeOptions(config.resolution, config.crop, background_rgb(config.background),
                            config.min_size, config.max_pixels)
    decisions = _Decisions(writer, config)
    batch, batches_written = _Batch(), 0
    if not todo:
        return
    # The pool is forked before the progress bar starts its refresh thread.
    pool = DecoderPool(config.workers, options, config.max_file_bytes)
    try:
        with progress_bar("ingesting", len(todo), disable=not show_progress) as advance:
            for entry, outcome in pool.results(read_entries(todo, limits)):
                _decide(entry, outcome, batch, writer, decisions, config, summary)
                advance()
                if batch.size >= config.batch_size:
                    batch.write(writer)
                    batch, batches_written = _Batch(), batches_written + 1
                    if after_batch is not None:
                        after_batch(batches_written)
            batch.write(writer)
    finally:
        pool.close()


def _decide(entry: SourceEntry, outcome: tuple, batch: _Batch, writer: DatasetWriter,
            decisions: _Decisions, config: IngestConfig, summary: IngestSummary) -> None:
    if outcome[0] == "rejected":
        batch.rejected.append((entry.source, entry.member, outcome[1]))
        summary.rejected.append({"source": entry.source, "member": entry.member, "reason": outcome[1]})
        return
    _, pixels, sha256, phash, width, height, mode = outcome
    duplicate = decisions.duplicate_of(sha256, phash)
    if duplicate is not None:
        idx, kind = duplicate
        batch.duplicates.append((entry.source, entry.member, idx, kind))
        summary.duplicates += 1
        summary.near_duplicates += kind == "near"
        return
    idx = writer.count + len(batch.images)  # where append() will put it
    decisions.keep(sha256, phash, idx)
    batch.images.append(pixels)
    batch.records.append(ImageRecord(
        sha256=sha256, source=entry.source, member=entry.member, width=width, height=height,
        mode=mode, label=entry.label if config.labels_from == "folder" else None,
        phash=hash_to_hex(phash)))
    summary.ingested += 1


__all__ = ["IngestConfig", "IngestSummary", "SourceError", "ingest"]
