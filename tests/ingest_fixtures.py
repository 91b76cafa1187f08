"""Hostile and unusual image files, made with Pillow and the standard library for ingest's tests."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, BLUE = (220, 30, 30), (30, 30, 220)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def emoji_on_white(png: Path) -> Image.Image:
    rgba = Image.open(png).convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")


def two_halves(width: int, height: int, top=RED, bottom=BLUE) -> Image.Image:
    """Upright picture: red top half, blue bottom half."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2] = top
    pixels[height // 2:] = bottom
    return Image.fromarray(pixels)


def exif_rotated_jpeg(orientation: int, width: int = 200, height: int = 120) -> bytes:
    """A JPEG whose stored pixels are rotated; EXIF Orientation says how to turn them upright.
    Orientation 6: viewers rotate 90 degrees clockwise; 8: counter-clockwise."""
    upright = two_halves(width, height)
    stored = upright.transpose(Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A 100-byte PNG whose header claims width x height RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def truncated_jpeg(image: Image.Image) -> bytes:
    data = encode(image, "JPEG", quality=90)
    return data[: len(data) // 2]


def cmyk_jpeg(size: int = 96) -> bytes:
    """Pure cyan in CMYK: (255, 0, 0, 0), which is RGB (0, 255, 255)."""
    return encode(Image.new("CMYK", (size, size), (255, 0, 0, 0)), "JPEG", quality=95)


def gradient_16bit_png(width: int = 256, height: int = 128) -> bytes:
    """I;16 grey, left to right 0..65535; an 8-bit clip would turn almost all of it white."""
    row = np.linspace(0, 65535, width).astype(np.uint16)
    return encode(Image.fromarray(np.tile(row, (height, 1))), "PNG")


def palette_png_with_transparency(size: int = 96) -> bytes:
    """P mode: palette 0 fully transparent (left half), palette 1 red (right half)."""
    image = Image.new("P", (size, size), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * 762)
    image.paste(1, (size // 2, 0, size, size))
    return encode(image, "PNG", transparency=0)


def one_bit_png(size: int = 96) -> bytes:
    """Mode 1: black left half, white right half."""
    image = Image.new("1", (size, size), 0)
    image.paste(1, (size // 2, 0, size, size))
    return encode(image, "PNG")


def la_png(size: int = 96) -> bytes:
    """LA: black, transparent on the top half."""
    image = Image.new("LA", (size, size), (0, 255))
    image.paste((0, 0), (0, 0, size, size // 2))
    return encode(image, "PNG")


def animated_gif(size: int = 96) -> bytes:
    frames = [Image.new("RGB", (size, size), RED), Image.new("RGB", (size, size), BLUE)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def zip_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def tar_archive(members: dict[str, bytes], symlinks: dict[str, str] = {}, hardlinks: dict[str, str] = {},
                mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for links, kind in ((symlinks, tarfile.SYMTYPE), (hardlinks, tarfile.LNKTYPE)):
            for name, target in links.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                archive.addfile(info)
    return buffer.getvalue()
