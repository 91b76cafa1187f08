"""`nonesuch info`: what is in a dataset, from its manifest, without touching the pixels."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nonesuch.data.dataset import Dataset
from nonesuch.names import printable


@dataclass
class DatasetInfo:
    path: str
    images: int
    resolutions: list[int]
    labels: dict[str, int]              # label (printable) -> images; unlabelled images are not listed
    unlabelled: int
    sources: dict[str, int]             # folder or archive -> images ingested from it
    rejected: int
    rejected_by_reason: dict[str, int]  # reason kind ("too small", "truncated JPEG", ...) -> files
    duplicates: dict[str, int] = field(default_factory=dict)  # 'exact' / 'near' -> files
    config: dict = field(default_factory=dict)  # how it was made (dataset.json)
    parent: str | None = None           # the dataset this is a subset of


def reason_kind(reason: str) -> str:
    """The reason without its particulars: 'too small: 20x30 < --min-size 64' -> 'too small'."""
    return reason.split(":", 1)[0].split(" (", 1)[0].strip()


def _origin(source: str, member: str) -> str:
    """Where an image came from, at the grain a person thinks in: the archive, or the folder."""
    return source if member else str(PurePosixPath(Path(source).as_posix()).parent)


def dataset_info(path: str | Path) -> DatasetInfo:
    ds = Dataset(path)
    labels = Counter(ds.labels())
    unlabelled = labels.pop(None, 0)
    sources = Counter(printable(_origin(r.source, r.member)) for r in ds.records())
    rejected = ds.rejected()
    by_reason = Counter(reason_kind(reason) for _, _, reason in rejected)
    duplicates = ds.duplicate_counts()
    return DatasetInfo(
        path=str(ds.root), images=len(ds), resolutions=ds.resolutions,
        labels={printable(name): n for name, n in sorted(labels.items())}, unlabelled=unlabelled,
        sources=dict(sources.most_common()), rejected=len(rejected),
        rejected_by_reason=dict(by_reason.most_common()), duplicates=duplicates,
        config=ds.meta.get("config", {}), parent=ds.meta.get("parent"),
    )
