"""Hostile inputs for ingest, made with the standard library: special files, damaged and lying
archives, names that are not UTF-8, unusual pixels. Shared by tests/test_ingest_hostile.py and
benchmarks/bench_hostile.py (which builds the heavy ones: bombs, huge counts)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import socket
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# bzip2 at level 1: 100 kB blocks, so a damaged tail leaves whole blocks before it to read
# (bzip2 cannot give back any of a block it could not finish).
COMPRESSORS = {"tar": lambda b: b, "tar.gz": gzip.compress, "tar.bz2": lambda b: bz2.compress(b, 1),
               "tar.xz": lzma.compress}


def png(color=(200, 40, 40), size: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


def distinct_pngs(n: int, size: int = 48, block: int = 8) -> list[bytes]:
    """n PNGs with different pictures (so none is a duplicate of another); block=1 makes noise,
    which does not compress (archives of them are as large as they look)."""
    rng = np.random.default_rng(n)
    out = []
    for _ in range(n):
        pixels = np.repeat(rng.integers(0, 256, (size // block, size // block, 3), np.uint8), block, 0).repeat(block, 1)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def plain_tar(members: dict[str, bytes], encoding: str = "utf-8", format=tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", encoding=encoding, format=format) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with_damaged_header(members: dict[str, bytes], damaged: int) -> bytes:
    """A plain tar whose `damaged`-th member header (0-based) is overwritten with garbage: tarfile
    alone takes the garbage for the end of the archive."""
    data = bytearray(plain_tar(members))
    offset = 0
    for i, payload in enumerate(members.values()):
        if i == damaged:
            data[offset:offset + 512] = bytes((x * 37 + 11) % 251 + 1 for x in range(512))
            return bytes(data)
        offset += 512 + (len(payload) + 511) // 512 * 512
    raise ValueError("no such member")


def zip_with_flags(members: dict[str, bytes], flag_bits: int = 0) -> bytes:
    """A zip whose members' general-purpose flags have `flag_bits` set (zipfile itself would
    clear them on writing: 0x1 'encrypted', 0x800 'name is UTF-8')."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(buffer.getvalue())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            flags = struct.unpack_from("<H", data, at + flags_at)[0]
            struct.pack_into("<H", data, at + flags_at, flags | flag_bits)
            at = data.find(signature, at + 4)
    return bytes(data)


def zip_with_undecodable_utf8_name() -> bytes:
    """A member flagged 'name is UTF-8' (bit 11) whose name bytes are not UTF-8."""
    data = zip_with_flags({"cafX.png": png()}, flag_bits=0x800)
    return data.replace(b"cafX", b"caf\xe9")


def zip_lying_about_size(real: bytes, claimed: int) -> bytes:
    """A zip whose headers say the member is `claimed` bytes; its data inflates to len(real)."""
    data = bytearray(zip_with_flags({"liar.png": real}))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + size_at:at + size_at + 4] = struct.pack("<I", claimed)
    return bytes(data)


def minimal_tiff(pixels: np.ndarray, sample_format: int) -> bytes:
    """A one-strip little-endian grey TIFF of any 32-bit sample type (Pillow writes only signed
    32-bit integers; cameras and science tools write unsigned ones and floats)."""
    height, width = pixels.shape
    data = np.ascontiguousarray(pixels).tobytes()
    tags = [(256, 3, width), (257, 3, height), (258, 3, 32), (259, 3, 1), (262, 3, 1),
            (273, 4, 8 + 2 + 11 * 12 + 4), (277, 3, 1), (278, 3, height), (279, 4, len(data)),
            (284, 3, 1), (339, 3, sample_format)]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        ifd += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + data


def gradient(dtype, low: float, high: float, side: int = 64) -> np.ndarray:
    """Left to right low..high, as `dtype`."""
    return np.tile(np.linspace(low, high, side), (side, 1)).astype(dtype)


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> socket.socket:
    """A listening unix socket file at `path` (keep the returned socket alive while it is used)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def bytes_name(folder: Path, raw: bytes) -> Path:
    """A path in `folder` whose last part is the raw bytes `raw` (not necessarily UTF-8)."""
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), raw)))


_COMPRESS = {"gz": lambda data: gzip.compress(data, 6), "bz2": lambda data: bz2.compress(data, 9),
             "xz": lambda data: lzma.compress(data, preset=1)}


def write_tar_bomb(path: Path, unpacked_bytes: int, members: int = 1, compression: str = "gz",
                   chunk: int = 1 << 20) -> int:
    """A .tar.<compression> of `members` members of zeros, `unpacked_bytes` in all. Built from
    concatenated compressed streams (gzip, bzip2 and xz readers all read those as one), so one
    compressed chunk of zeros, repeated, makes gigabytes in seconds. Returns its size on disk."""
    each = unpacked_bytes // members // chunk * chunk or chunk
    compress = _COMPRESS[compression]
    zeros = compress(bytes(chunk))
    with open(path, "wb") as f:
        for i in range(members):
            info = tarfile.TarInfo(f"bomb/{i:05d}.png")
            info.size = each
            f.write(compress(info.tobuf(tarfile.GNU_FORMAT)))
            for _ in range(each // chunk):
                f.write(zeros)
        f.write(compress(bytes(1024)))  # the end-of-archive marker
    return path.stat().st_size
