"""The on-disk dataset every later stage reads: square RGB images at every power-of-two size.

A dataset is a folder:

    dataset.json              format, resolutions, the config that made it, parent (for subsets)
    manifest.sqlite           one row per image (where it came from), rejected files, duplicates
    pixels/<R>.u8             raw uint8 array [N, R, R, 3] per resolution R = 4, 8, ... max

Training memory-maps `pixels/<R>.u8` and never decodes an image. The manifest row `idx` is the
image's position in every pixel file.

Crash safety: pixels are appended and fsync'd first, manifest rows are committed second. The
committed row count is the truth; on open a writer cuts the pixel files back to it, so an
interrupted run resumes to the same bytes as a clean one.

One writer at a time: a DatasetWriter holds the folder's FolderLock from open to close (a second
writer would cut the first one's pixel files back under it). Each row records the sha256 of its
stored pixels, so `nonesuch info --check` (check.py) can tell that rows and pixels still agree.
File names that are not UTF-8 are stored as their exact bytes (names.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import quote

import numpy as np

from nonesuch import atomic
from nonesuch.data.sources import UnreadableSource, read_regular_file, regular_file_problem
from nonesuch.errors import NonesuchError
from nonesuch.folder_lock import LOCK_NAME, FolderLock, FolderLockedError
from nonesuch.names import from_db, printable, to_db

FORMAT = "nonesuch-dataset/1"
MIN_RESOLUTION = 4
MAX_RESOLUTION = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    idx      INTEGER PRIMARY KEY,   -- position in every pixels/<R>.u8 file
    sha256   TEXT NOT NULL UNIQUE,  -- of the source file's bytes
    phash    TEXT,                  -- 64-bit perceptual hash, hex
    source   TEXT NOT NULL,         -- file or archive path as given
    member   TEXT NOT NULL DEFAULT '', -- path inside the archive, '' for plain files
    width    INTEGER,               -- original size, after EXIF rotation
    height   INTEGER,
    mode     TEXT,                  -- original Pillow mode (CMYK, I;16, P, ...)
    label    TEXT,                  -- e.g. the parent folder's name; NULL if none
    pixels_sha256 TEXT              -- of the stored [R, R, 3] pixels at the top resolution
);
CREATE TABLE IF NOT EXISTS rejected (
    source TEXT NOT NULL, member TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL,
    UNIQUE (source, member)
);
CREATE TABLE IF NOT EXISTS duplicates (
    source TEXT NOT NULL, member TEXT NOT NULL DEFAULT '',
    duplicate_of INTEGER NOT NULL,  -- images.idx it duplicates
    kind TEXT NOT NULL,             -- 'exact' or 'near'
    UNIQUE (source, member)
);
"""
# source, member and label hold str, or BLOB (the exact bytes) for names that are not UTF-8.
_NAME_COLUMNS = ("source", "member", "label")
# What a dataset folder may hold; anything else means --out is someone else's folder.
_DATASET_FILES = {"dataset.json", "manifest.sqlite", "manifest.sqlite-wal", "manifest.sqlite-shm",
                  "manifest.sqlite-journal", "pixels", LOCK_NAME}


class DatasetError(NonesuchError):
    """A dataset folder that cannot be used; the message names the folder and what to do."""


@dataclass(frozen=True)
class ImageRecord:
    """Where one dataset image came from."""

    sha256: str
    source: str
    member: str = ""
    width: int = 0
    height: int = 0
    mode: str = "RGB"
    label: str | None = None
    phash: str | None = None


def resolutions_up_to(resolution: int) -> list[int]:
    """[4, 8, ..., resolution]; raises if resolution is not a power of two in range."""
    if resolution < MIN_RESOLUTION or resolution > MAX_RESOLUTION or resolution & (resolution - 1):
        raise DatasetError(
            f"resolution {resolution} must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}"
        )
    return [1 << k for k in range(2, resolution.bit_length())]


def downsample_pyramid(images: np.ndarray) -> dict[int, np.ndarray]:
    """2x2 box-filter an image batch down to 4 px.

    images: [B, R, R, 3] uint8, R a power of two. Returns {R: images, R/2: ..., 4: ...}.
    Box filtering each level from the one above is what ProGAN's dataset tool does: the
    low-resolution reals the discriminator sees match the generator's upsampled outputs.
    """
    levels = {images.shape[1]: images}
    level = images.astype(np.uint16)
    while level.shape[1] > MIN_RESOLUTION:
        b, r = level.shape[0], level.shape[1] // 2
        # Two plain adds over contiguous halves instead of .sum(axis=(2, 4)) on a 6-D view:
        # the same numbers, ~10x faster (numpy's strided reduction is slow here).
        rows = level.reshape(b, r, 2, 2 * r * 3)
        rows = (rows[:, :, 0] + rows[:, :, 1]).reshape(b, r, r, 2, 3)   # [B, r, r, 2, 3]
        level = (rows[:, :, :, 0] + rows[:, :, :, 1] + 2) // 4           # [B, r, r, 3]
        levels[r] = level.astype(np.uint8)
    return levels


def pixels_sha256(image: np.ndarray) -> str:
    """The digest recorded for one stored image ([R, R, 3] uint8 at the top resolution)."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """The manifest. A reader never creates one (a missing manifest is an error, not an empty
    dataset); a writer creates it and adds columns a dataset made by an older version lacks."""
    try:
        if create:
            db = sqlite3.connect(path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            if "pixels_sha256" not in _columns(db, "images"):
                db.execute("ALTER TABLE images ADD COLUMN pixels_sha256 TEXT")
        else:
            if not path.is_file():
                raise DatasetError(f"{path}: missing; the dataset is incomplete (re-run its ingest)")
            db = sqlite3.connect(f"file:{quote(str(path), errors='surrogateescape')}?mode=rw", uri=True, timeout=30)
            missing = {"images", "rejected", "duplicates"} - set(
                r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
            if missing:
                raise DatasetError(f"{path}: not a nonesuch manifest (no {', '.join(sorted(missing))} table)")
        return db
    except sqlite3.Error as e:
        raise DatasetError(f"{path}: damaged manifest ({e}); restore it or re-run the ingest into a new --out") from None


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _record(row: tuple, names: list[str]) -> ImageRecord:
    values = dict(zip(names, row))
    for column in _NAME_COLUMNS:
        values[column] = from_db(values[column])
    return ImageRecord(**values)


# dataset.json holds a config and a few names: kilobytes. Read past this it is not ours (a sparse
# file claiming 3 GB took 6.5 GB of memory to find that out).
MAX_META_BYTES = 16 << 20


def _read_meta(root: Path) -> dict:
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        raise DatasetError(f"{root}: not a nonesuch dataset (no dataset.json); make one with `nonesuch ingest`")
    try:
        meta = json.loads(read_regular_file(meta_path, MAX_META_BYTES).decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        if meta.get("format") == FORMAT:
            resolutions_up_to(int(meta["resolution"]))
    except (OSError, ValueError, KeyError, TypeError, DatasetError, UnreadableSource) as e:
        raise DatasetError(f"{meta_path}: damaged ({' '.join(str(e).split())}); restore it from a backup "
                           f"or re-run the ingest into a new --out") from None
    if meta.get("format") != FORMAT:
        raise DatasetError(f"{meta_path}: unknown format {meta.get('format')!r}, expected {FORMAT}")
    return meta


class Dataset:
    """Read-only view of a dataset folder. Opening checks what is cheap to check (dataset.json,
    the manifest's tables, the pixel files' sizes), so a damaged dataset fails here, in one line,
    not as a traceback deep in training; `check.py` checks every image."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.meta: dict = _read_meta(self.root)
        self.resolution: int = int(self.meta["resolution"])
        self.resolutions: list[int] = resolutions_up_to(self.resolution)
        self.db = _connect(self.root / "manifest.sqlite", create=False)
        try:
            self._count = self.query("SELECT COUNT(*) FROM images")[0][0]
            for r in self.resolutions:
                self._check_pixel_file(r)
        except DatasetError:
            self.db.close()
            raise

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Every manifest read goes through here: a damaged page surfaces as one DatasetError."""
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise DatasetError(f"{self.root / 'manifest.sqlite'}: damaged manifest ({e}); "
                               f"restore it or re-run the ingest into a new --out") from None

    def pixel_path(self, r: int) -> Path:
        return self.root / "pixels" / f"{r}.u8"

    def _check_pixel_file(self, r: int) -> None:
        path, expected = self.pixel_path(r), self._count * r * r * 3
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        if size < expected:
            held = max(size, 0) // (r * r * 3)
            raise DatasetError(f"{path}: {'missing' if size < 0 else 'truncated'}: holds {held} of the "
                               f"{self._count} images the manifest lists; run `nonesuch info {printable(str(self.root))} --check`")

    def __len__(self) -> int:
        return self._count

    def images(self, resolution: int | None = None) -> np.ndarray:
        """Memory-mapped [N, R, R, 3] uint8 array; R defaults to the largest resolution."""
        resolution = self.resolution if resolution is None else resolution     # 0 is no resolution, not 'the default'
        if resolution not in self.resolutions:
            raise DatasetError(
                f"{self.root}: has no {resolution} px images (it has {', '.join(map(str, self.resolutions))})"
            )
        if self._count == 0:
            return np.zeros((0, resolution, resolution, 3), np.uint8)
        return np.memmap(self.pixel_path(resolution), np.uint8, "r",
                         shape=(self._count, resolution, resolution, 3))

    def records(self) -> list[ImageRecord]:
        names = [f.name for f in fields(ImageRecord)]
        available = _columns(self.db, "images")
        select = ", ".join(n if n in available else "NULL" for n in names)
        rows = self.query(f"SELECT {select} FROM images ORDER BY idx")
        return [_record(row, names) for row in rows]

    def labels(self) -> list[str | None]:
        """One label per image, in index order (None where the image has none)."""
        return [from_db(r[0]) for r in self.query("SELECT label FROM images ORDER BY idx")]

    def label_names(self) -> list[str]:
        """Sorted distinct labels; class index i in conditional training is label_names()[i]."""
        rows = self.query("SELECT DISTINCT label FROM images WHERE label IS NOT NULL")
        return sorted(from_db(r[0]) for r in rows)

    def label_indices(self) -> np.ndarray:
        """[N] int64 class index per image into label_names(), -1 where unlabelled."""
        index = {name: i for i, name in enumerate(self.label_names())}
        return np.array([index.get(label, -1) for label in self.labels()], dtype=np.int64)

    def rejected(self) -> list[tuple[str, str, str]]:
        rows = self.query("SELECT source, member, reason FROM rejected ORDER BY rowid")
        return [(from_db(source), from_db(member), reason) for source, member, reason in rows]

    def pixel_digests(self) -> list[str | None]:
        """Per image, in index order, the sha256 of its pixels as written (None: written before
        digests were recorded)."""
        if "pixels_sha256" not in _columns(self.db, "images"):
            return [None] * self._count
        return [r[0] for r in self.query("SELECT pixels_sha256 FROM images ORDER BY idx")]

    def duplicate_counts(self) -> dict[str, int]:
        return dict(self.query("SELECT kind, COUNT(*) FROM duplicates GROUP BY kind ORDER BY kind"))

    def fingerprint(self) -> str:
        """sha256 over what training sees: the resolutions, the image count and, in index order,
        each image's source hash, stored-pixel hash and label. A run records it; a resume on a
        dataset that has gained, lost or changed images (or labels) gets a different one."""
        available = _columns(self.db, "images")
        pixels = "pixels_sha256" if "pixels_sha256" in available else "NULL"
        digest = hashlib.sha256(f"{FORMAT}\n{self.resolutions}\n{self._count}\n".encode())
        for sha256, pixel_hash, label in self.query(f"SELECT sha256, {pixels}, label FROM images ORDER BY idx"):
            label = b"" if label is None else label if isinstance(label, bytes) else label.encode()
            digest.update(f"{sha256} {pixel_hash or '-'} ".encode() + label.hex().encode() + b"\n")
        return digest.hexdigest()

    def close(self) -> None:
        self.db.close()


class DatasetWriter:
    """Appends images to a dataset folder, creating it if needed; safe to reopen after a crash."""

    def __init__(self, root: str | Path, resolution: int, config: dict | None = None,
                 what: str = "dataset writer", **meta):
        """what: what this writer is doing, for the line a second writer gets ('ingest')."""
        self.root = Path(root)
        self.resolutions = resolutions_up_to(resolution)
        self.resolution = resolution
        _refuse_foreign_folder(self.root)
        try:
            self._lock = FolderLock(self.root, what=what).acquire()
        except FolderLockedError as e:
            raise DatasetError(str(e)) from None
        try:
            self._open(config, meta)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, config: dict | None, meta: dict) -> None:
        meta_path = self.root / "dataset.json"
        if meta_path.exists():
            existing = _read_meta(self.root)
            if int(existing["resolution"]) != self.resolution:
                raise DatasetError(
                    f"{self.root}: already holds a dataset at {existing.get('resolution')} px; "
                    f"use another --out or the same --resolution"
                )
        else:
            (self.root / "pixels").mkdir(parents=True, exist_ok=True)
            atomic.write_json(
                meta_path,
                {"format": FORMAT, "resolution": self.resolution, "resolutions": self.resolutions,
                 "config": config or {}, **meta},
            )
        (self.root / "pixels").mkdir(parents=True, exist_ok=True)
        self.db = _connect(self.root / "manifest.sqlite", create=True)
        try:
            self.count = self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        except sqlite3.Error as e:
            self.db.close()
            raise DatasetError(f"{self.root / 'manifest.sqlite'}: damaged manifest ({e}); "
                               f"re-run the ingest into a new --out") from None
        self._cut_pixels_to_count()

    def _pixel_path(self, r: int) -> Path:
        return self.root / "pixels" / f"{r}.u8"

    def _cut_pixels_to_count(self) -> None:
        """Drop pixels appended after the last committed manifest row (an interrupted batch)."""
        for r in self.resolutions:
            path = self._pixel_path(r)
            path.touch()
            st = os.stat(path)
            problem = regular_file_problem(path, st)
            if problem is not None:      # truncate() fails on a FIFO or a device, with a traceback
                raise DatasetError(f"{path}: {problem}; restore it or re-run the ingest into a new --out")
            expected = self.count * r * r * 3
            if st.st_size != expected:
                with open(path, "rb+") as f:
                    f.truncate(expected)

    def append(self, images: np.ndarray, records: list[ImageRecord]) -> list[int]:
        """Add a batch. images: [B, R, R, 3] uint8 at the dataset resolution. Returns their idx."""
        if images.shape[1:] != (self.resolution, self.resolution, 3) or images.dtype != np.uint8:
            raise ValueError(f"expected [B, {self.resolution}, {self.resolution}, 3] uint8, got {images.shape} {images.dtype}")
        if len(images) != len(records):
            raise ValueError("one record per image")
        if not len(images):
            return []
        for r, level in downsample_pyramid(np.ascontiguousarray(images)).items():
            with open(self._pixel_path(r), "ab") as f:
                f.write(level.tobytes())
                f.flush()
                os.fsync(f.fileno())
        first = self.count
        cols = [f.name for f in fields(ImageRecord)]
        rows = [(first + i, *(to_db(v) if c in _NAME_COLUMNS and v is not None else v
                              for c, v in ((c, getattr(rec, c)) for c in cols)),
                 pixels_sha256(image))
                for i, (rec, image) in enumerate(zip(records, images))]
        with self.db:
            self.db.executemany(
                f"INSERT INTO images (idx, {', '.join(cols)}, pixels_sha256) "
                f"VALUES (?, {', '.join('?' * len(cols))}, ?)", rows)
        self.count += len(records)
        return list(range(first, self.count))

    # One transaction per batch, not per row: an archive of a million broken members was a
    # million commits (0.34 ms each here).
    def reject(self, rows: list[tuple[str, str, str]]) -> None:
        """rows: (source, member, reason) of files that are not images."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)",
                                [(to_db(source), to_db(member), printable(reason)) for source, member, reason in rows])

    def duplicate(self, rows: list[tuple[str, str, int, str]]) -> None:
        """rows: (source, member, idx of the image it duplicates, 'exact' or 'near')."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?, ?)",
                                [(to_db(source), to_db(member), idx, kind) for source, member, idx, kind in rows])

    def image_hashes(self) -> list[tuple[int, str, str | None]]:
        """(idx, sha256, phash) of every image, in index order: what dedupe needs to resume."""
        return self.db.execute("SELECT idx, sha256, phash FROM images ORDER BY idx").fetchall()

    def seen(self) -> set[tuple[str, str]]:
        """(source, member) pairs already handled by an earlier run: ingested, rejected or duplicate."""
        seen: set[tuple[str, str]] = set()
        for table in ("images", "rejected", "duplicates"):
            seen.update((from_db(source), from_db(member))
                        for source, member in self.db.execute(f"SELECT source, member FROM {table}"))
        return seen

    def close(self) -> None:
        self.db.close()
        self._lock.release()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _refuse_foreign_folder(root: Path) -> None:
    """A writer adopts only its own kind of folder: new, empty, or a dataset (possibly one whose
    creation was interrupted). Never a file, never a folder of someone's other files."""
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: is a file, not a dataset folder; choose another --out")
    if not root.is_dir() or (root / "dataset.json").exists():
        return
    foreign = sorted(p.name for p in root.iterdir()
                     if p.name not in _DATASET_FILES and not p.name.startswith(".dataset.json."))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise DatasetError(f"{root}: is not empty and not a nonesuch dataset (it holds "
                           f"{printable(foreign[0])}{more}); choose a new or empty --out")


def write_subset(parent: Dataset, indices: np.ndarray | list[int], out: str | Path, **meta) -> Dataset:
    """A new dataset holding parent's images at `indices` (every resolution), recording its parent."""
    indices = np.asarray(indices, dtype=np.int64)
    records = parent.records()
    writer = DatasetWriter(
        out, parent.resolution, config=parent.meta.get("config", {}),
        parent=str(parent.root.resolve()), **meta,
    )
    if writer.count:
        writer.close()
        raise DatasetError(f"{out}: already holds {writer.count} images; choose an empty --out")
    pixels = parent.images()
    for start in range(0, len(indices), 256):
        chunk = indices[start:start + 256]
        writer.append(np.asarray(pixels[chunk]), [records[i] for i in chunk])
    writer.close()
    return Dataset(out)
