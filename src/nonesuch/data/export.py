"""`nonesuch export`: a dataset out as plain PNGs, for other tools; the manifest stays the source
of truth and is not changed.

Layout (a folder, or the same tree in a .zip):

    <label>/<index>.png      one folder per label (torchvision's ImageFolder, lightweight-gan,
                             and `nonesuch ingest --labels-from folder` read this)
    <index>.png              images without a label, at the top
    dataset.json             {"labels": [["<label>/<index>.png", class], ...]}: StyleGAN2-ADA's
                             dataset_tool / training format (class = index into the sorted labels),
                             "labels": null when the dataset has none

<index> is the image's index in the dataset, zero-padded, so an export sorts in dataset order and
names the row in manifest.sqlite it came from. Pixels are the stored array at the chosen
resolution, written losslessly: ingesting the export again at that resolution gives the same
pixels (tested). Written to a temporary name and renamed, so an interrupted export leaves nothing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from nonesuch import atomic
from nonesuch.data.dataset import Dataset, DatasetError
from nonesuch.progress import progress_bar


@dataclass
class ExportSummary:
    out: str
    images: int
    resolution: int
    labels: int        # distinct labels, one folder each
    unlabelled: int


def _folder_name(label: str, dataset: Path) -> str:
    """A label as one path component; refuse what cannot be one rather than guess a rename."""
    if not label or label in (".", "..") or "/" in label or "\\" in label or "\0" in label:
        raise DatasetError(f"{dataset}: label {label!r} cannot be a folder name; relabel it before exporting")
    return label


def _entries(ds: Dataset) -> list[tuple[int, str, int | None]]:
    """(index, path inside the export, class index or None) per image."""
    names = ds.label_names()
    width = max(6, len(str(max(len(ds) - 1, 0))))
    entries = []
    for index, label in enumerate(ds.labels()):
        file = f"{index:0{width}d}.png"
        if label is None:
            entries.append((index, file, None))
        else:
            entries.append((index, f"{_folder_name(label, ds.root)}/{file}", names.index(label)))
    return entries


def _png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def export_dataset(dataset: str | Path, out: str | Path, resolution: int | None = None) -> ExportSummary:
    """Write `dataset`'s images at `resolution` (default: its largest) to a folder, or to a zip
    when `out` ends in .zip. Refuses to write over anything that exists."""
    ds = Dataset(dataset)
    images = ds.images(resolution)                    # raises DatasetError for a missing resolution
    resolution = images.shape[1] if len(images) else (ds.resolution if resolution is None else resolution)
    out = Path(out)
    if out.exists():
        raise DatasetError(f"{out}: already exists; choose a new --out (an export never overwrites)")
    entries = _entries(ds)
    labelled = any(cls is not None for _, _, cls in entries)
    index_json = json.dumps({"labels": [[path, cls] for _, path, cls in entries if cls is not None]
                             if labelled else None}, indent=1).encode()
    if out.suffix.lower() == ".zip":
        _write_zip(out, images, entries, index_json)
    else:
        _write_folder(out, images, entries, index_json)
    return ExportSummary(out=str(out), images=len(entries), resolution=resolution,
                         labels=len(ds.label_names()),
                         unlabelled=sum(1 for _, _, cls in entries if cls is None))


def _write_zip(out: Path, images, entries, index_json: bytes) -> None:
    # PNGs are compressed already: store them, as StyleGAN2-ADA's dataset_tool does.
    with atomic.atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive, \
            progress_bar("exporting", len(entries)) as advance:
        for index, path, _ in entries:
            archive.writestr(path, _png(images[index]))
            advance()
        archive.writestr("dataset.json", index_json)


def _write_folder(out: Path, images, entries, index_json: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with progress_bar("exporting", len(entries)) as advance:
            for index, path, _ in entries:
                target = staging / path
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(_png(images[index]))
                advance()
        (staging / "dataset.json").write_bytes(index_json)
        os.chmod(staging, 0o755)   # mkdtemp makes it private; an export is for sharing
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
