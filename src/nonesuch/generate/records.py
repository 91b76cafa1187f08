"""The one place a generation record is made, for every image nonesuch generates: `generate`,
the live server (both through the Producer), latent walks and explanations.

The record says which generator made the image (its name, checkpoint and the sha256 of its
weights), how (seed, class, truncation, size, format), when and with which nonesuch; its
watermark ID is derived from the fields that fix the pixels, so the same image always gets the
same ID (provenance/registry.py). The file's own sha256 is filled in once the file exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import nonesuch
from nonesuch.generate.about import training_data
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import walk_watermark_id_for, watermark_id_for


@dataclass(frozen=True)
class Walk:
    """A latent walk through keyframe seeds; all its frames share one record and one ID."""
    seeds: list[int]
    frames_per_step: int


def generation_record(generator, seed: int, *, size: int, fmt: str, class_name: str | None = None,
                      truncation: float | None = None, signed: bool = False,
                      walk: Walk | None = None, screen_attempt: int | None = None) -> GenerationRecord:
    """The record of one image (or, with `walk`, of a whole walk, `seed` its first keyframe)
    made by `generator` (a gan.generator.Generator). screen_attempt: which of the seed's draws
    passed the screen (screen.py), None when no screen ran; attempt 0 is the seed's own latent,
    so it keeps the ID the image has without a screen."""
    sha256 = generator.checkpoint_sha256
    walk_seeds = None if walk is None else ",".join(str(s) for s in walk.seeds)
    watermark_id = (watermark_id_for(sha256, seed, class_name, truncation, screen_attempt or 0) if walk is None else
                    walk_watermark_id_for(sha256, walk_seeds, walk.frames_per_step, class_name, truncation))
    return GenerationRecord(
        run=generator.name, checkpoint=generator.info.checkpoint, checkpoint_sha256=sha256,
        seed=int(seed), class_name=class_name, truncation=truncation, size=size, format=fmt,
        watermark_id=watermark_id, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        signed=signed, nonesuch_version=nonesuch.__version__, walk_seeds=walk_seeds,
        screen_attempt=screen_attempt,
        **training_data(generator.folder))       # trained on what, under which licence, credited to whom
