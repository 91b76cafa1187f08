"""The generation record: everything needed to make an image again and to trace it back.

Written as `<seed>.json` beside each image, embedded (without its own file hash) in the C2PA
manifest, and stored as a registry row. The watermark ID is derived from the fields that fix the
pixels (checkpoint hash, seed, class, truncation), see registry.watermark_id_for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class GenerationRecord:
    run: str                      # run folder name
    checkpoint: str               # checkpoint file name inside the run
    checkpoint_sha256: str
    seed: int
    class_name: str | None        # None for unconditional runs
    truncation: float | None      # None = plain normal latents
    size: int                     # output side in pixels
    format: str                   # png | jpg | webp
    watermark_id: int             # 48-bit, also in the watermark, XMP and C2PA soft binding
    created: str                  # ISO 8601 UTC
    sha256: str = ""              # of the final file bytes; filled in after signing
    signed: bool = False
    nonesuch_version: str = ""
    walk_seeds: str | None = None  # a latent walk's keyframes ("0,3,5"); seed is the first
    trained_on: str | None = None   # the generator's training data ("171 images of smileys32")
    licence: str | None = None      # of that data, which the images inherit (e.g. CC BY-SA 4.0)
    attribution: str | None = None  # the credit that licence asks for
    objective: dict | None = None  # `nonesuch explain`: targets, weights, directions, code, iterations
    screen_attempt: int | None = None  # which of the seed's draws passed generate's screen; None: no screen
    # What the image looks like (provenance/content.py: a 48 x 48 colour thumbnail, a walk's one per
    # frame), kept in the registry row only: our mark on other pixels must not read as this image.
    content: bytes | None = field(default=None, repr=False)

    @property
    def watermark_hex(self) -> str:
        return format_watermark_id(self.watermark_id)

    def to_json(self) -> dict:
        fields = asdict(self)
        fields.pop("content")
        return {**fields, "watermark_hex": self.watermark_hex}

    def manifest_fields(self) -> dict:
        """What goes into the C2PA assertion: no file hash (the manifest cannot contain the hash
        of the file that contains it; C2PA's own data hash covers that)."""
        fields = self.to_json()
        fields.pop("sha256")
        fields.pop("signed")
        return fields


def format_watermark_id(watermark_id: int) -> str:
    return f"{watermark_id:012x}"
