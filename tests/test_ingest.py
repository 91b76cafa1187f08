"""Ingest end to end on real emoji PNGs: labels, order, resume, idempotence, the CLI."""

import json
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.data import Dataset, IngestConfig, ingest


def _manifest_rows(path):
    db = sqlite3.connect(path / "manifest.sqlite")
    rows = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
            for t in ("images", "rejected", "duplicates")}
    db.close()
    return rows


def _pixel_bytes(path):
    return {p.name: p.read_bytes() for p in sorted((path / "pixels").iterdir())}


def test_folder_ingest_labels_every_resolution_and_upright_pixels(emoji_folder, tmp_path):
    summary = ingest([emoji_folder], tmp_path / "ds", IngestConfig(resolution=32, workers=2),
                     show_progress=False)
    ds = Dataset(tmp_path / "ds")
    assert summary.ingested == len(ds) == 48 and summary.rejected == []
    assert ds.resolutions == [4, 8, 16, 32]
    assert ds.label_names() == ["animals-nature", "food-drink", "objects", "smileys-emotion"]
    assert (np.bincount(ds.label_indices()) == 12).all()
    records = ds.records()
    # sorted source order, whatever the number of workers
    assert [r.source for r in records] == sorted(str(p) for p in emoji_folder.glob("*/*.png"))
    assert records[0].mode == "RGBA" and (records[0].width, records[0].height) == (64, 64)
    # RGBA emoji composited over white: white corners, coloured centre; equal to a direct resize
    first = np.asarray(Image.open(records[0].source).convert("RGBA"))
    alpha = first[..., 3:] / 255.0
    flat = Image.fromarray((first[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8))
    expected = np.asarray(flat.resize((32, 32), Image.LANCZOS), np.int16)
    assert np.abs(ds.images(32)[0].astype(np.int16) - expected).mean() < 2.0
    assert ds.images(32)[:, 0, 0].min() > 240


def test_config_is_saved_and_a_different_config_is_refused(emoji_folder, tmp_path):
    ingest([emoji_folder / "objects"], tmp_path / "ds", IngestConfig(resolution=16), show_progress=False)
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["config"]["resolution"] == 16 and meta["config"]["min_size"] == 8
    assert meta["config"]["crop"] == "center"
    from nonesuch.data import DatasetError
    with pytest.raises(DatasetError, match="crop='center'"):
        ingest([emoji_folder / "objects"], tmp_path / "ds", IngestConfig(resolution=16, crop="pad"),
               show_progress=False)


def test_interrupted_run_resumes_to_the_bytes_of_a_clean_run(emoji_folder, tmp_path):
    config = IngestConfig(resolution=16, batch_size=8, workers=2, dedupe="near")
    src = tmp_path / "src"
    # (smileys-emotion left out: its grinning-face variants are near duplicates of each other)
    shutil.copytree(emoji_folder, src, ignore=shutil.ignore_patterns("smileys-emotion"))
    shutil.copy(src / "objects" / "1F453.png", src / "objects" / "copy-of-1F453.png")  # exact dup
    (src / "objects" / "broken.png").write_bytes(b"not a png")

    ingest([src], tmp_path / "clean", config, show_progress=False)

    class Interrupt(Exception):
        pass

    def crash_after_three(n):
        if n == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        ingest([src], tmp_path / "resumed", config, show_progress=False, after_batch=crash_after_three)
    assert 16 <= len(Dataset(tmp_path / "resumed")) <= 24  # 3 checkpoints of 8 files each
    summary = ingest([src], tmp_path / "resumed", config, show_progress=False)
    assert summary.already_done >= 24 and summary.images_in_dataset == len(Dataset(tmp_path / "clean"))

    assert _pixel_bytes(tmp_path / "resumed") == _pixel_bytes(tmp_path / "clean")
    assert _manifest_rows(tmp_path / "resumed") == _manifest_rows(tmp_path / "clean")
    rows = _manifest_rows(tmp_path / "clean")
    exact = [row for row in rows["duplicates"] if row[3] == "exact"]
    assert len(exact) == 1 and exact[0][0].endswith("copy-of-1F453.png")
    assert [r[0].endswith("broken.png") for r in rows["rejected"]] == [True]

    # a second complete run adds nothing and changes no byte
    again = ingest([src], tmp_path / "resumed", config, show_progress=False)
    assert again.ingested == 0 and again.rejected == [] and again.duplicates == 0
    assert _pixel_bytes(tmp_path / "resumed") == _pixel_bytes(tmp_path / "clean")
    assert _manifest_rows(tmp_path / "resumed") == _manifest_rows(tmp_path / "clean")


def test_cli_ingest_json_info_json_and_show(emoji_folder, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ds"
    result = runner.invoke(app, ["ingest", str(emoji_folder), "--out", str(out), "--resolution", "16",
                                 "--labels-from", "none", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ingested"] == 48 and summary["rejected"] == [] and summary["duplicates"] == 0

    result = runner.invoke(app, ["info", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["images"] == 48 and info["resolutions"] == [4, 8, 16]
    assert info["labels"] == {} and info["unlabelled"] == 48
    assert sum(info["sources"].values()) == 48 and len(info["sources"]) == 4

    grid = tmp_path / "grid.png"
    result = runner.invoke(app, ["show", str(out), "--out", str(grid), "--n", "9"])
    assert result.exit_code == 0, result.output
    sheet = Image.open(grid)
    assert sheet.format == "PNG" and min(sheet.size) >= 16 * 3


def test_cli_exits_1_with_one_line_when_nothing_is_ingested(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "junk"), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 1
    assert "no image could be ingested" in result.output
    assert "not an image (zero bytes)" in result.output


@pytest.mark.parametrize("args, message", [
    (["--workers", "100000"], "--workers must be from 1 to"),   # forked until memory ran out
    (["--workers", "-1"], "--workers must be from 1 to"),
    (["--workers", "0"], "--workers must be from 1 to"),
    (["--min-size", "-5"], "--min-size must be at least 0 px, got -5"),
    (["--near-distance", "100"], "--near-distance must be from 0 to 64 bits"),
    (["--near-distance", "-1"], "--near-distance must be from 0 to 64 bits"),
    (["--max-pixels", "0"], "--max-pixels must be at least 1, got 0"),
])
def test_bad_ingest_numbers_are_one_line_before_any_work(emoji_folder, tmp_path, args, message):
    result = CliRunner().invoke(app, ["ingest", str(emoji_folder), "--out", str(tmp_path / "ds"), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("size", ["0", "-5", "100000"])
def test_bad_openmoji_size_is_one_line_before_any_work(tmp_path, size):
    result = CliRunner().invoke(app, ["datasets", "openmoji", "--out", str(tmp_path / "emoji"), "--size", size])
    assert result.exit_code == 1 and f"--size must be from 1 to 2048 px, got {size}" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "emoji").exists()


def test_crash_between_image_rows_and_duplicate_rows_resumes_exactly(emoji_folder, tmp_path, monkeypatch):
    """The worst moment: a batch's images are committed, its duplicate rows are not yet."""
    from nonesuch.data import DatasetWriter
    src = tmp_path / "src"
    shutil.copytree(emoji_folder / "objects", src / "objects")
    for name in ("1F453", "1F454"):
        shutil.copy(src / "objects" / f"{name}.png", src / "objects" / f"{name}-again.png")
    config = IngestConfig(resolution=8, batch_size=4, workers=1)
    ingest([src], tmp_path / "clean", config, show_progress=False)

    real_duplicate = DatasetWriter.duplicate

    def crash_on_first_duplicate(self, *args):
        monkeypatch.setattr(DatasetWriter, "duplicate", real_duplicate)
        raise KeyboardInterrupt

    monkeypatch.setattr(DatasetWriter, "duplicate", crash_on_first_duplicate)
    with pytest.raises(KeyboardInterrupt):
        ingest([src], tmp_path / "resumed", config, show_progress=False)
    assert _manifest_rows(tmp_path / "resumed")["duplicates"] == []
    ingest([src], tmp_path / "resumed", config, show_progress=False)
    assert _manifest_rows(tmp_path / "resumed") == _manifest_rows(tmp_path / "clean")
    assert _pixel_bytes(tmp_path / "resumed") == _pixel_bytes(tmp_path / "clean")
    assert len(_manifest_rows(tmp_path / "clean")["duplicates"]) == 2


def test_out_inside_a_source_folder_is_never_read(emoji_folder, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(emoji_folder / "objects", src)
    config = IngestConfig(resolution=8)
    ingest([src], src / "dataset", config, show_progress=False)
    again = ingest([src], src / "dataset", config, show_progress=False)
    assert again.ingested == 0 and again.rejected == [] and again.images_in_dataset == 12


def ingest_with_poison(emoji_folder, tmp_path, monkeypatch, on_poison):
    """Ingest 12 emoji and a 13th, *-poison.png, on which the decoder calls on_poison() first.
    Workers are forked, so they inherit the patched decoder."""
    from nonesuch.data import decode_pool

    real = decode_pool.read_and_decode

    def poisoned(payload, *args):
        if str(payload).endswith("poison.png"):
            on_poison()
        return real(payload, *args)

    monkeypatch.setattr(decode_pool, "read_and_decode", poisoned)
    src = tmp_path / "src"
    shutil.copytree(emoji_folder / "objects", src / "objects")
    shutil.copy(src / "objects" / "1F453.png", src / "objects" / "1F453-poison.png")
    summary = ingest([src], tmp_path / "ds", IngestConfig(resolution=8, workers=2), show_progress=False)
    assert summary.ingested == 12
    assert len(summary.rejected) == 1 and summary.rejected[0]["source"].endswith("1F453-poison.png")
    return summary, src


def test_a_decoder_crash_costs_only_that_file(emoji_folder, tmp_path, monkeypatch):
    """A worker that dies (as a C decoder would on a hostile file) is replaced, and only the file
    it died on is rejected."""
    import os

    from nonesuch.data import decode_pool

    summary, src = ingest_with_poison(emoji_folder, tmp_path, monkeypatch, lambda: os._exit(139))
    assert summary.rejected[0]["reason"] == decode_pool.CRASH_REASON
    assert [r.source for r in Dataset(tmp_path / "ds").records()] == sorted(
        str(p) for p in (src / "objects").glob("*.png") if "poison" not in p.name)


def test_a_stuck_worker_costs_only_that_file(emoji_folder, tmp_path, monkeypatch):
    """A worker that never answers (a fork that inherited a held lock hung CI this way) is killed
    after STALL_TIMEOUT_S, its pool replaced, and only the file it was stuck on is rejected."""
    import time

    from nonesuch.data import decode_pool

    monkeypatch.setattr(decode_pool, "STALL_TIMEOUT_S", 3.0)
    started = time.perf_counter()
    summary, _ = ingest_with_poison(emoji_folder, tmp_path, monkeypatch, lambda: time.sleep(3600))
    assert time.perf_counter() - started < 60
    assert summary.rejected[0]["reason"] == decode_pool.STALL_REASON
