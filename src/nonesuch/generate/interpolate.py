"""Latent walks: a looping animation that glides from seed to seed (`nonesuch interpolate`).

    write_walk(WalkConfig(run="smileys32", out="walk.gif", seeds=[0, 1, 2, 3]))

Frames are sampled exactly as `generate` samples (Generator.sample: the same per-seed latents,
fixed-shape batches and precision), so frame 0 of a walk from seed 3 is, to the bit, the image
`generate --seeds 3 --class C` makes before watermarking (C: the walk's class; tested). Between keyframes we use
spherical interpolation: a straight line between two Gaussian latents passes near the origin,
where the generator rarely saw inputs (samples there look washed out); the great circle keeps the
norm typical. The last keyframe leads back to the first, so the animation loops.

Every frame carries the walk's one watermark ID (this install's key), registered with the
keyframe seeds before the file appears, so a frame pulled out of the animation traces back to
the walk. The container says what the file is where it can: GIF holds a comment extension, MP4
`comment` and `description` tags (ffmpeg writes them to the udta box), both read by exiftool.
Neither holds a C2PA manifest or XMP here (Pillow and ffmpeg do not write them to these formats).

GIFs are written with Pillow through imageio (a 256-colour palette per frame; the mark survives
it, tested); MP4 (H.264, yuv420p) with the ffmpeg binary that the imageio-ffmpeg wheel ships, so
no system ffmpeg is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from nonesuch.atomic import atomic_path, write_json
from nonesuch.generate.errors import GenerateError
from nonesuch.progress import progress_bar

FRAMES_PER_CALL = 32       # frames handed to Generator.sample at once (it batches by 16 inside)

@dataclass
class WalkConfig:
    run: str                              # a RUN folder, an exported generator or a shipped name
    out: str                              # .gif or .mp4
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    frames_per_step: int = 24
    fps: int = 24
    size: int = 256
    truncation: float | None = None
    class_name: str | None = None
    checkpoint: str | None = None
    amp: str = "auto"                     # generator precision, as for generate
    device: str = "cpu"                   # where the generator runs: cpu, auto, cuda, cuda:N


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """[D], [D], [F] in [0, 1] -> [F, D] on the great circle from a to b (norms interpolated)."""
    a_norm, b_norm = a.norm(), b.norm()
    cos = torch.clamp(torch.dot(a / a_norm, b / b_norm), -1.0, 1.0)
    omega = torch.arccos(cos)
    t = t[:, None]
    if omega < 1e-4:                     # nearly parallel: the circle is a line
        return torch.lerp(a, b, t)
    direction = (torch.sin((1 - t) * omega) * a / a_norm + torch.sin(t * omega) * b / b_norm) / torch.sin(omega)
    return direction * torch.lerp(a_norm, b_norm, t)


def walk_latents(keyframes: torch.Tensor, frames_per_step: int) -> torch.Tensor:
    """[K, D] -> [K * frames_per_step, D]: K steps, the last one back to the first keyframe.
    Frame i * frames_per_step is keyframe i itself, not slerp's rounding of it, so that frame is
    to the bit the image `generate` makes for that seed."""
    t = torch.arange(frames_per_step, dtype=torch.float32) / frames_per_step
    steps = [slerp(keyframes[i], keyframes[(i + 1) % len(keyframes)], t) for i in range(len(keyframes))]
    for keyframe, step in zip(keyframes, steps):
        step[0] = keyframe
    return torch.cat(steps)


def write_walk(config: WalkConfig, show_progress: bool = True, registry=None) -> Path:
    """Writes the walk, its `<out>.json` (config and record) and its registry row. GenerateError
    for bad settings, ProvenanceError for a missing watermark key, CheckpointError for a bad
    generator."""
    from nonesuch.gan.generator import load_generator
    from nonesuch.generate.pipeline import check_sampling
    from nonesuch.generate.records import Walk, generation_record
    from nonesuch.provenance.keys import watermark_config

    out = Path(config.out)
    if out.suffix.lower() not in (".gif", ".mp4"):
        raise GenerateError(f"{out}: the walk is written as .gif or .mp4, not {out.suffix or 'no extension'}",
                            option="out")
    if len(config.seeds) < 2 or config.frames_per_step < 1:
        raise GenerateError("a walk needs at least 2 seeds and 1 frame per step", option="seeds")
    check_sampling(config.truncation, config.amp)
    marking = watermark_config()                          # before any work: the key must exist
    from nonesuch.gan.distributed import choose_device

    generator = load_generator(config.run, checkpoint=config.checkpoint, device=str(choose_device(config.device)))
    try:
        # One class for the whole walk: --class, else the one `generate` draws the first seed in.
        label = generator.label_for_seed(config.seeds[0], config.class_name)
    except ValueError as error:
        raise GenerateError(str(error), option="class") from None
    class_name = None if label is None else generator.class_names[label]
    record = generation_record(generator, config.seeds[0], size=config.size, fmt=out.suffix.lower()[1:],
                               class_name=class_name, truncation=config.truncation,
                               walk=Walk(list(config.seeds), config.frames_per_step))
    frames = _marked_frames(config, generator, label, record.watermark_id, marking, show_progress)
    _write_walk_file(out, frames, config.fps, record, registry)
    write_json(out.with_name(out.name + ".json"), {**asdict(config), "record": record.to_json()})
    return out


def walk_pixels(config: WalkConfig, generator, label: int | None) -> Iterator[np.ndarray]:
    """The walk's unmarked frames at the generator's resolution, [B, R, R, 3] uint8 a batch at a
    time, sampled as `generate` samples (Generator.sample: same batching, same precision)."""
    z = walk_latents(generator.latents(config.seeds), config.frames_per_step)     # [F, D]
    for start in range(0, len(z), FRAMES_PER_CALL):
        batch = z[start:start + FRAMES_PER_CALL]
        labels = None if label is None else torch.full((len(batch),), label, dtype=torch.int64)
        yield generator.sample(batch, labels, config.truncation, config.amp)


def _marked_frames(config: WalkConfig, generator, label: int | None, watermark_id: int, marking,
                   show_progress: bool) -> np.ndarray:
    """[F, S, S, 3] uint8: the walk's frames, resized, each carrying `watermark_id`."""
    from nonesuch.generate.sampling import resize_lanczos
    from nonesuch.provenance import watermark

    frames = []
    total = len(config.seeds) * config.frames_per_step
    with progress_bar("walk", total, disable=not show_progress) as advance:
        for pixels in walk_pixels(config, generator, label):
            frames.extend(watermark.embed(p, watermark_id, config=marking)
                          for p in resize_lanczos(pixels, config.size))
            advance(len(pixels))
    return np.stack(frames)


def _write_walk_file(out: Path, frames: np.ndarray, fps: int, record, registry) -> None:
    """Write to a temporary file, register its hash, then rename it into place: a walk anyone
    can see is in the registry."""
    from nonesuch.hashing import file_sha256
    from nonesuch.provenance.content import frame_thumbnails
    from nonesuch.provenance.registry import Registry

    label = _ai_label(record)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".gif":
            import imageio.v3 as iio
            iio.imwrite(tmp, frames, extension=".gif", duration=1000 / fps, loop=0, comment=label)
        else:
            import imageio_ffmpeg
            size = (frames.shape[2], frames.shape[1])
            # macro_block_size=1: sizes that are not multiples of 16 are kept, not padded.
            writer = imageio_ffmpeg.write_frames(
                str(tmp), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                macro_block_size=1, quality=7,
                output_params=["-f", "mp4", "-metadata", f"comment={label}",
                               "-metadata", f"description={label}"])
            writer.send(None)
            for frame in frames:
                writer.send(np.ascontiguousarray(frame))
            writer.close()
        record.sha256 = file_sha256(tmp)
        record.content = frame_thumbnails(frames)     # a frame pulled out must look like one of them
        own_registry = registry is None
        registry = registry if registry is not None else Registry()
        try:
            registry.add([record])
        finally:
            if own_registry:
                registry.close()


def _ai_label(record) -> str:
    from nonesuch.provenance.xmp import DIGITAL_SOURCE_TYPE

    return (f"AI-generated image sequence (IPTC digital source type: {DIGITAL_SOURCE_TYPE}). "
            f"Made by nonesuch {record.nonesuch_version} from run {record.run}, checkpoint "
            f"{record.checkpoint_sha256[:12]}, keyframe seeds {record.walk_seeds}; every frame "
            f"carries invisible watermark ID {record.watermark_hex}.")
