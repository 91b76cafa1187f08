"""Labels from elsewhere: a folder of keep/ and discard/ images, or a CSV.

A folder is matched to dataset images by the SHA-256 of each file's bytes (what ingest recorded),
falling back to the source path, so images can be copied out, sorted by hand and brought back.
A CSV has a `label` column (keep/discard/skip, or 1/0) and one of `idx`, `sha256` or `source`.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from nonesuch.curate.errors import CurateError
from nonesuch.curate.labels import LabelStore
from nonesuch.data import Dataset

_SYNONYMS = {"keep": "keep", "1": "keep", "true": "keep", "yes": "keep",
             "discard": "discard", "0": "discard", "false": "discard", "no": "discard", "skip": "skip"}


def import_labels(dataset: Dataset, target: str, source: str | Path) -> dict[str, int]:
    """Append the labels found in a folder or CSV; returns {label: count}."""
    source = Path(source)
    if source.is_dir():
        items = _from_folder(dataset, source)
    elif source.is_file():
        items = _from_csv(dataset, source)
    else:
        raise CurateError(f"{source}: no such folder or CSV file")
    LabelStore(dataset.root).add_many(target, items, source=f"import:{source}")
    counts: dict[str, int] = {}
    for _, label in items:
        counts[label] = counts.get(label, 0) + 1
    return counts


def _lookup(dataset: Dataset) -> tuple[dict[str, int], dict[str, int]]:
    records = dataset.records()
    by_hash = {r.sha256: i for i, r in enumerate(records)}
    by_source = {str(Path(r.source).resolve()): i for i, r in enumerate(records) if not r.member}
    return by_hash, by_source


def _from_folder(dataset: Dataset, folder: Path) -> list[tuple[int, str]]:
    by_hash, by_source = _lookup(dataset)
    items, unmatched = [], []
    for label in ("keep", "discard"):
        for path in sorted(p for p in (folder / label).rglob("*") if p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            idx = by_hash.get(digest, by_source.get(str(path.resolve())))
            if idx is None:
                unmatched.append(path)
            else:
                items.append((idx, label))
    if not items:
        raise CurateError(f"{folder}: found no images of this dataset in keep/ or discard/ "
                          f"({len(unmatched)} files did not match any image's bytes or source path)")
    return items


def _from_csv(dataset: Dataset, path: Path) -> list[tuple[int, str]]:
    by_hash, by_source = _lookup(dataset)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = set(rows[0]) if rows else set()
    if "label" not in columns or not columns & {"idx", "sha256", "source"}:
        raise CurateError(f"{path}: needs a 'label' column and one of 'idx', 'sha256', 'source'")
    items = []
    for line, row in enumerate(rows, start=2):
        label = _SYNONYMS.get(row["label"].strip().lower())
        if row.get("idx", "").strip():
            idx = int(row["idx"])
        elif row.get("sha256", "").strip():
            idx = by_hash.get(row["sha256"].strip())
        else:
            idx = by_source.get(str(Path(row["source"].strip()).resolve()))
        if label is None or idx is None or not 0 <= idx < len(dataset):
            raise CurateError(f"{path}:{line}: cannot use {dict(row)} (unknown label or image)")
        items.append((idx, label))
    return items
