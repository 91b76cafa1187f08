"""`nonesuch info` and `nonesuch show` on real datasets, and the CLI's one-line errors."""

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

import ingest_fixtures as fx
from nonesuch.cli import app
from nonesuch.data import Dataset, IngestConfig, ingest
from nonesuch.data.info import dataset_info, reason_kind
from nonesuch.data.show import sample_indices, show_grid

runner = CliRunner()


def test_info_counts_labels_sources_and_rejections_by_kind(emoji_folder, tmp_path):
    pile = tmp_path / "pile"
    (pile / "bad").mkdir(parents=True)
    (pile / "bad" / "a.png").write_bytes(b"")
    (pile / "bad" / "b.png").write_bytes(b"")
    (pile / "bad" / "small.png").write_bytes(fx.encode(Image.new("RGB", (4, 4)), "PNG"))
    ingest([emoji_folder / "objects", emoji_folder / "food-drink", pile], tmp_path / "ds",
           IngestConfig(resolution=16), show_progress=False)
    info = dataset_info(tmp_path / "ds")
    assert info.images == 24 and info.resolutions == [4, 8, 16]
    assert info.labels == {"food-drink": 12, "objects": 12} and info.unlabelled == 0
    assert info.sources == {str(emoji_folder / "food-drink"): 12, str(emoji_folder / "objects"): 12}
    assert info.rejected == 3 and info.rejected_by_reason == {"not an image": 2, "too small": 1}
    assert info.config["resolution"] == 16

    result = runner.invoke(app, ["info", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert "24 images at 4, 8, 16 px" in result.output and "too small" in result.output


def test_reason_kind_drops_the_particulars():
    assert reason_kind("too small: 20x30 < --min-size 64") == "too small"
    assert reason_kind("not an image (zero bytes)") == "not an image"
    assert reason_kind("unsafe archive member: ../evil.png") == "unsafe archive member"
    assert reason_kind("truncated JPEG") == "truncated JPEG"


def test_show_samples_evenly_and_filters_by_label(emoji_dataset, tmp_path):
    ds = Dataset(emoji_dataset)
    assert list(sample_indices(ds, 4)) == [0, 16, 31, 47]
    smileys = sample_indices(ds, 100, "smileys-emotion")
    assert len(smileys) == 12 and {ds.labels()[i] for i in smileys} == {"smileys-emotion"}

    out = show_grid(emoji_dataset, tmp_path / "sheet.png", n=4, resolution=8)
    sheet = np.asarray(Image.open(out))
    assert sheet.shape[0] >= 512 and sheet.std() > 20  # enlarged to be seen, and not blank


def test_show_cli_unknown_label_is_one_clear_line(emoji_dataset, tmp_path):
    result = runner.invoke(app, ["show", str(emoji_dataset), "--out", str(tmp_path / "g.png"), "--label", "cats"])
    assert result.exit_code == 1
    assert "no label 'cats'" in result.output and "smileys-emotion" in result.output
    assert not (tmp_path / "g.png").exists()


def test_show_into_a_pipe_or_device_is_one_line_and_leaves_it_alone(emoji_dataset, tmp_path):
    """Run as root, the atomic rename replaced /dev/null with the grid; a FIFO stands in for it."""
    import os

    fifo = tmp_path / "grid.png"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["show", str(emoji_dataset), "--out", str(fifo)])
    assert result.exit_code == 1 and "is not a regular file" in result.output
    assert len(result.output.strip().splitlines()) == 1 and fifo.is_fifo()


def test_cli_errors_name_the_path(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 1 and "missing: no such file or folder" in result.output
    assert not (tmp_path / "ds").exists()
    result = runner.invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 1 and "not a nonesuch dataset" in result.output
    result = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "ds"), "--crop", "zoom"])
    assert result.exit_code == 1 and "--crop must be 'center' or 'pad'" in result.output


def test_cli_pad_and_background_are_saved_in_the_config(emoji_folder, tmp_path):
    result = runner.invoke(app, ["ingest", str(emoji_folder / "objects"), "--out", str(tmp_path / "ds"),
                                 "--resolution", "8", "--crop", "pad", "--background", "black",
                                 "--min-size", "8", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ingested"] == 12
    config = json.loads((tmp_path / "ds" / "dataset.json").read_text())["config"]
    assert config["crop"] == "pad" and config["background"] == "black" and config["min_size"] == 8
    assert Dataset(tmp_path / "ds").images(8)[:, 0, 0].max() < 10  # transparent corners over black


def test_resolution_0_is_refused_not_read_as_the_default(emoji_dataset, tmp_path):
    for verb in (["show", str(emoji_dataset), "--out", str(tmp_path / "s.png")],
                 ["export", str(emoji_dataset), "--out", str(tmp_path / "x")]):
        result = CliRunner().invoke(app, [*verb, "--resolution", "0"])
        assert result.exit_code == 1 and "has no 0 px images" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_a_full_disk_is_one_line_that_says_the_command_resumes(emoji_dataset, tmp_path, monkeypatch, capsys):
    """Whichever write meets a full disk, the command ends in one line, not that write's traceback
    (measured on a 3 MB tmpfs: ingest and generate both resumed to a complete, checked output)."""
    import errno
    import sys

    import pytest

    from nonesuch import cli
    from nonesuch.data import show

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".grid.png.1234.tmp"))

    monkeypatch.setattr(show, "show_grid", no_space)
    monkeypatch.setattr(sys, "argv", ["nonesuch", "show", str(emoji_dataset), "--out", str(tmp_path / "grid.png")])
    with pytest.raises(SystemExit) as stopped:
        cli.run_app()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no space left on the device (writing in {tmp_path})") and err.count("\n") == 1
