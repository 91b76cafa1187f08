"""One image file's bytes -> an upright, square RGB uint8 array at the dataset resolution.

Every way an image can arrive is handled here, in this order:

    sniff      zero bytes, text, or a format we do not read          -> RejectedImage(reason)
    structure  a container that costs far more than its pixels (structure.py: thousands of
               JPEG scans, millions of TIFF strips)                  -> RejectedImage
    header     pixel count over --max-pixels (decompression bomb)    -> RejectedImage
               short side under --min-size                          -> RejectedImage
    draft      JPEG only: let libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT scaling) when the
               target is that much smaller; by far the largest saving on photo-sized inputs
    load       truncated or corrupt data                             -> RejectedImage
    orient     EXIF orientation applied, so pixels come out upright
    colour     every Pillow mode to RGB; alpha composited over the background
    square     centre crop, or pad with the background, then one Lanczos resize

The formats are limited to the ones a dataset needs (JPEG, PNG, WebP, GIF, BMP, TIFF): Pillow
can open more, some through external programs (EPS runs Ghostscript), which a pile of
downloaded files should not be able to trigger.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from nonesuch.data.sources import UnreadableSource, read_regular_file
from nonesuch.data.structure import structure_problem

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # MPO (camera JPEGs) opens as JPEG
# EXIF orientations 5..8 are rotations by 90 or 270 degrees: width and height swap.
_SWAPS_SIDES = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


class RejectedImage(Exception):
    """An input that cannot become a dataset image; str(e) is a one-line reason for the manifest."""


@dataclass(frozen=True)
class DecodeOptions:
    resolution: int            # output side in pixels
    crop: str = "center"       # 'center': crop the short side; 'pad': fit inside, fill with background
    background: tuple[int, int, int] = (255, 255, 255)
    min_size: int = 64         # reject if the side that becomes the square is shorter
    max_pixels: int = 89_478_485  # width x height above which a file is a decompression bomb


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray   # [R, R, 3] uint8
    sha256: str          # of the file's bytes
    width: int           # original size, after EXIF rotation
    height: int
    mode: str            # original Pillow mode
    format: str


def decode_square(data: bytes, options: DecodeOptions) -> DecodedImage:
    """Decode one file's bytes; raises RejectedImage with the reason when it cannot."""
    image = _open(data, options)
    fmt, mode = image.format or "image", image.mode
    # Before the orientation is read: a PNG's getexif() decodes the whole image (its eXIf chunk
    # may follow the pixels), so a 900-megapixel PNG was decoded, then refused. A quarter turn
    # swaps the sides, which changes neither the pixel count nor the short or long side.
    _check_size(image.width, image.height, options)
    orientation = _exif_orientation(image)
    width, height = (image.height, image.width) if orientation in _SWAPS_SIDES else image.size
    if fmt in ("JPEG", "MPO"):
        _request_dct_scaling(image, options)
    _load(image, fmt, options)
    if orientation != 1:
        image = _upright(image)
    rgb = to_rgb(image, options.background)
    square = to_square(rgb, options)
    return DecodedImage(np.asarray(square), hashlib.sha256(data).hexdigest(), width, height, mode, fmt)


def _open(data: bytes, options: DecodeOptions) -> Image.Image:
    if not data:
        raise RejectedImage("not an image (zero bytes)")
    if problem := structure_problem(data):
        raise RejectedImage(problem)
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise RejectedImage(_bomb_reason(e, options)) from e
    except ValueError as e:
        raise RejectedImage(png_metadata_reason(e) or _unopenable_reason(data)) from e
    except (Image.UnidentifiedImageError, OSError, SyntaxError) as e:
        raise RejectedImage(_unopenable_reason(data)) from e


def png_metadata_reason(error: Exception) -> str | None:
    """Pillow refuses a PNG whose text or ICC chunks inflate past its limits (1 MB a chunk,
    64 MB of text: a zTXt bomb), raising ValueError from the header read. Say that, rather than
    "unreadable header", for a file whose pixels may be fine."""
    message = str(error)
    if "MAX_TEXT_CHUNK" in message or "MAX_TEXT_MEMORY" in message:
        return ("PNG metadata too large: a text or ICC profile chunk inflates past Pillow's limit "
                "(1 MB each, 64 MB of text in all)")
    return None


# Signatures of the formats we read, and the marker a complete file ends with (if it has one).
_SIGNATURES = {b"\xff\xd8\xff": ("JPEG", b"\xff\xd9"), b"\x89PNG\r\n\x1a\n": ("PNG", b"IEND\xaeB`\x82"),
               b"GIF8": ("GIF", b";"), b"BM": ("BMP", None), b"II*\x00": ("TIFF", None),
               b"MM\x00*": ("TIFF", None), b"RIFF": ("WEBP", None)}


# Things found in image piles that are not images: say what they are, so the user knows what to do.
_NOT_IMAGES = ((b"PK\x03\x04", "a zip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
               (b"Rar!\x1a\x07", "a rar archive"), (b"\x1f\x8b", "a gzip file"), (b"BZh", "a bzip2 file"),
               (b"\xfd7zXZ\x00", "an xz file"), (b"\x28\xb5\x2f\xfd", "a zstd file"),
               (b"%PDF", "a PDF document"), (b"\x7fELF", "a program"))


def _unopenable_reason(data: bytes) -> str:
    """Why Pillow could not even read the header: name the format when the signature gives it."""
    for signature, (fmt, end_marker) in _SIGNATURES.items():
        if data.startswith(signature):
            cut = end_marker is not None and end_marker not in data[-32:]
            if fmt == "TIFF" and not cut:
                return "unreadable TIFF (a sample format Pillow cannot read, such as float colour, or a damaged header)"
            return f"truncated {fmt}" if cut else f"corrupt {fmt} (unreadable header)"
    for signature, what in _NOT_IMAGES:
        if data.startswith(signature):
            return (f"not an image ({what}; nonesuch reads zip and tar archives named .zip, .tar, "
                    f".tar.gz/.bz2/.xz: extract it or rename it)")
    if len(data) > 262 and data[257:262] == b"ustar":
        return "not an image (a tar archive; name it .tar to have it read)"
    if _looks_like_text(data):
        return "not an image (text file)"
    return "not an image (unrecognised content)"


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in head)


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block: keep the pixels, ignore the orientation
        return 1


# The longest side a JPEG or WebP can have. A PNG or TIFF longer than that is built to hurt:
# Pillow keeps 8 bytes a row for each copy, so a 1 x 89,000,000 px PNG (within --max-pixels)
# took 1.8 GB in --crop pad.
MAX_SIDE = 65_535


def side_problem(width: int, height: int) -> str | None:
    """Why an image this size is refused whatever the options (ingest and verify), or None."""
    if max(width, height) > MAX_SIDE:
        return f"too long: {width}x{height}, a side over {MAX_SIDE:,} px"
    return None


def _check_size(width: int, height: int, options: DecodeOptions) -> None:
    if problem := side_problem(width, height):
        raise RejectedImage(problem)
    if width * height > options.max_pixels:
        raise RejectedImage(
            f"decompression bomb: {width * height} pixels > --max-pixels {options.max_pixels}")
    side = min(width, height) if options.crop == "center" else max(width, height)
    if side < options.min_size:
        raise RejectedImage(f"too small: {width}x{height} < --min-size {options.min_size}")


def _request_dct_scaling(image: Image.Image, options: DecodeOptions) -> None:
    """Ask libjpeg for the smallest 1/2^k scale that keeps the square's side >= resolution.

    draft() keeps both sides >= the requested size, so request the whole image scaled so that
    the side which becomes the square lands on the resolution.
    """
    width, height = image.size
    side = min(width, height) if options.crop == "center" else max(width, height)
    if side < 2 * options.resolution:
        return
    scale = options.resolution / side
    image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))


def _bomb_reason(error: Exception, options: DecodeOptions) -> str:
    """Pillow's own limit fired (ingest workers lift it; a direct caller may not have). Say it in
    the same words as our --max-pixels check."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    if not found:
        return f"decompression bomb: {' '.join(str(error).split())}"
    pixels = int(found.group(1))
    if pixels > options.max_pixels:
        return f"decompression bomb: {pixels} pixels > --max-pixels {options.max_pixels}"
    return f"decompression bomb: {pixels} pixels > Pillow's limit {2 * (Image.MAX_IMAGE_PIXELS or 0)}"


def _load(image: Image.Image, fmt: str, options: DecodeOptions) -> None:
    try:
        image.load()
    except Image.DecompressionBombError as e:
        raise RejectedImage(_bomb_reason(e, options)) from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        message = " ".join(str(e).split())  # one line
        if "truncated" in message.lower() or isinstance(e, EOFError):
            raise RejectedImage(f"truncated {fmt}") from e
        raise RejectedImage(f"corrupt {fmt}: {message}") from e


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # damaged EXIF: the pixels are still good, the orientation is unknown
        return image


def to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any Pillow mode -> RGB. Transparency (alpha channel, or a palette/tRNS transparent colour)
    is composited over `background`; 16- and 32-bit greys are scaled to 8 bits, not clipped."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_high_depth_to_u8(image)).convert("RGB")
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX


def _high_depth_to_u8(image: Image.Image) -> np.ndarray:
    """[H, W] uint8 from a 16-bit, 32-bit integer or float grey image.

    16-bit white is 65535. A 32-bit integer or float image does not say where its white is, so
    the smallest usual range holding all its values is taken: 0..1 (normalised float), 0..255,
    0..65535, 0..2^32-1. Values no range holds (negative, NaN, infinite, huge floats) are refused
    with the reason: any guess gives the black or white squares this once made without a word."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return np.clip(np.rint(values.astype(np.float32) / 257.0), 0, 255).astype(np.uint8)
    signed = image.mode == "I" and _tiff_sample_format(image) == _SIGNED
    if image.mode == "I" and not signed:
        values = values.view(np.uint32)  # Pillow reads unsigned 32-bit samples as signed
    kind = "float" if image.mode == "F" else "32-bit integer"
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise RejectedImage(f"unusual pixels: {kind} image with NaN or infinite values")
    low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if low < 0:
        raise RejectedImage(f"unusual pixels: {kind} image with negative values (down to {low:g}); "
                            f"no known black level: convert it to 8 or 16 bits first")
    whites = ((1.0,) if image.mode == "F" else ()) + (255.0, 65535.0, 2.0**31 - 1 if signed else 2.0**32 - 1)
    white = next((w for w in whites if high <= w), None)
    if white is None:
        raise RejectedImage(f"unusual pixels: {kind} image with values up to {high:g}; "
                            f"no known white level: convert it to 8 or 16 bits first")
    return np.clip(np.rint(values * (255.0 / white)), 0, 255).astype(np.uint8)


_SAMPLE_FORMAT, _SIGNED = 339, 2  # TIFF tag SampleFormat: 1 unsigned, 2 signed, 3 float


def _tiff_sample_format(image: Image.Image) -> int:
    tags = getattr(image, "tag_v2", None)
    value = tags.get(_SAMPLE_FORMAT, 1) if tags is not None else _SIGNED  # Pillow's own "I" is signed
    return int(value[0] if isinstance(value, tuple) else value)


def to_square(image: Image.Image, options: DecodeOptions) -> Image.Image:
    """Centre-crop (or pad) to a square and resize to options.resolution in one Lanczos pass."""
    r = options.resolution
    width, height = image.size
    if options.crop == "center":
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        if side == r and width == height:
            return image
        # box= resizes straight from the crop window: no intermediate cropped copy.
        return image.resize((r, r), Image.LANCZOS, box=(left, top, left + side, top + side),
                            reducing_gap=3.0)
    scale = r / max(width, height)
    fitted = image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                          Image.LANCZOS, reducing_gap=3.0)
    canvas = Image.new("RGB", (r, r), options.background)
    canvas.paste(fitted, ((r - fitted.width) // 2, (r - fitted.height) // 2))
    return canvas


def read_and_decode(payload: bytes | Path, options: DecodeOptions, max_bytes: int) -> DecodedImage:
    """decode_square for a file on disk (read here, in the worker, only if it is a regular file,
    never past max_bytes) or bytes already read."""
    if isinstance(payload, Path):
        try:
            payload = read_regular_file(payload, max_bytes)
        except UnreadableSource as e:
            raise RejectedImage(str(e)) from e
    return decode_square(payload, options)
