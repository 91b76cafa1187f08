"""Labels from elsewhere: a folder of keep/ and discard/ images, or a CSV.

A folder is matched to dataset images by the SHA-256 of each file's bytes (what ingest recorded),
falling back to the source path, so images can be copied out, sorted by hand and brought back.
A CSV has a `label` column (keep/discard/skip, or 1/0) and one of `idx`, `sha256` or `source`;
an image named on several rows takes the last row's label, as it would in the labelling page.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterator

from nonesuch.curate.errors import CurateError
from nonesuch.curate.labels import LabelStore
from nonesuch.data import Dataset
from nonesuch.data.sources import MAX_IMAGE_FILE_BYTES, UnreadableSource, read_regular_file
from nonesuch.hashing import file_sha256

MAX_CSV_BYTES = 256 << 20      # millions of rows; a dataset's labels are far fewer
# A row is a label and an index, hash or path (a path is at most 4 kB, and the csv module refuses
# a field over 128 kB); a longer line is refused before the csv module splits it: one line of
# 30 MB of commas was a list of 30 million fields (700 MB).
MAX_CSV_LINE = 1 << 20
_INDEX = re.compile(r"[0-9]{1,18}")   # ASCII digits only: '²' and '٣' pass str.isdigit()

_SYNONYMS = {"keep": "keep", "1": "keep", "true": "keep", "yes": "keep",
             "discard": "discard", "0": "discard", "false": "discard", "no": "discard", "skip": "skip"}


def import_labels(dataset: Dataset, target: str, source: str | Path) -> dict[str, int]:
    """Append the labels found in a folder or CSV; returns {label: count}."""
    source = Path(source)
    if source.is_dir():
        items = _from_folder(dataset, source)
    elif os.path.lexists(source):     # a FIFO or a device is refused by name in the read
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
            if path.stat().st_size > MAX_IMAGE_FILE_BYTES:    # ingest refused it unread: not ours
                unmatched.append(path)
                continue
            idx = by_hash.get(file_sha256(path), by_source.get(str(path.resolve())))
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
    try:          # bounded and checked up front: a hostile file fails here, in one line
        data = read_regular_file(path, MAX_CSV_BYTES)
        data.decode("utf-8-sig")                                    # -sig: Excel's BOM
    except UnreadableSource as error:
        raise CurateError(f"{path}: {error}") from None
    except UnicodeDecodeError as error:
        raise CurateError(f"{path}: not UTF-8 text (byte {error.start} is {_byte_at(error)})") from None
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    rows = csv.DictReader(_bounded_lines(text, path))
    labels: dict[int, str] = {}       # one per image, so memory follows the dataset, not the file
    try:
        columns = set(rows.fieldnames or ())
        if "label" not in columns or not columns & {"idx", "sha256", "source"}:
            raise CurateError(f"{path}: needs a 'label' column and one of 'idx', 'sha256', 'source'")
        for row in rows:
            label = _SYNONYMS.get(_cell(row, "label").lower())
            idx = _row_image(row, by_hash, by_source)
            if label is None or idx is None or not 0 <= idx < len(dataset):
                raise CurateError(f"{path}:{rows.line_num}: cannot use {str(dict(row))[:200]} "
                                  f"(unknown label or image)")
            labels.pop(idx, None)     # re-inserted: the order is that of each image's last row
            labels[idx] = label
    except csv.Error as error:
        raise CurateError(f"{path}: not a CSV file ({error})") from None
    return list(labels.items())


def _bounded_lines(text: io.TextIOBase, path: Path) -> Iterator[str]:
    """The lines of `text`, refusing one longer than MAX_CSV_LINE before it is read whole."""
    for number, line in enumerate(iter(lambda: text.readline(MAX_CSV_LINE + 1), ""), start=1):
        if len(line) > MAX_CSV_LINE:
            raise CurateError(f"{path}:{number}: line longer than {MAX_CSV_LINE} characters; not a label CSV")
        yield line


def _cell(row: dict, column: str) -> str:
    value = row.get(column)            # None where a row is shorter than the header
    return value.strip() if isinstance(value, str) else ""


def _row_image(row: dict, by_hash: dict[str, int], by_source: dict[str, int]) -> int | None:
    """The dataset index a row names by idx, sha256 or source; None if it names none."""
    idx, sha256, source = _cell(row, "idx"), _cell(row, "sha256"), _cell(row, "source")
    if idx:
        return int(idx) if _INDEX.fullmatch(idx) else None
    if sha256:
        return by_hash.get(sha256)
    try:
        return by_source.get(str(Path(source).resolve())) if source else None
    except (OSError, ValueError):      # a NUL byte or an over-long name is no image of ours
        return None


def _byte_at(error: UnicodeDecodeError) -> str:
    return f"0x{error.object[error.start]:02x}"
