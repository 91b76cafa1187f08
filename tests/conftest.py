"""Shared fixtures: real images, rendered from the bundled OpenMoji font (no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nonesuch.data.dataset import DatasetWriter, ImageRecord
from nonesuch.data.openmoji import render_openmoji


@pytest.fixture(scope="session")
def emoji_folder(tmp_path_factory) -> Path:
    """~12 emoji from each of 4 groups, 64 px RGBA PNGs in <group>/ sub-folders."""
    out = tmp_path_factory.mktemp("openmoji")
    render_openmoji(out, 64, groups=["smileys-emotion", "animals-nature", "food-drink", "objects"],
                    limit_per_group=12)
    return out


def make_dataset(folder: Path, out: Path, resolution: int) -> Path:
    """Build a dataset straight from emoji PNGs (alpha over white), without going through ingest,
    so later stages' tests do not depend on ingest's options."""
    writer = DatasetWriter(out, resolution)
    images, records = [], []
    for png in sorted(folder.glob("*/*.png")):
        rgba = Image.open(png).convert("RGBA")
        flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        images.append(np.asarray(flat.resize((resolution, resolution), Image.LANCZOS)))
        records.append(ImageRecord(sha256=png.stem + png.parent.name, source=str(png),
                                   width=rgba.width, height=rgba.height, mode="RGBA",
                                   label=png.parent.name))
    writer.append(np.stack(images), records)
    writer.close()
    return out


@pytest.fixture(scope="session")
def emoji_dataset(emoji_folder, tmp_path_factory) -> Path:
    """A 32 px dataset of 48 labelled emoji (4 labels), every resolution 4..32."""
    return make_dataset(emoji_folder, tmp_path_factory.mktemp("ds") / "emoji32", 32)
