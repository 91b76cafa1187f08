"""Archives of very many members: every listed name costs memory, and a .tar.gz packs 200,000
empty members into a megabyte. One archive may hold MAX_ARCHIVE_MEMBERS and one run may list
MAX_LISTED_ENTRIES; past them, one rejected line says so and the other sources are ingested.

The caps are patched small here, so the archives are a few kilobytes; what the real caps cost
(1,000,000 members) is written beside MAX_ARCHIVE_MEMBERS in sources.py."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

import hostile_inputs as hx
import ingest_fixtures as fx
from nonesuch.data import IngestConfig, ingest
from nonesuch.data import sources
from nonesuch.data.sources import list_entries

CONFIG = IngestConfig(resolution=16, min_size=8, workers=1)
CAP = 50
EMOJI = 48  # images in the emoji_folder fixture


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(sources, "MAX_ARCHIVE_MEMBERS", CAP, raising=False)


def run_ingest(paths, out):
    return ingest(paths, out, CONFIG, show_progress=False)


def rejected_lines(summary) -> list[tuple[str, str, str]]:
    return [(Path(r["source"]).name, r["member"], r["reason"]) for r in summary.rejected]


def many_pngs(n: int) -> dict[str, bytes]:
    return {f"tiles/{i:03d}.png": png for i, png in enumerate(hx.distinct_pngs(n, size=16))}


def as_zip64(data: bytes) -> bytes:
    """The same zip, ended the ZIP64 way: the counts in a ZIP64 end record, 0xFFFF in the old one
    (what an archive of more than 65,535 members looks like, without writing 65,536 of them)."""
    eocd = data[-22:]
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack("<4sHHHHLLH", eocd)
    zip64_at = len(data) - 22
    zip64 = struct.pack("<4sQHHLLQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_at, 1)
    old = struct.pack("<4sHHHHLLH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:-22] + zip64 + locator + old


def with_lying_count(data: bytes, count: int) -> bytes:
    """The same zip, its end record claiming `count` members (zipfile never checks the count)."""
    return data[:-14] + struct.pack("<HH", count, count) + data[-10:]


def test_a_zip_of_more_members_than_the_cap_is_one_line_and_the_rest_is_ingested(tmp_path, emoji_folder, small_cap):
    (tmp_path / "huge.zip").write_bytes(fx.zip_archive(many_pngs(CAP + 10)))
    (tmp_path / "fits.zip").write_bytes(fx.zip_archive(many_pngs(CAP)))
    summary = run_ingest([tmp_path / "huge.zip", emoji_folder, tmp_path / "fits.zip"], tmp_path / "ds")
    assert rejected_lines(summary) == [
        ("huge.zip", "", "too many members: holds 60 members, more than the 50 one archive may hold; split it")]
    assert summary.ingested == EMOJI + CAP  # the emoji, and every member of the zip at the cap


def test_a_zip_is_counted_from_its_end_records_before_zipfile_reads_its_directory(tmp_path, monkeypatch, small_cap):
    (tmp_path / "zip64.zip").write_bytes(as_zip64(fx.zip_archive(many_pngs(CAP + 10))))
    (tmp_path / "fits64.zip").write_bytes(as_zip64(fx.zip_archive(many_pngs(CAP))))
    assert len(zipfile.ZipFile(tmp_path / "fits64.zip").infolist()) == CAP  # a valid ZIP64 ending
    assert [e.problem for e in list_entries([tmp_path / "fits64.zip"])] == [None] * CAP

    def never(*_, **__):
        raise AssertionError("zipfile built its member list of an archive over the cap")

    monkeypatch.setattr(zipfile, "ZipFile", never)
    assert [e.problem for e in list_entries([tmp_path / "zip64.zip"])] == [
        "too many members: holds 60 members, more than the 50 one archive may hold; split it"]


def test_a_zip_whose_end_record_lies_about_its_count_is_counted_entry_by_entry(tmp_path, small_cap):
    (tmp_path / "liar.zip").write_bytes(with_lying_count(fx.zip_archive(many_pngs(CAP + 10)), 3))
    assert [e.problem for e in list_entries([tmp_path / "liar.zip"])] == [
        "too many members: holds more than the 50 members one archive may hold; split it"]


def test_a_tar_is_read_up_to_the_cap_and_the_rest_is_one_line(tmp_path, emoji_folder, small_cap):
    pngs = many_pngs(CAP + 10)
    (tmp_path / "huge.tar.gz").write_bytes(fx.tar_archive(pngs))
    summary = run_ingest([tmp_path / "huge.tar.gz", emoji_folder], tmp_path / "ds")
    last = list(pngs)[CAP - 1]
    assert rejected_lines(summary) == [
        ("huge.tar.gz", "", "too many members: holds more than the 50 members one archive may hold; "
                            f"those after member {last} are not read; split it")]
    assert summary.ingested == CAP + EMOJI


def test_one_run_lists_at_most_max_listed_entries_members_and_says_where_it_stopped(tmp_path, emoji_folder, monkeypatch):
    """Archive members are capped per run; plain files are not (they are files on disk, and a
    folder of millions must stay one resumable command)."""
    pngs = list(many_pngs(8).items())
    for name, members in (("a.zip", pngs[:4]), ("b.zip", pngs[4:])):
        (tmp_path / name).write_bytes(fx.zip_archive(dict(members)))
    paths = [tmp_path / "a.zip", tmp_path / "b.zip", emoji_folder]
    seventh = list_entries(paths)[6]
    monkeypatch.setattr(sources, "MAX_LISTED_ENTRIES", 6, raising=False)
    summary = run_ingest(paths, tmp_path / "ds")
    assert summary.rejected == [{
        "source": str(tmp_path / "b.zip"), "member": "",
        "reason": f"too many archive members: one run lists at most 6; "
                  f"{seventh.source}!{seventh.member} and all after it are not read; ingest them in another run"}]
    assert summary.ingested == 6 + EMOJI
