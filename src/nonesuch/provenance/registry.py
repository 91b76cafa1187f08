"""The registry: which generated image a watermark ID belongs to (SQLite in nonesuch_home()).

    with Registry() as registry:
        registry.add([record, ...])          # one transaction per batch
        registry.lookup(0x1234abcd5678)      # -> dict row or None
        registry.lookup_sha256("ab12...")    # exact-file lookup (metadata intact copies)

IDs are not counters: `watermark_id_for` derives them from a hash of what fixes the pixels
(checkpoint hash, seed, class, truncation). An interrupted `generate` that runs again computes the
same IDs for the same seeds, so resuming never allocates a second ID for an image, and two
processes generating at once need no coordination. A row is keyed by the ID; making the same
image again (another size or format) updates its file hash and time. Two different images mapping
to one ID (chance ~N^2/2^49: 2e-6 for 10^4 images) is detected and refused, never overwritten.

A latent walk (`nonesuch interpolate`) is one row too: every frame carries the walk's one ID
(`walk_watermark_id_for`), `seed` is its first keyframe and `walk_seeds` lists them all ("0,3,5";
NULL for a single image). Registries made before walks were marked get the column added.

Many writers, one file: `generate` runs, `interpolate` and the live server may all write at once.
Each batch is one IMMEDIATE transaction: the write lock is taken before the collision check reads,
so no other process can register the same ID between the check and the write (with sqlite's
default deferred transactions one could, and its run and file were merged into the other image's
row). A writer waits its turn for up to `busy_timeout_s`, then fails with one line.

An explained image (`nonesuch explain`) is one row too, with its objective (targets, weights,
iterations...) as JSON in `objective`; its ID derives from the seed AND the objective
(`explain_watermark_id_for`), so it never collides with the plain sample of the same seed.

Every row keeps what its image looks like (`content`, a 6.9 KB thumbnail; content.py): the mark can
be lifted off one of our images and added to any other, and `verify` tells the two apart by it.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.home import nonesuch_home
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.watermark import ID_BITS

_COLUMNS = ("watermark_id", "run", "checkpoint", "checkpoint_sha256", "seed", "class_name",
            "truncation", "size", "format", "sha256", "created", "walk_seeds", "objective",
            "screen_attempt")
# Each row also keeps `content` (record.content: what the image looks like, content.py), read on
# its own by content_of(): lookups return the row's fields, which verify prints and writes as JSON.
# The fields that decide the pixels; a second row with the same ID must agree on all of them.
_IDENTITY = ("checkpoint_sha256", "seed", "class_name", "truncation", "walk_seeds", "objective",
             "screen_attempt")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    watermark_id INTEGER PRIMARY KEY, run TEXT NOT NULL, checkpoint TEXT NOT NULL,
    checkpoint_sha256 TEXT NOT NULL, seed INTEGER NOT NULL, class_name TEXT, truncation REAL,
    size INTEGER, format TEXT, sha256 TEXT, created TEXT NOT NULL, walk_seeds TEXT, objective TEXT,
    screen_attempt INTEGER, content BLOB);
CREATE INDEX IF NOT EXISTS images_by_sha256 ON images(sha256);
"""


def watermark_id_for(checkpoint_sha256: str, seed: int, class_name: str | None,
                     truncation: float | None, screen_attempt: int = 0) -> int:
    """48-bit ID from the image's identity; the same image always gets the same ID. A screen's
    later attempt (generate/screen.py) is another image of the same seed, so another ID."""
    identity = str(seed) if not screen_attempt else f"{seed} attempt {screen_attempt}"
    return _id_of(checkpoint_sha256, identity, class_name, truncation)


def walk_watermark_id_for(checkpoint_sha256: str, walk_seeds: str, frames_per_step: int,
                          class_name: str | None, truncation: float | None) -> int:
    """48-bit ID of a latent walk: its keyframes and frame count fix every frame."""
    return _id_of(checkpoint_sha256, f"walk {walk_seeds} x{frames_per_step}", class_name, truncation)


def explain_watermark_id_for(checkpoint_sha256: str, seed: int, objective: dict) -> int:
    """48-bit ID of an explained image: the seed it started from and the objective fix it."""
    return _id_of(checkpoint_sha256, f"explain {seed} {objective_text(objective)}", None, None)


def objective_text(objective: dict | None) -> str | None:
    """The canonical JSON of an objective, as stored in the registry (None stays None)."""
    import json

    return None if objective is None else json.dumps(objective, sort_keys=True, separators=(",", ":"))


def _id_of(checkpoint_sha256: str, what: str, class_name: str | None, truncation: float | None) -> int:
    key = f"{checkpoint_sha256}|{what}|{class_name or ''}|{'' if truncation is None else repr(float(truncation))}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:ID_BITS // 8], "big")


def default_registry_path() -> Path:
    return nonesuch_home() / "registry.sqlite"


class Registry:
    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = 30.0):
        self.path = Path(path) if path else default_registry_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        # One connection shared by a server's threads: sqlite3 would interleave their transactions.
        self._lock = threading.RLock()
        try:
            # isolation_level=None: transactions are begun here, explicitly (see the module doc).
            # timeout: a parallel `generate` or the live server may hold the write lock.
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._write():  # writers opening a new registry at once: one creates, the rest see it
                for statement in _SCHEMA.split(";"):  # not executescript(): it commits first
                    if statement.strip():
                        self._db.execute(statement)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(images)")}
                if "walk_seeds" not in columns:                 # a registry from before walks were marked
                    self._db.execute("ALTER TABLE images ADD COLUMN walk_seeds TEXT")
                if "objective" not in columns:                  # ... or before explain existed
                    self._db.execute("ALTER TABLE images ADD COLUMN objective TEXT")
                if "screen_attempt" not in columns:             # ... or before generate's screen
                    self._db.execute("ALTER TABLE images ADD COLUMN screen_attempt INTEGER")
                if "content" not in columns:                    # ... or before rows kept their looks
                    self._db.execute("ALTER TABLE images ADD COLUMN content BLOB")
        except ProvenanceError:
            raise
        except sqlite3.DatabaseError as error:
            raise ProvenanceError(f"{self.path}: not a nonesuch registry ({error}); "
                                  "move it away or set NONESUCH_HOME") from error
        self._db.row_factory = sqlite3.Row

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One IMMEDIATE transaction: the write lock first, then the reads and writes; all or none."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                raise ProvenanceError(f"{self.path}: busy, another process held its write lock for over "
                                      f"{self.busy_timeout_s:g} s; try again") from error
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add(self, records: list[GenerationRecord]) -> None:
        """Insert or refresh rows for `records`, all or none."""
        with self._write():
            for record in records:
                existing = self.lookup(record.watermark_id)
                row = {c: getattr(record, c) for c in _COLUMNS}
                row["objective"] = objective_text(record.objective)
                # A screen's first draw is the seed's own image, the one drawn without a screen:
                # the same pixels and ID, so the same identity (stored as no redraw).
                row["screen_attempt"] = record.screen_attempt or None
                if existing and any(existing[k] != row[k] for k in _IDENTITY):
                    raise ProvenanceError(
                        f"watermark ID {record.watermark_hex} already belongs to seed "
                        f"{existing['seed']} of checkpoint {existing['checkpoint_sha256'][:12]}; "
                        f"refusing to reassign it to seed {record.seed}")
                row["content"] = record.content
                # Made again at another size or format: the same picture, its newer file and looks.
                self._db.execute(
                    f"INSERT INTO images ({', '.join(_COLUMNS)}, content) VALUES "
                    f"({', '.join(':' + c for c in _COLUMNS)}, :content) ON CONFLICT(watermark_id) DO UPDATE SET "
                    "run=excluded.run, checkpoint=excluded.checkpoint, size=excluded.size, "
                    "format=excluded.format, sha256=excluded.sha256, created=excluded.created, "
                    "content=coalesce(excluded.content, content)", row)

    def lookup(self, watermark_id: int) -> dict | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM images WHERE watermark_id = ?",
                                   (watermark_id,)).fetchone()
        return dict(row) if row else None

    def lookup_sha256(self, sha256: str) -> dict | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM images WHERE sha256 = ?",
                                   (sha256,)).fetchone()
        return dict(row) if row else None

    def content_of(self, watermark_id: int) -> bytes | None:
        """What the row's image looks like (content.py), None for a row registered without it."""
        with self._lock:
            row = self._db.execute("SELECT content FROM images WHERE watermark_id = ?",
                                   (watermark_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def __bool__(self) -> bool:
        # An open registry is a thing, not a collection: without this, an empty one is falsy
        # (it has a length) and `registry or Registry()` silently swapped it for the default.
        return True

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
