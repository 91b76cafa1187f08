"""`nonesuch export`: a dataset out as PNGs (folder per label) or a zip, that `ingest` reads back
to the same pixels and labels; StyleGAN2-ADA's dataset.json beside them; one-line errors."""

import hashlib
import json
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.data import Dataset, IngestConfig, ingest
from nonesuch.data.export import export_dataset

runner = CliRunner()


def _pixels_by_content(ds: Dataset, resolution: int) -> dict[str, str | None]:
    """sha256 of each image's pixels -> its label (order-free: ingest orders by source path)."""
    images = ds.images(resolution)
    return {hashlib.sha256(np.ascontiguousarray(images[i]).tobytes()).hexdigest(): label
            for i, label in enumerate(ds.labels())}


@pytest.mark.parametrize("target", ["folder", "export.zip"])
def test_export_round_trips_through_ingest_to_the_same_pixels(emoji_dataset, tmp_path, target):
    source = Dataset(emoji_dataset)
    out = tmp_path / target
    summary = export_dataset(emoji_dataset, out, resolution=16)
    assert (summary.images, summary.resolution, summary.labels, summary.unlabelled) == (48, 16, 4, 0)
    back = ingest([out], tmp_path / "again", IngestConfig(resolution=16), show_progress=False)
    assert back.images_in_dataset == 48
    again = Dataset(tmp_path / "again")
    assert _pixels_by_content(again, 16) == _pixels_by_content(source, 16)


def test_export_layout_is_folder_per_label_with_stylegan_labels(emoji_dataset, tmp_path):
    export_dataset(emoji_dataset, tmp_path / "e.zip")
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        names = archive.namelist()
        index = json.loads(archive.read("dataset.json"))
    source = Dataset(emoji_dataset)
    assert {n.split("/")[0] for n in names} == {*source.label_names(), "dataset.json"}
    assert len(index["labels"]) == 48
    for path, cls in index["labels"]:
        assert source.label_names()[cls] == path.split("/")[0]
        assert source.labels()[int(path.split("/")[1].removesuffix(".png"))] == path.split("/")[0]


def test_export_cli_refuses_to_overwrite_and_bad_resolution_in_one_line(emoji_dataset, tmp_path):
    (tmp_path / "taken").mkdir()
    result = runner.invoke(app, ["export", str(emoji_dataset), "--out", str(tmp_path / "taken")])
    assert result.exit_code == 1 and "already exists" in result.output and result.output.count("\n") == 1
    result = runner.invoke(app, ["export", str(emoji_dataset), "--out", str(tmp_path / "x"), "--resolution", "64"])
    assert result.exit_code == 1 and "has no 64 px images" in result.output and not (tmp_path / "x").exists()
    result = runner.invoke(app, ["export", str(emoji_dataset), "--out", str(tmp_path / "ok"), "--resolution", "8"])
    assert result.exit_code == 0, result.output
    assert "48 images at 8 px exported" in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no staging left behind
