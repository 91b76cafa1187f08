"""A hostile user's sweep of ingest, info and show, one class of input per section.

Every bad input must give one line naming the file and the problem, never a traceback or a hang;
ingest carries on with the next file, and nothing outside --out is touched. The heavy cases
(bombs of gigabytes, /dev/zero through the CLI, huge counts) are in benchmarks/bench_hostile.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import hostile_inputs as hx
from nonesuch.cli import app
from nonesuch.data import Dataset, DatasetError, IngestConfig, ingest
from nonesuch.data.check import check_dataset
from nonesuch.data.decode import DecodeOptions, RejectedImage, decode_square
from nonesuch.data.sources import (ReadLimits, SourceError, UnreadableSource, list_entries,
                                   read_entries, read_regular_file)
from nonesuch.folder_lock import FolderLock

CONFIG = IngestConfig(resolution=16, min_size=8, workers=1)
ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def never_hang():
    """A hang (a FIFO opened, /dev/zero read) fails the test instead of stopping the suite."""
    def timeout(*_):
        raise TimeoutError("ingest hung")
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def run_ingest(sources, out, **overrides):
    config = IngestConfig(**{**CONFIG.__dict__, **overrides})
    return ingest(sources if isinstance(sources, list) else [sources], out, config, show_progress=False)


def reasons_by_name(summary) -> dict[str, str]:
    return {Path(r["source"]).name + (f"!{r['member']}" if r["member"] else ""): r["reason"]
            for r in summary.rejected}


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def good_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(hx.distinct_pngs(n)):
        (folder / f"good{i}.png").write_bytes(data)
    return folder


# ---- special files: only regular files are opened --------------------------------------------

def test_fifo_socket_and_device_links_in_a_folder_are_refused_by_kind_and_the_rest_ingested(tmp_path):
    src = good_folder(tmp_path / "src")
    hx.make_fifo(src / "pipe.png")
    listener = hx.make_socket(src / "socket.png")
    (src / "zero.png").symlink_to("/dev/zero")
    (src / "null.jpg").symlink_to("/dev/null")
    (src / "fifo.tar.gz").symlink_to(src / "pipe.png")  # an 'archive' that is a FIFO
    try:
        summary = run_ingest(src, tmp_path / "ds")
    finally:
        listener.close()
    reasons = reasons_by_name(summary)
    assert summary.ingested == 3
    assert reasons["pipe.png"] == "not a regular file: it is a FIFO (named pipe); only regular files are read"
    assert reasons["fifo.tar.gz"].startswith("not a regular file: it is a FIFO")
    assert reasons["socket.png"].startswith("not a regular file: it is a socket")
    assert reasons["zero.png"].startswith("not a regular file: it is a character device")
    assert reasons["null.jpg"].startswith("not a regular file: it is a character device")


def test_a_fifo_or_device_given_as_src_is_one_rejected_line(tmp_path):
    fifo = hx.make_fifo(tmp_path / "pipe.tar")
    summary = run_ingest([fifo, Path("/dev/zero"), good_folder(tmp_path / "src", 1)], tmp_path / "ds")
    reasons = reasons_by_name(summary)
    assert reasons["pipe.tar"].startswith("not a regular file: it is a FIFO")
    assert reasons["zero"].startswith("not a regular file: it is a character device")
    assert summary.ingested == 1


def test_reads_stop_at_the_byte_limit_whatever_the_size_says(tmp_path):
    # /proc files say they are 0 bytes long and are not; a sparse file says 2 GB and holds nothing.
    with pytest.raises(UnreadableSource, match="more than its size says"):
        read_regular_file(Path("/proc/self/maps"), max_bytes=64)
    sparse = tmp_path / "sparse.png"
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)
    started = time.monotonic()
    summary = run_ingest(sparse, tmp_path / "ds", max_file_bytes=1 << 20)
    assert reasons_by_name(summary)["sparse.png"] == f"too large: {2 << 30} bytes > {1 << 20}"
    assert time.monotonic() - started < 10


# ---- links -----------------------------------------------------------------------------------

def test_symlinked_folders_are_followed_once_and_loops_are_one_line(tmp_path):
    src = good_folder(tmp_path / "src" / "real", 2)
    (tmp_path / "src" / "alias").symlink_to(src)             # the same folder a second time
    (src / "up").symlink_to(tmp_path / "src")                # a loop back to an ancestor
    (src / "self.png").symlink_to(src / "self.png")          # a link to itself
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a broken link
    outside = good_folder(tmp_path / "elsewhere" / "extra", 1)
    (tmp_path / "src" / "linked").symlink_to(outside)        # a symlinked folder: followed
    summary = run_ingest(tmp_path / "src", tmp_path / "ds")
    reasons = reasons_by_name(summary)
    assert summary.ingested == 3
    assert reasons["real"].startswith("folder already listed as")  # 'alias' sorts first
    assert reasons["up"].startswith("symbolic link loop: leads back to")
    assert reasons["self.png"].startswith("symbolic link loop")
    assert reasons["gone.png"].startswith("broken symbolic link")
    labels = {r.label for r in Dataset(tmp_path / "ds").records()}
    assert labels == {"alias", "linked"}  # the name the user sees, not the link's target


def test_a_folder_tree_too_deep_is_one_line_not_a_recursion_error(tmp_path):
    from nonesuch.data.sources import MAX_FOLDER_DEPTH
    deep = tmp_path / "src"
    # 250 levels, not thousands: pytest's own clean-up removes folders recursively too.
    deep.joinpath(*["d"] * (MAX_FOLDER_DEPTH + 50)).mkdir(parents=True)
    entries = list_entries([deep])
    assert [e.problem.split(";")[0] for e in entries] == [f"folder nested more than {MAX_FOLDER_DEPTH} levels deep"]


# ---- names that are not UTF-8 ----------------------------------------------------------------

def test_undecodable_file_and_folder_names_are_stored_exactly_and_resume(tmp_path):
    src = tmp_path / "src"
    folder = hx.bytes_name(src, b"caf\xe9")
    folder.mkdir(parents=True)
    image = hx.bytes_name(folder, b"\xff\xfe image.png")
    image.write_bytes(hx.png())
    hx.bytes_name(folder, b"not\x80text.png").write_bytes(b"hello, not an image")
    out = tmp_path / "ds"
    first = run_ingest(src, out)
    assert first.ingested == 1 and len(first.rejected) == 1
    again = run_ingest(src, out)  # used to crash at the same file on every re-run
    assert again.already_done == 2 and again.ingested == 0
    record = Dataset(out).records()[0]
    assert os.fsencode(record.source) == os.fsencode(image)  # the exact bytes, not a lookalike
    assert record.label == os.fsdecode(b"caf\xe9")
    info = cli("info", out, "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["labels"] == {"caf\\xe9": 1}


def test_latin1_tar_member_names_ingest_and_resume(tmp_path):
    members = dict(zip(["café/crème.png", "naïve.png"], hx.distinct_pngs(2)))
    (tmp_path / "old.tar").write_bytes(hx.plain_tar(members, encoding="latin-1"))
    out = tmp_path / "ds"
    assert run_ingest(tmp_path / "old.tar", out).ingested == 2
    assert run_ingest(tmp_path / "old.tar", out).already_done == 2
    stored = {os.fsencode(r.member) for r in Dataset(out).records()}
    assert stored == {"café/crème.png".encode("latin-1"), "naïve.png".encode("latin-1")}


def test_zip_claiming_utf8_names_that_are_not_is_one_line(tmp_path):
    (tmp_path / "bad.zip").write_bytes(hx.zip_with_undecodable_utf8_name())
    reason = reasons_by_name(run_ingest([tmp_path / "bad.zip", good_folder(tmp_path / "g", 1)], tmp_path / "ds"))
    assert reason["bad.zip"].startswith("unreadable zip archive: ")


def test_names_with_markup_newlines_and_bad_bytes_print_as_one_plain_line(tmp_path):
    src = tmp_path / "[bold]src" / "["  # with the file below, the path holds '[/]': a closing tag
    src.mkdir(parents=True)
    hx.bytes_name(src, b"]\n[red]\xff.png").write_bytes(b"not an image")
    result = cli("ingest", src, "--out", tmp_path / "ds", "--resolution", 16)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "[bold]src/[/]\\n[red]\\xff.png: not an image (text file)" in result.output
    assert all(line.startswith(("error:", "  rejected", "0 images")) for line in result.output.splitlines())


# ---- archives: bombs, damage, lies -----------------------------------------------------------

def test_a_compressed_tar_may_unpack_only_to_its_budget_counted_while_reading(tmp_path):
    limits = ReadLimits(archive_ratio_min_bytes=256 << 10)
    bomb = tmp_path / "small.tar.gz"
    size = hx.write_tar_bomb(bomb, 8 << 20)  # 8 MB of zeros in ~8 kB
    budget = max(256 << 10, 100 * size)
    assert [e.problem for e in list_entries([bomb], limits=limits)] == [
        f"archive bomb: bomb/00000.png would unpack past {budget} bytes from a {size}-byte archive; "
        f"extract it yourself if it is genuine"]
    # a bomb of many members, each small: the budget holds for them all together, and the
    # members before it are still read
    many = tmp_path / "many.tar.gz"
    hx.write_tar_bomb(many, 8 << 20, members=64)
    entries = list_entries([many], limits=limits)
    assert entries[-1].problem.startswith("archive bomb: bomb/000") and 1 < len(entries) < 64
    assert all(e.problem is None for e in entries[:-1])
    payloads = [payload for _, payload in read_entries(entries, limits)]
    assert all(isinstance(p, bytes) for p in payloads[:-1])


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_a_damaged_header_mid_archive_is_reported_after_the_members_before_it(tmp_path, kind):
    members = dict(zip(["a.png", "b.png", "c.png"], hx.distinct_pngs(3)))
    archive = tmp_path / f"pack.{kind}"
    archive.write_bytes(hx.COMPRESSORS[kind](hx.tar_with_damaged_header(members, damaged=1)))
    summary = run_ingest(archive, tmp_path / "ds")
    assert summary.ingested == 1  # a.png, before the damage
    reason = reasons_by_name(summary)[archive.name]
    assert reason.startswith("damaged tar archive after member a.png: unreadable header at byte ")
    assert "\n" not in reason


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_a_truncated_or_garbled_archive_keeps_what_came_before(tmp_path, kind):
    members = dict(zip([f"m{i}.png" for i in range(6)], hx.distinct_pngs(6, size=128, block=1)))
    whole = hx.COMPRESSORS[kind](hx.plain_tar(members))
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    garbled = tmp_path / f"garbled.{kind}"
    middle = len(whole) // 2
    garbled.write_bytes(whole[:middle] + bytes(b ^ 0x5A for b in whole[middle:middle + 64]) + whole[middle + 64:])
    # A plain tar has no checksum over member data: garbled data there is the image's problem
    # (decode's), and garbled headers are the test above. Compressed streams have checksums.
    for archive in (cut, garbled) if kind != "tar" else (cut,):
        summary = run_ingest(archive, tmp_path / f"ds-{archive.name}")
        assert 1 <= summary.ingested < 6
        problems = [r for r in summary.rejected]
        assert problems, f"{archive.name}: damage went unreported"
        for r in problems:
            assert "\n" not in r["reason"] and ("tar archive" in r["reason"] or "archive member" in r["reason"])


def test_gzip_that_is_not_a_tar_zstd_and_nested_archives_are_named(tmp_path):
    import gzip
    (tmp_path / "image.tar.gz").write_bytes(gzip.compress(hx.png()))
    (tmp_path / "image.png.gz").write_bytes(gzip.compress(hx.png()))
    (tmp_path / "pack.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100))
    (tmp_path / "photos.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(100))
    (tmp_path / "photos.rar").write_bytes(b"Rar!\x1a\x07\x00" + bytes(100))
    (tmp_path / "outer.zip").write_bytes(hx.zip_with_flags({"inner.zip": hx.zip_with_flags({"x.png": hx.png()})}))
    names = ["image.tar.gz", "image.png.gz", "pack.tar.zst", "photos.7z", "photos.rar", "outer.zip"]
    summary = run_ingest([tmp_path / n for n in names] + [good_folder(tmp_path / "g", 1)], tmp_path / "ds")
    reasons = reasons_by_name(summary)
    assert reasons["image.tar.gz"].startswith("damaged tar archive") or reasons["image.tar.gz"].startswith("unreadable")
    assert reasons["image.png.gz"].startswith("not an image (a gzip file")
    assert reasons["pack.tar.zst"] == "zstd-compressed tar archives are not read; decompress it first"
    assert all("\n" not in reason for reason in reasons.values())
    assert reasons["photos.7z"].startswith("not an image (a 7z archive")
    assert reasons["photos.rar"].startswith("not an image (a rar archive")
    assert reasons["outer.zip!inner.zip"].startswith("not an image (a zip archive")


def test_encrypted_and_lying_zip_members_are_one_line_each(tmp_path):
    big = hx.distinct_pngs(1, size=256)[0]
    (tmp_path / "locked.zip").write_bytes(hx.zip_with_flags({"secret.png": hx.png()}, flag_bits=0x1))
    (tmp_path / "liar.zip").write_bytes(hx.zip_lying_about_size(big, claimed=100))
    summary = run_ingest([tmp_path / "locked.zip", tmp_path / "liar.zip", good_folder(tmp_path / "g", 1)],
                         tmp_path / "ds")
    reasons = reasons_by_name(summary)
    assert reasons["locked.zip!secret.png"].startswith("encrypted archive member: secret.png")
    assert reasons["liar.zip!liar.png"].startswith("unreadable archive member: liar.png (")
    assert summary.ingested == 1


def test_zip_members_together_may_not_exceed_the_archive_budget(tmp_path):
    members = {f"z{i}.bmp": bytes(3 << 20) for i in range(4)}  # 12 MB of zeros, each under the member rule
    (tmp_path / "many.zip").write_bytes(hx.zip_with_flags(members))
    entries = list_entries([tmp_path / "many.zip"], limits=ReadLimits(archive_ratio_min_bytes=5 << 20))
    problems = [e.problem for e in entries]
    assert problems[:1] == [None] and all(p and p.startswith("archive bomb: members up to z") for p in problems[2:])


def test_the_second_pass_never_reads_past_the_limit_either(tmp_path):
    # A file that grows after it was listed: the read still stops at the limit.
    target = tmp_path / "grows.png"
    target.write_bytes(hx.png())
    entries = list_entries([target], limits=ReadLimits(max_member_bytes=1000))
    target.write_bytes(bytes(5000))
    (entry, payload), = read_entries(entries)
    with pytest.raises(UnreadableSource, match="too large"):
        read_regular_file(payload, 1000)


# ---- unusual pixels --------------------------------------------------------------------------

@pytest.mark.parametrize("pixels, sample_format", [
    (hx.gradient(np.uint32, 0, 2**32 - 1), 1),   # unsigned 32-bit, full range
    (hx.gradient(np.int32, 0, 2**31 - 1), 2),    # signed 32-bit, positive range
    (hx.gradient(np.uint32, 0, 65535), 1),       # 16-bit data in a 32-bit container
    (hx.gradient(np.float32, 0, 1), 3),          # normalised float
    (hx.gradient(np.float32, 0, 255), 3),        # float in 8-bit units
])
def test_32bit_and_float_tiffs_come_out_as_a_gradient_not_black_or_white(pixels, sample_format):
    decoded = decode_square(hx.minimal_tiff(pixels, sample_format), DecodeOptions(64, min_size=8))
    row = decoded.pixels[32, :, 0].astype(int)
    assert row[0] < 8 and row[-1] > 247 and abs(row[32] - 128) < 12


@pytest.mark.parametrize("pixels, sample_format, words", [
    (hx.gradient(np.float32, -1, 1), 3, "negative values"),
    (hx.gradient(np.int32, -5, 100), 2, "negative values"),
    (np.full((64, 64), np.nan, np.float32), 3, "NaN or infinite"),
    (hx.gradient(np.float32, 0, 1e12), 3, "no known white level"),
])
def test_pixels_without_a_known_range_are_refused_with_the_reason(pixels, sample_format, words):
    with pytest.raises(RejectedImage, match=words):
        decode_square(hx.minimal_tiff(pixels, sample_format), DecodeOptions(64, min_size=8))


# ---- the output folder -----------------------------------------------------------------------

def test_out_that_is_a_file_or_someone_elses_folder_is_refused_and_left_alone(tmp_path):
    src = good_folder(tmp_path / "src", 1)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    result = cli("ingest", src, "--out", a_file)
    assert result.exit_code == 1 and "is a file" in result.output and a_file.read_text() == "mine"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.docx").write_text("years of work")
    result = cli("ingest", src, "--out", theirs)
    assert result.exit_code == 1 and "not empty and not a nonesuch dataset (it holds thesis.docx)" in result.output
    assert sorted(p.name for p in theirs.iterdir()) == ["thesis.docx"]


def test_out_equal_to_or_holding_a_source_is_refused(tmp_path):
    out = tmp_path / "ds"
    run_ingest(good_folder(tmp_path / "src", 1), out)
    for source in (out, out / "pixels"):
        with pytest.raises(SourceError, match="a dataset cannot ingest its own folder"):
            run_ingest(source, out)
    result = cli("ingest", tmp_path / "src", "--out", tmp_path / "src")
    assert result.exit_code == 1 and "is --out itself" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_one_line(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    result = cli("ingest", good_folder(tmp_path / "src", 1), "--out", out)
    assert result.exit_code == 1 and "cannot write here" in result.output


# ---- two writers -----------------------------------------------------------------------------

def test_a_second_ingest_into_the_same_out_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "ds"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom nonesuch.folder_lock import FolderLock\n"
         "with FolderLock(sys.argv[1], what='ingest'):\n    print('held', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli("ingest", good_folder(tmp_path / "src", 1), "--out", out)
        assert result.exit_code == 1
        assert f"in use by another nonesuch ingest (pid {holder.pid} on " in result.output
        assert len(result.output.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert run_ingest(tmp_path / "src", out).ingested == 1  # the dead holder's lock is taken over


def test_decoder_workers_die_with_a_killed_ingest(tmp_path):
    script = ("import os, time\nfrom nonesuch.data.decode import DecodeOptions\n"
              "from nonesuch.data.decode_pool import DecoderPool\n"
              "pool = DecoderPool(2, DecodeOptions(16), 1 << 20)\n"
              "print(' '.join(str(p) for p in pool._executor._processes), flush=True)\ntime.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and
                                              "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]
                                              for p in workers):
        time.sleep(0.05)
    alive = [p for p in workers if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]
    assert alive == [], "decoder workers outlived the killed ingest"


# ---- damaged dataset files -------------------------------------------------------------------

@pytest.fixture
def small_dataset(tmp_path) -> Path:
    out = tmp_path / "ds"
    run_ingest(good_folder(tmp_path / "src", 4), out)
    return out


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "manifest.sqlite").write_bytes(b"this is not sqlite" * 100), "damaged manifest"),
    (lambda d: (d / "manifest.sqlite").unlink(), "manifest.sqlite: missing"),
    (lambda d: (d / "dataset.json").write_text("{ half a json"), "dataset.json: damaged"),
    (lambda d: (d / "dataset.json").write_text('{"format": "nonesuch-dataset/1", "resolution": "big"}'), "dataset.json: damaged"),
    (lambda d: (d / "dataset.json").write_text("[1, 2]"), "dataset.json: damaged"),
    (lambda d: os.truncate(d / "pixels" / "16.u8", 100), "16.u8: truncated: holds 0 of the 4 images"),
    (lambda d: (d / "pixels" / "8.u8").unlink(), "8.u8: missing"),
])
def test_damaged_dataset_files_are_one_line_in_info_show_and_open(small_dataset, tmp_path, damage, words):
    for f in small_dataset.glob("manifest.sqlite-*"):
        f.unlink()
    damage(small_dataset)
    with pytest.raises(DatasetError, match=words):
        Dataset(small_dataset)
    for args in (["info", small_dataset], ["info", small_dataset, "--check"],
                 ["show", small_dataset, "--out", tmp_path / "grid.png"]):
        result = cli(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "grid.png").exists()


def test_check_finds_pixels_that_do_not_belong_to_their_row(small_dataset):
    assert check_dataset(small_dataset).ok
    top = small_dataset / "pixels" / "16.u8"
    data = bytearray(top.read_bytes())
    per_image = 16 * 16 * 3
    data[: per_image], data[per_image: 2 * per_image] = data[per_image: 2 * per_image], data[: per_image]
    top.write_bytes(bytes(data))  # images 0 and 1 swapped: what two writers at once used to do
    result = check_dataset(small_dataset)
    assert not result.ok and result.checked_digests == 4
    assert [line.split(" (")[0] for line in result.problems if "16 px pixels are not" in line] == ["image 0", "image 1"]
    cli_result = cli("info", small_dataset, "--check")
    assert cli_result.exit_code == 1 and "DISAGREE" in cli_result.output


def test_check_finds_a_damaged_smaller_resolution_and_a_missing_row(small_dataset):
    low = small_dataset / "pixels" / "4.u8"
    data = bytearray(low.read_bytes())
    data[4 * 4 * 3 * 2] ^= 0xFF  # image 2
    low.write_bytes(bytes(data))
    result = check_dataset(small_dataset)
    assert any(line.startswith("image 2 (") and "4 px pixels do not match" in line for line in result.problems)
    with sqlite3.connect(small_dataset / "manifest.sqlite") as db:
        db.execute("UPDATE images SET idx = 9 WHERE idx = 3")
    assert any("rows missing or out of place" in line for line in check_dataset(small_dataset).problems)


def test_fingerprint_changes_when_what_training_sees_changes(small_dataset, tmp_path):
    first = Dataset(small_dataset).fingerprint()
    assert Dataset(small_dataset).fingerprint() == first  # stable across opens
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "new.png").write_bytes(hx.png((1, 2, 3)))
    run_ingest([tmp_path / "src", tmp_path / "more"], small_dataset)
    grown = Dataset(small_dataset).fingerprint()
    assert grown != first
    with sqlite3.connect(small_dataset / "manifest.sqlite") as db:
        db.execute("UPDATE images SET label = 'other' WHERE idx = 0")
    assert Dataset(small_dataset).fingerprint() not in (first, grown)


def test_writer_lock_is_released_so_ingest_can_run_again_and_info_reads_during_a_write(small_dataset):
    with FolderLock(small_dataset, what="ingest"):
        with pytest.raises(DatasetError, match="already being written by this process"):
            run_ingest(small_dataset.parent / "src", small_dataset)
        assert len(Dataset(small_dataset)) == 4  # readers are never blocked
    assert run_ingest(small_dataset.parent / "src", small_dataset).already_done == 4
