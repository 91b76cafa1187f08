"""More hostile files and requests, each a case the first sweeps (test_ingest_hostile.py,
test_web_hostile.py, test_verify.py) did not name. Each test failed before its fix: with a
traceback, a connection held for ever, Ghostscript started, or memory many times the input's size.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hostile_inputs as hx
from nonesuch.cli import app
from nonesuch.curate.errors import CurateError
from nonesuch.curate.importing import MAX_CSV_LINE, import_labels
from nonesuch.curate.labels import LabelStore
from nonesuch.data import Dataset, DatasetError, IngestConfig, ingest
from nonesuch.data.dataset import MAX_META_BYTES, DatasetWriter
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.verify import verify_bytes
from nonesuch.provenance.xmp import read_xmp
from nonesuch.web import connections
from nonesuch.web.publish import publish_site
from nonesuch.web.server import ServerConfig, start_server

CONFIG = IngestConfig(resolution=16, min_size=8, workers=1)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_chunk_after_header(png: bytes, chunk: bytes) -> bytes:
    """`png` with `chunk` right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    return png[:33] + chunk + png[33:]


@pytest.fixture
def dataset(tmp_path) -> Dataset:
    src = tmp_path / "src"
    src.mkdir()
    for i, data in enumerate(hx.distinct_pngs(3)):
        (src / f"{i}.png").write_bytes(data)
    ingest([src], tmp_path / "ds", CONFIG, show_progress=False)
    return Dataset(tmp_path / "ds")


# ---- serve: a body that trickles in after its answer ----------------------------------------

def test_a_client_trickling_the_body_of_an_answered_request_is_closed(tmp_path, monkeypatch):
    """uvicorn drops the rest of an answered request's body, but every byte of it restarted the
    keep-alive timer: a byte of a 1 GB Content-Length every few seconds held the connection
    (one descriptor) for ever."""
    monkeypatch.setattr(connections, "KEEP_ALIVE_S", 1)
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(hx.png())
    site = publish_site(folder, tmp_path / "site").site
    with start_server(site, ServerConfig(port=0)) as server:
        host, port = server.url.removeprefix("http://").split(":")
        for head in (b"POST /healthz HTTP/1.1", b"GET / HTTP/1.1"):
            with socket.create_connection((host, int(port)), timeout=1) as connection:
                connection.sendall(head + b"\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
                started, closed = time.monotonic(), False
                while not closed and time.monotonic() - started < 6:
                    try:
                        connection.sendall(b"x")
                        closed = connection.recv(65536) == b""
                    except socket.timeout:
                        pass
                    except OSError:
                        closed = True
                    time.sleep(0.2)
                assert closed, f"{head.decode()}: still open after 6 s of a trickled body"


# ---- verify ------------------------------------------------------------------------------------

def test_verify_opens_only_the_formats_ingest_reads(tmp_path, monkeypatch):
    """Pillow reads EPS by running Ghostscript on it: a file someone sent must not start it."""
    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n"
    with pytest.raises(ProvenanceError, match="not an image"):
        verify_bytes(eps, "file.eps", registry=None)


def test_a_compressed_xmp_chunk_is_inflated_only_to_a_limit():
    """256 kB of zlib in a PNG's XMP chunk inflated to 256 MB (a 2 MB file took 4 GB in verify)."""
    compressor = zlib.compressobj(9)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(256)) + compressor.flush()
    body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb
    data = with_chunk_after_header(hx.png(), png_chunk(b"iTXt", body))
    tracemalloc.start()
    try:
        assert read_xmp(data) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes to read a {len(data)}-byte file's XMP"


# ---- curate: label CSVs ---------------------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    ("label,idx\nkeep,²\n", "l.csv:2: cannot use"),                          # str.isdigit(), not int()
    ("label,idx\nkeep," + "9" * 5000 + "\n", "l.csv:2: cannot use"),           # past int()'s 4300 digits
    ("label,idx\nkeep,١\n", "l.csv:2: cannot use"),                          # int() reads it as 1
    ("label,idx\nkeep,1" + "," * (MAX_CSV_LINE + 10) + "\n", f"l.csv:2: line longer than {MAX_CSV_LINE}"),
    (None, "l.csv: not a regular file: it is a FIFO"),                       # said 'no such ... file'
], ids=["superscript", "5000-digits", "arabic-digit", "long-line", "fifo"])
def test_a_hostile_labels_csv_is_one_line(dataset, tmp_path, content, words):
    path = tmp_path / "l.csv"
    if content is None:
        hx.make_fifo(path)
    else:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["curate", "label", str(dataset.root), "--target", "t",
                                      "--labels-from", str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ") and words in result.output, result.output
    assert LabelStore(dataset.root).current("t") == {}


def test_a_labels_csv_costs_memory_by_image_not_by_row(dataset, tmp_path):
    """Every row was held as a dict before any was used: 21 MB of rows took 1.1 GB."""
    path = tmp_path / "l.csv"
    path.write_text("label,idx\n" + "keep,0\ndiscard,1\n" * 100_000 + "skip,0\n")
    tracemalloc.start()
    try:
        counts = import_labels(dataset, "t", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counts == {"skip": 1, "discard": 1}   # each image's last row, as the page would store it
    assert LabelStore(dataset.root).current("t") == {1: "discard", 0: "skip"}
    assert peak < 4 * path.stat().st_size, f"{peak} bytes for a {path.stat().st_size}-byte CSV"


def test_a_missing_labels_source_still_says_so(dataset, tmp_path):
    with pytest.raises(CurateError, match="no such folder or CSV file"):
        import_labels(dataset, "t", tmp_path / "nothing.csv")


# ---- ingest and the dataset folder ------------------------------------------------------------

def test_a_symlink_loop_as_src_into_an_existing_out_is_one_rejected_line(dataset, tmp_path):
    """Path.resolve() raises RuntimeError on a loop; checking SRC against --out used it."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    summary = ingest([loop], dataset.root, CONFIG, show_progress=False)
    assert [r["reason"] for r in summary.rejected] == ["symbolic link loop (the link leads back to itself)"]


def replaced(path: Path, make) -> None:
    path.unlink()
    make(path)


@pytest.mark.parametrize("damage, words", [
    (lambda root: os.truncate(root / "dataset.json", 3 << 30),
     f"dataset.json: damaged (too large: {3 << 30} bytes > {MAX_META_BYTES})"),
    (lambda root: replaced(root / "pixels" / "16.u8", hx.make_fifo), "16.u8: not a regular file: it is a FIFO"),
    (lambda root: replaced(root / "pixels" / "16.u8", lambda p: p.symlink_to("/dev/zero")),
     "16.u8: not a regular file: it is a character device"),
], ids=["sparse-json", "fifo-pixels", "device-pixels"])
def test_a_dataset_file_that_is_huge_or_not_a_file_is_one_line_when_adding_to_it(dataset, tmp_path, damage, words):
    """A sparse dataset.json of 3 GB took 6.5 GB of memory to read; reopening a dataset to add to
    it truncated its pixel files, which on a FIFO or a device ended in a traceback."""
    damage(dataset.root)
    with pytest.raises(DatasetError, match=re.escape(words)):
        DatasetWriter(dataset.root, 16).close()
