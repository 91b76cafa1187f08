"""`nonesuch info DATASET --check`: do the manifest's rows and the pixel files still agree?

What can make them disagree: two writers at once (before FolderLock, rows pointed at another
image's pixels), a disk that lost a tail, a copy that truncated a file, a person editing files.
Checked, each problem one line:

    rows      idx runs 0..N-1 with no gap (every pixel slot has its row)
    sizes     each pixels/<R>.u8 holds exactly N images (a longer file is an interrupted append,
              which the next writer cuts back; said, not counted as damage)
    content   each image's top-resolution pixels hash to the digest recorded when it was written;
              every smaller resolution is the box-filtered pyramid of the top one (so a damaged
              low-resolution file is found even in datasets written before digests existed)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nonesuch.data.dataset import Dataset, downsample_pyramid, pixels_sha256
from nonesuch.names import printable
from nonesuch.progress import progress_bar

_SHOWN = 20  # problems listed one by one; the rest are counted


@dataclass
class DatasetCheck:
    path: str
    images: int
    checked_digests: int = 0       # images whose pixels were compared with a recorded digest
    without_digest: int = 0        # images written before digests were recorded
    problems: list[str] = field(default_factory=list)  # one line each; empty when all agree
    notes: list[str] = field(default_factory=list)     # worth saying, not damage
    more_problems: int = 0         # beyond the ones listed

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(path: str | Path, batch: int = 256, show_progress: bool = False) -> DatasetCheck:
    """Compare every manifest row with the pixels stored for it (reads every pixel file once)."""
    ds = Dataset(path)  # raises DatasetError for a missing, damaged or truncated part
    result = DatasetCheck(path=str(ds.root), images=len(ds))
    _check_rows(ds, result)
    _check_sizes(ds, result)
    if result.ok:
        _check_content(ds, result, batch, show_progress)
    ds.close()
    return result


def _problem(result: DatasetCheck, line: str) -> None:
    if len(result.problems) < _SHOWN:
        result.problems.append(line)
    else:
        result.more_problems += 1


def _check_rows(ds: Dataset, result: DatasetCheck) -> None:
    first, last, count = ds.query("SELECT MIN(idx), MAX(idx), COUNT(*) FROM images")[0]
    if count and (first != 0 or last != count - 1):
        _problem(result, f"manifest: image rows are numbered {first}..{last} for {count} images "
                         f"(rows missing or out of place)")


def _check_sizes(ds: Dataset, result: DatasetCheck) -> None:
    for r in ds.resolutions:
        path = ds.pixel_path(r)
        size, per_image = path.stat().st_size, r * r * 3
        extra = size - len(ds) * per_image
        if extra > 0:
            result.notes.append(f"{path}: {extra} bytes after the last image (an interrupted write; "
                                f"the next ingest into this dataset cuts them)")


def _check_content(ds: Dataset, result: DatasetCheck, batch: int, show_progress: bool) -> None:
    digests = ds.pixel_digests()
    sources = [(printable(r.source), printable(r.member)) for r in ds.records()]
    levels = {r: ds.images(r) for r in ds.resolutions}
    top = levels[ds.resolution]
    with progress_bar("checking", len(ds), disable=not show_progress) as advance:
        for start in range(0, len(ds), batch):
            images = np.asarray(top[start:start + batch])
            for i, image in enumerate(images, start):
                if digests[i] is None:
                    result.without_digest += 1
                    continue
                result.checked_digests += 1
                if pixels_sha256(image) != digests[i]:
                    _problem(result, f"image {i} ({_where(sources[i])}): its {ds.resolution} px pixels "
                                     f"are not the ones written for it")
            for r, expected in downsample_pyramid(images).items():
                if r == ds.resolution:
                    continue
                stored = np.asarray(levels[r][start:start + len(images)])
                for i in np.flatnonzero((stored != expected).reshape(len(images), -1).any(axis=1)):
                    _problem(result, f"image {start + i} ({_where(sources[start + i])}): its {r} px pixels "
                                     f"do not match its {ds.resolution} px pixels")
            advance(len(images))
    if result.without_digest:
        result.notes.append(f"{result.without_digest} images were written before pixel digests were "
                            f"recorded: only their resolutions' agreement was checked")


def _where(source_member: tuple[str, str]) -> str:
    source, member = source_member
    return f"{source}!{member}" if member else source
