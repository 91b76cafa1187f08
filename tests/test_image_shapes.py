"""Image files whose structure, not their pixel count, is the attack: thousands of JPEG scans,
millions of TIFF strips, a PNG header bomb read through its EXIF, a GIF frame larger than its
canvas. Each is refused with one line, quickly, by every verb that opens a user's image."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image, ImageFile

import ingest_fixtures as fx
from nonesuch.data.decode import DecodeOptions, RejectedImage, decode_square
from nonesuch.data.structure import MAX_JPEG_SCANS, MAX_TIFF_BLOCKS, structure_problem
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.verify import verify_bytes
from nonesuch.web.publish import publish_site

OPTIONS = DecodeOptions(resolution=32, min_size=16)


def rejection(data: bytes) -> str:
    with pytest.raises(RejectedImage) as caught:
        decode_square(data, OPTIONS)
    return str(caught.value)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def progressive_jpeg(side: int, scans: int) -> bytes:
    """A greyscale progressive JPEG: one DC scan, then `scans` AC scans that each cover every
    block with a few end-of-band runs (a few bytes a scan; the decoder still visits each block)."""
    blocks = ((side + 7) // 8) ** 2
    header = (b"\xff\xd8" + _segment(0xDB, b"\x00" + bytes([1] * 64))
              + _segment(0xC2, struct.pack(">BHHB", 8, side, side, 1) + b"\x01\x11\x00")
              + _segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")     # DC: category 0
              + _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\xe0"))    # AC: EOB run, 14 bits
    dc_scan = _segment(0xDA, b"\x01\x01\x00\x00\x00\x00") + b"\x00" * ((blocks + 7) // 8)
    bits = "".join("0" + format(min(left, 32767) - 16384, "014b") if min(left, 32767) >= 16384
                   else "0" + "0" * 14 for left in range(blocks, 0, -32767))
    bits += "1" * (-len(bits) % 8)
    entropy = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    ac_scan = _segment(0xDA, b"\x01\x01\x00\x01\x3f\x00") + entropy
    return header + dc_scan + ac_scan * scans + b"\xff\xd9"


def striped_tiff(strips: int) -> bytes:
    """A 64 x 64 grey TIFF whose strip offsets and counts are `strips` one-byte values (BYTE type):
    two bytes of file per strip Pillow lists."""
    pixels = b"\x80" * 64
    offsets, counts = bytes([8]) * strips, bytes([64]) * strips
    body = b"II*\x00" + b"\x00" * 4 + pixels + offsets + counts
    entries = [(256, 4, 1, struct.pack("<I", 64)), (257, 4, 1, struct.pack("<I", 64)),
               (258, 3, 1, struct.pack("<HH", 8, 0)), (259, 3, 1, struct.pack("<HH", 1, 0)),
               (262, 3, 1, struct.pack("<HH", 1, 0)), (273, 1, strips, struct.pack("<I", 72)),
               (277, 3, 1, struct.pack("<HH", 1, 0)), (278, 3, 1, struct.pack("<HH", 1, 0)),
               (279, 1, strips, struct.pack("<I", 72 + strips))]
    directory = len(body)
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI", t, k, n) + v for t, k, n, v in entries)
    return body[:4] + struct.pack("<I", directory) + body[8:] + ifd + b"\x00" * 4


# ---- JPEG: scans ------------------------------------------------------------------------------

def test_a_jpeg_of_thousands_of_scans_is_refused_before_decoding():
    data = progressive_jpeg(256, 3000)                                 # 100 kB
    started = time.perf_counter()
    assert rejection(data).startswith(f"pathological JPEG: over {MAX_JPEG_SCANS} scans")
    assert time.perf_counter() - started < 1.0


def test_real_progressive_jpegs_and_scan_markers_in_metadata_pass():
    noise = Image.effect_noise((96, 96), 60).convert("RGB")
    assert decode_square(fx.encode(noise, "JPEG", progressive=True), OPTIONS).pixels.shape == (32, 32, 3)
    assert decode_square(progressive_jpeg(64, MAX_JPEG_SCANS - 1), OPTIONS).width == 64
    # FF DA bytes inside a comment are not scans: the exact count walks the segments.
    comment = _segment(0xFE, b"\xff\xda" * (MAX_JPEG_SCANS + 10))
    plain = fx.encode(noise, "JPEG")
    assert structure_problem(plain[:2] + comment + plain[2:]) is None


def test_verify_refuses_a_jpeg_of_thousands_of_scans_in_one_line():
    with pytest.raises(ProvenanceError, match=r"^x\.jpg: pathological JPEG: over 256 scans"):
        verify_bytes(progressive_jpeg(256, 3000), "x.jpg")


# ---- TIFF: strips and directories -------------------------------------------------------------

def test_a_tiff_of_a_million_strips_is_refused_before_pillow_lists_them():
    data = striped_tiff(MAX_TIFF_BLOCKS + 1)                           # 2 MB
    started = time.perf_counter()
    assert rejection(data) == (f"pathological TIFF: {MAX_TIFF_BLOCKS + 1} strips (at most "
                               f"{MAX_TIFF_BLOCKS:,}); Pillow would spend gigabytes listing them")
    assert time.perf_counter() - started < 1.0
    with pytest.raises(ProvenanceError, match="pathological TIFF"):
        verify_bytes(data, "x.tif")


def test_a_tiff_with_a_few_strips_still_decodes():
    assert decode_square(striped_tiff(64), OPTIONS).mode == "L"


def test_a_bigtiff_directory_of_billions_of_entries_is_refused():
    data = b"II+\x00\x08\x00\x00\x00" + struct.pack("<QQ", 16, 2**62) + bytes(64)
    assert rejection(data).startswith("pathological TIFF: its first directory claims 4611686018427387904 entries")


# ---- PNG: the size is checked before anything decodes -----------------------------------------

def test_a_png_bomb_is_refused_without_decoding_it(monkeypatch):
    """getexif() of a PNG decodes the whole image; the size check must come first (ingest
    workers lift Pillow's own limit, so nothing else stops a 900-megapixel decode)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self) or real_load(self))
    assert rejection(fx.bomb_png()) == "decompression bomb: 900000000 pixels > --max-pixels 89478485"
    assert loads == []


def test_png_metadata_over_pillows_limits_is_named():
    png = fx.encode(Image.new("RGB", (64, 64), fx.RED), "PNG")
    ztxt_bomb = fx.png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(bytes(2 << 20)))
    data = png[:33] + ztxt_bomb + png[33:]
    assert rejection(data).startswith("PNG metadata too large")
    with pytest.raises(ProvenanceError, match=r"^x\.png: PNG metadata too large"):
        verify_bytes(data, "x.png")


# ---- publish ----------------------------------------------------------------------------------

def gif_with_frame(width: int, height: int) -> bytes:
    """A 64 x 64 GIF whose first frame claims width x height (Pillow grows the canvas to it)."""
    data = bytearray(fx.encode(Image.new("P", (64, 64)), "GIF"))
    descriptor = data.index(b"\x2c")
    data[descriptor + 5:descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def test_publish_skips_hostile_files_with_one_line_each(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    (source / "good.png").write_bytes(fx.encode(Image.new("RGB", (64, 64), fx.RED), "PNG"))
    (source / "bomb.gif").write_bytes(gif_with_frame(60000, 60000))
    (source / "strips.png").write_bytes(striped_tiff(MAX_TIFF_BLOCKS + 1))   # a TIFF named .png
    summary = publish_site(source, tmp_path / "site")
    assert summary.images == 1
    reasons = dict(line.split(": ", 1) for line in summary.skipped)
    assert reasons[str(source / "bomb.gif")].startswith("decompression bomb: Image size (3600000000 pixels)")
    assert reasons[str(source / "strips.png")].startswith("pathological TIFF")      # refused unopened


def test_verify_does_not_look_for_the_mark_in_a_photo_larger_than_we_ever_make():
    """The detector holds ~50 bytes a pixel: an 81-megapixel JPEG took 3.7 GB and crashed verify
    under a 4 GB cap. Past 4096 x 4096 px the mark cannot be there; the other layers still speak."""
    buffer = io.BytesIO()
    Image.new("RGB", (5000, 4000), (200, 180, 160)).save(buffer, "PNG")
    started = time.perf_counter()
    report = verify_bytes(buffer.getvalue(), "big.png")
    assert report.watermark["status"] == "abstain" and "larger than any image" in report.watermark["reason"]
    assert report.verdict == "unknown" and time.perf_counter() - started < 10


def test_a_webp_with_a_huge_metadata_chunk_is_refused_before_opening():
    """Pillow and libwebp copy an EXIF chunk several times over: ~5x the file in memory."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "WEBP", exif=b"Exif\x00\x00" + bytes(20 << 20))
    assert rejection(buffer.getvalue()).startswith("pathological WebP: a 20 MB EXIF chunk (at most 16 MB)")
    with pytest.raises(ProvenanceError, match="pathological WebP"):
        verify_bytes(buffer.getvalue(), "x.webp")
    small = io.BytesIO()                                  # an ordinary EXIF block passes
    Image.new("RGB", (64, 64), "red").save(small, "WEBP", exif=b"Exif\x00\x00" + bytes(4096))
    assert structure_problem(small.getvalue()) is None


def test_an_image_longer_than_any_jpeg_side_is_refused_before_decoding():
    """A 1 x 89,000,000 px PNG is within --max-pixels, and took 1.8 GB in --crop pad."""
    raw = b"".join(b"\x00\x80" for _ in range(70_000))          # filter byte + one grey pixel a row
    png = (b"\x89PNG\r\n\x1a\n" + fx.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 70_000, 8, 0, 0, 0, 0))
           + fx.png_chunk(b"IDAT", zlib.compress(raw)) + fx.png_chunk(b"IEND", b""))
    options = DecodeOptions(resolution=32, min_size=1, crop="pad")
    with pytest.raises(RejectedImage, match="too long: 1x70000, a side over 65,535 px"):
        decode_square(png, options)


def test_verify_refuses_an_image_longer_than_any_jpeg_side_in_one_line():
    """20,000,000 rows of one pixel took verify 600 MB (8 bytes a row); 89 M would take 2.6 GB."""
    raw = zlib.compress(b"\x00\x80" * 70_000)
    png = (b"\x89PNG\r\n\x1a\n" + fx.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 70_000, 8, 0, 0, 0, 0))
           + fx.png_chunk(b"IDAT", raw) + fx.png_chunk(b"IEND", b""))
    with pytest.raises(ProvenanceError, match=r"^tall\.png: too long: 1x70000, a side over 65,535 px$"):
        verify_bytes(png, "tall.png")


def test_a_png_of_a_million_chunks_is_refused_before_any_layer_reads_it():
    """c2pa reads every chunk looking for a manifest: 1,000,000 empty text chunks (15 MB) took
    verify 10 s, and the 512 MB cap holds 34 million."""
    plain = fx.encode(Image.new("RGB", (64, 64), "white"), "PNG")
    data = plain[:33] + fx.png_chunk(b"tEXt", b"a\x00b") * 200_001 + plain[33:]
    started = time.perf_counter()
    with pytest.raises(ProvenanceError, match=r"^x\.png: pathological PNG: over 200,000 chunks"):
        verify_bytes(data, "x.png")
    assert rejection(data).startswith("pathological PNG") and time.perf_counter() - started < 2
    from nonesuch.web.entry import PageEntry
    with pytest.raises(ValueError, match="pathological PNG"):
        PageEntry.from_bytes(data, {})
    animated = io.BytesIO()                                   # an ordinary animation passes
    frames = [Image.new("RGB", (64, 64), (i, 0, 0)) for i in range(50)]
    frames[0].save(animated, "PNG", save_all=True, append_images=frames[1:])
    assert structure_problem(animated.getvalue()) is None
