"""Human labels, kept in the dataset: `DATASET/labels.sqlite`.

Every key press is one appended row (target, image index, keep/discard/skip, time, source). An
image's current label is its latest row for that target; undo deletes the latest row, so the one
before it (if any) comes back. A confirmed page is many rows sharing one page number, and undo
deletes them together: one key press made them, one undoes them. Several named targets live side by side ("smileys", "no-text"...),
and the log survives restarts of the labeling page.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from nonesuch.curate.errors import CurateError

LABELS = ("keep", "discard", "skip")
_COLUMNS = {"id", "target", "idx", "label", "time", "source"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of labelling; undo removes the largest
    target TEXT NOT NULL,                      -- what is being cut out, e.g. 'smileys'
    idx    INTEGER NOT NULL,                   -- the image's index in the dataset
    label  TEXT NOT NULL CHECK (label IN ('keep', 'discard', 'skip')),
    time   REAL NOT NULL,                      -- unix seconds
    source TEXT NOT NULL DEFAULT 'page',       -- 'page' or what it was imported from
    page   INTEGER                             -- rows confirmed together share it; NULL for one label
);
CREATE INDEX IF NOT EXISTS labels_by_target ON labels (target, idx);
"""


class LabelStore:
    """The label log of one dataset folder."""

    def __init__(self, dataset_root: str | Path):
        self.path = Path(dataset_root) / "labels.sqlite"
        # One connection shared by the labeling page's worker threads; sqlite serialises writes.
        self.db = None
        try:      # a damaged or foreign file is named and left as it is: it may hold someone's labels
            self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(labels)")}    # reads only
            if columns and not _COLUMNS <= columns:
                raise sqlite3.DatabaseError(f"its labels table lacks {', '.join(sorted(_COLUMNS - columns))}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
            if columns and "page" not in columns:                  # a label log from before page mode
                with self.db:
                    self.db.execute("ALTER TABLE labels ADD COLUMN page INTEGER")
        except sqlite3.DatabaseError as error:
            if self.db is not None:
                self.db.close()
            raise CurateError(f"{self.path}: not a nonesuch label log ({error}); move it away to start "
                              f"a new one") from None

    def add(self, target: str, idx: int, label: str, source: str = "page") -> None:
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {label!r}")
        with self.db:
            self.db.execute("INSERT INTO labels (target, idx, label, time, source) VALUES (?, ?, ?, ?, ?)",
                            (target, int(idx), label, time.time(), source))

    def add_many(self, target: str, items: list[tuple[int, str]], source: str) -> None:
        if any(label not in LABELS for _, label in items):
            raise ValueError(f"labels must be among {LABELS}")
        now = time.time()
        with self.db:
            self.db.executemany("INSERT INTO labels (target, idx, label, time, source) VALUES (?, ?, ?, ?, ?)",
                                [(target, int(i), label, now, source) for i, label in items])

    def add_page(self, target: str, items: list[tuple[int, str]], source: str = "page") -> int:
        """One confirmed page: every (index, label) as a row under a new page number, returned."""
        if any(label not in LABELS for _, label in items):
            raise ValueError(f"labels must be among {LABELS}")
        now = time.time()
        with self.db:                              # the number and the rows in one transaction
            page = self.db.execute("SELECT COALESCE(MAX(page), 0) + 1 FROM labels").fetchone()[0]
            self.db.executemany("INSERT INTO labels (target, idx, label, time, source, page) VALUES (?, ?, ?, ?, ?, ?)",
                                [(target, int(i), label, now, source, page) for i, label in items])
        return page

    def undo(self, target: str) -> list[int]:
        """Remove the target's latest label, or all of its latest page; returns the image indices
        they were on, in page order ([] if there was nothing to undo)."""
        row = self.db.execute("SELECT id, idx, page FROM labels WHERE target = ? ORDER BY id DESC LIMIT 1",
                              (target,)).fetchone()
        if row is None:
            return []
        with self.db:
            if row[2] is None:
                self.db.execute("DELETE FROM labels WHERE id = ?", (row[0],))
                return [row[1]]
            indices = [r[0] for r in self.db.execute("SELECT idx FROM labels WHERE target = ? AND page = ? ORDER BY id",
                                                     (target, row[2]))]
            self.db.execute("DELETE FROM labels WHERE target = ? AND page = ?", (target, row[2]))
            return indices

    def current(self, target: str) -> dict[int, str]:
        """{image index: latest label} for the target, skips included, in labelling order."""
        rows = self.db.execute(
            "SELECT idx, label FROM labels WHERE id IN (SELECT MAX(id) FROM labels WHERE target = ? GROUP BY idx)"
            " ORDER BY id", (target,))
        return dict(rows)

    def training_set(self, target: str) -> tuple[np.ndarray, np.ndarray]:
        """(indices [L] int64, keep [L] int64 in {0, 1}) of the keep/discard labels; skips left out."""
        pairs = [(i, label == "keep") for i, label in self.current(target).items() if label != "skip"]
        indices = np.array([i for i, _ in pairs], dtype=np.int64)
        return indices, np.array([k for _, k in pairs], dtype=np.int64)

    def recent(self, target: str, limit: int = 24) -> list[tuple[int, str]]:
        """The latest labelled images, newest first, with their current label."""
        return list(reversed(list(self.current(target).items())))[:limit]

    def targets(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT target FROM labels ORDER BY target")]

    def close(self) -> None:
        self.db.close()
