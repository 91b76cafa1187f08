"""`nonesuch show`: a contact sheet of a dataset's images, to look at before training on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nonesuch import atomic
from nonesuch.data.dataset import Dataset, DatasetError
from nonesuch.data.grid import image_grid, upscale_for_viewing


def sample_indices(ds: Dataset, n: int, label: str | None = None) -> np.ndarray:
    """Up to n image indices spread evenly over the dataset (or over one label's images), so the
    sheet shows the whole set, not just the first folder."""
    if label is None:
        pool = np.arange(len(ds))
    else:
        names = ds.label_names()
        if label not in names:
            raise DatasetError(f"{ds.root}: no label {label!r} (labels: {', '.join(names) or 'none'})")
        pool = np.flatnonzero(ds.label_indices() == names.index(label))
    if len(pool) <= n:
        return pool
    return pool[np.linspace(0, len(pool) - 1, n).round().astype(np.int64)]


def show_grid(dataset: str | Path, out: str | Path, n: int = 64, label: str | None = None,
              resolution: int | None = None) -> Path:
    """Write a PNG grid of up to n images at `resolution` (default: the dataset's largest);
    small images are enlarged with sharp pixels so they can be seen. Returns the path written."""
    ds = Dataset(dataset)
    if n < 1:
        raise DatasetError(f"--n must be at least 1, not {n}")
    indices = sample_indices(ds, n, label)
    if not len(indices):
        raise DatasetError(f"{ds.root}: has no images to show")
    images = np.asarray(ds.images(resolution)[indices])  # [n, R, R, 3] uint8
    sheet = upscale_for_viewing(image_grid(images))
    out = Path(out)
    with atomic.atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out
