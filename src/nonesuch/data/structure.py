"""Limits on a file's structure, read from its bytes before any decoder sees them.

--max-pixels bounds what the pixels cost; these bound what the *container* costs, where a small
file makes a decoder do work out of all proportion to its pixels:

    JPEG  scans      every scan of a progressive (or multi-scan) JPEG walks the whole image's
                     coefficients again: 50,000 scans of a few bytes each over a 9000 x 9000
                     image (6 MB) kept libjpeg busy for minutes
    TIFF  strips     Pillow builds one Python tile per strip or tile offset, however few pixels
                     they cover: 20 million one-byte offsets (40 MB) took 4 GB and a minute
    TIFF  IFD        a BigTIFF's first directory may claim billions of entries; Pillow reads
                     each in Python
    WebP  metadata   Pillow and libwebp copy an EXIF, XMP or ICC chunk several times over: a
                     210 MB file of one EXIF chunk took ~1 GB, ~2.5 GB at the 512 MB file cap
    PNG   chunks     c2pa reads every chunk looking for a manifest, ~7 us each: a 15 MB PNG of a
                     million empty text chunks took verify 10 s (Pillow 1.5 s of it), and the
                     512 MB file cap holds 34 million

structure_problem(data) -> one-line reason, or None. It only reads headers and marker lengths,
so it costs milliseconds; a file it cannot make sense of is left to the decoder to refuse.
"""

from __future__ import annotations

import re
import struct

# nvImageCodec's default (NVIMGCODEC_MAX_JPEG_SCANS), set after the cure53 audit of libjpeg-turbo
# that described this attack. Real files have 1 (baseline), 6-10 (libjpeg progressive) or ~20
# (mozjpeg). Each scan costs ~5 ms per million 8x8 blocks: 253 scans over a 9400 x 9400 image
# (the most --max-pixels allows) ingest in 2 s.
MAX_JPEG_SCANS = 256
# Pillow keeps ~250 bytes and spends ~4 us per strip or tile: 2^20 of them are ~270 MB and ~5 s.
# A real TIFF has height / rows-per-strip strips (often 1 row each: a few thousand) or tiles of
# at least 16 x 16 px; only a file built to hurt has a million.
MAX_TIFF_BLOCKS = 1 << 20
# The most entries a classic TIFF directory can hold (a 16-bit count); real ones have ~20.
MAX_TIFF_DIRECTORY_ENTRIES = 0xFFFF

# Real WebP metadata chunks are kilobytes (an ICC profile rarely 1 MB); 16 MB costs ~80 MB to open.
MAX_WEBP_METADATA = 16 << 20
_WEBP_METADATA = (b"EXIF", b"XMP ", b"ICCP")
_WEBP_CHUNKS_WALKED = 1 << 20      # an animation's frames are chunks too: past this, the decoder decides

# A PNG has a few dozen chunks; an APNG two a frame (fcTL, fdAT): 200,000 is a 100,000-frame
# animation, and costs c2pa ~1.4 s to read through.
MAX_PNG_CHUNKS = 200_000

_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}        # RSTn and TEM carry no length
# The end of a scan's entropy-coded data: 0xFF followed by a marker byte (not a stuffed 0x00, a
# restart marker inside the scan, or a fill byte).
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_STRIP_OFFSETS, _TILE_OFFSETS = 273, 324


def structure_problem(data: bytes) -> str | None:
    """Why this file's structure is refused before decoding, or None when it is within limits."""
    if data.startswith(b"\xff\xd8"):
        return _jpeg_problem(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_problem(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_problem(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_problem(data)
    return None


def _png_problem(data: bytes) -> str | None:
    """More than MAX_PNG_CHUNKS chunks before IEND (or the end of the file)."""
    position, chunks = 8, 0
    while position + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            return (f"pathological PNG: over {MAX_PNG_CHUNKS:,} chunks; reading through them "
                    f"would take minutes")
        if data[position + 4:position + 8] == b"IEND":
            break
        position += 12 + int.from_bytes(data[position:position + 4], "big")
    return None


def _webp_problem(data: bytes) -> str | None:
    """The RIFF chunks after the header: a metadata chunk over MAX_WEBP_METADATA is refused."""
    position = 12
    for _ in range(_WEBP_CHUNKS_WALKED):
        if position + 8 > len(data):
            break
        fourcc, size = data[position:position + 4], int.from_bytes(data[position + 4:position + 8], "little")
        if fourcc in _WEBP_METADATA and size > MAX_WEBP_METADATA:
            return (f"pathological WebP: a {size / 2 ** 20:.0f} MB {fourcc.decode().strip()} chunk (at most "
                    f"{MAX_WEBP_METADATA >> 20} MB); opening it would take several times that")
        position += 8 + size + (size & 1)
    return None


def _jpeg_problem(data: bytes) -> str | None:
    # Every start-of-scan marker is the bytes FF DA (entropy data stuffs any FF it holds), so
    # this count is never below the real one: most files are cleared here at C speed.
    if data.count(b"\xff\xda") <= MAX_JPEG_SCANS:
        return None
    if _count_jpeg_scans(data) > MAX_JPEG_SCANS:
        return (f"pathological JPEG: over {MAX_JPEG_SCANS} scans; each scan re-reads the whole "
                f"image, so decoding it could take minutes")
    return None


def _count_jpeg_scans(data: bytes) -> int:
    """Scans of the first image (the one Pillow decodes), walking marker segments; stops past
    MAX_JPEG_SCANS or at anything malformed (the decoder reports that)."""
    scans, position = 0, 2
    while position + 4 <= len(data) and scans <= MAX_JPEG_SCANS:
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:                       # fill byte before a marker
            position += 1
            continue
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
        if marker == _SOS:
            scans += 1
            found = _MARKER_AFTER_SCAN.search(data, position)
            if found is None:
                break
            position = found.start()
    return scans


def _tiff_problem(data: bytes) -> str | None:
    """Strip/tile offsets and entry count of the first directory (the page Pillow decodes)."""
    endian = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    try:
        if big:
            (directory,) = struct.unpack_from(endian + "Q", data, 8)
            (entries,) = struct.unpack_from(endian + "Q", data, directory)
            first, size, layout = directory + 8, 20, endian + "HHQ"
        else:
            (directory,) = struct.unpack_from(endian + "I", data, 4)
            (entries,) = struct.unpack_from(endian + "H", data, directory)
            first, size, layout = directory + 2, 12, endian + "HHI"
    except struct.error:
        return None                              # too short to hold a directory: Pillow says so
    if entries > MAX_TIFF_DIRECTORY_ENTRIES:
        return (f"pathological TIFF: its first directory claims {entries} entries "
                f"(at most {MAX_TIFF_DIRECTORY_ENTRIES})")
    for index in range(entries):
        try:
            tag, _, count = struct.unpack_from(layout, data, first + index * size)
        except struct.error:
            break
        if tag in (_STRIP_OFFSETS, _TILE_OFFSETS) and count > MAX_TIFF_BLOCKS:
            what = "strips" if tag == _STRIP_OFFSETS else "tiles"
            return (f"pathological TIFF: {count} {what} (at most {MAX_TIFF_BLOCKS:,}); Pillow "
                    f"would spend gigabytes listing them")
    return None
