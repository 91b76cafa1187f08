"""The page's data contract: what the page is told about one image, the same in a published
site (records/<n>.js, images.json) and from the live server (/api/next).

    {id, file, sha256, width, height, bytes, alt, record}     (+ src in live mode)

id is sha256(bytes)[:16] and names the file, so the same bytes are the same image everywhere.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass

from PIL import Image

from nonesuch.data.decode import png_metadata_reason
from nonesuch.data.structure import structure_problem

# Extension by the format Pillow finds in the bytes, not by the name the file came with.
EXTENSION_BY_FORMAT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True)
class PageEntry:
    id: str                         # sha256(bytes)[:16], the file's name
    file: str                       # "img/<id>.<ext>" in a site, "<id>.<ext>" live
    sha256: str                     # of the image file's bytes
    width: int                      # pixels
    height: int
    bytes: int
    alt: str
    record: dict                    # the generation record, {} if none is known

    @classmethod
    def from_bytes(cls, data: bytes, record: dict, folder: str = "img") -> "PageEntry":
        """The entry of an image file of unknown origin: hashed, and its header read for format
        and size. ValueError for a format browsers do not all show, or a pathological file."""
        if problem := structure_problem(data):   # a PNG of millions of chunks: Pillow walks them all
            raise ValueError(problem)
        try:
            # The header only, and only of the formats a site may hold: opening a TIFF or an ICO
            # does work (a TIFF lists every strip: 20 million of them took 4 GB) for a file that
            # would be refused anyway.
            with Image.open(io.BytesIO(data), formats=tuple(EXTENSION_BY_FORMAT)) as image:
                width, height, fmt = image.width, image.height, image.format
        except Image.UnidentifiedImageError:
            raise ValueError(f"not one of the formats browsers show everywhere "
                             f"({', '.join(EXTENSION_BY_FORMAT).lower()}), or unreadable") from None
        except Image.DecompressionBombError as error:   # a GIF frame can claim 60000 x 60000
            raise ValueError(f"decompression bomb: {' '.join(str(error).split())}") from None
        except ValueError as error:                      # a zTXt or iCCP bomb in a PNG
            raise ValueError(png_metadata_reason(error) or str(error)) from None
        if fmt not in EXTENSION_BY_FORMAT:
            raise ValueError(f"format {fmt} is not one browsers show everywhere")
        return cls._make(data, hashlib.sha256(data).hexdigest(), width, height,
                         EXTENSION_BY_FORMAT[fmt], record, folder)

    @classmethod
    def from_generated(cls, data: bytes, extension: str, record: dict) -> "PageEntry":
        """The entry of an image nonesuch just made: its record already holds the file's sha256
        and its size, so the bytes are neither hashed again nor decoded (live mode's hot path)."""
        if "sha256" not in record or "size" not in record:
            return cls.from_bytes(data, record, folder="")
        return cls._make(data, record["sha256"], record["size"], record["size"], extension, record, "")

    @classmethod
    def _make(cls, data: bytes, sha256: str, width: int, height: int, extension: str,
              record: dict, folder: str) -> "PageEntry":
        name = f"{sha256[:16]}.{extension}"
        return cls(id=sha256[:16], file=f"{folder}/{name}" if folder else name, sha256=sha256,
                   width=width, height=height, bytes=len(data), alt=alt_text(record), record=record)

    def to_json(self) -> dict:
        return asdict(self)


def alt_text(record: dict) -> str:
    """Alt text from what is known about how the image was made."""
    details = [f"{label} {record[key]}" for key, label in
               (("class_name", "class"), ("class", "class"), ("seed", "seed"))
               if record.get(key) is not None]
    return "An AI-generated image" + (f" ({', '.join(details)})" if details else "")
