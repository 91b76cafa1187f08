"""Latent walks: a looping animation that glides from seed to seed (`nonesuch interpolate`).

    write_walk(WalkConfig(run="runs/emoji", out="walk.gif", seeds=[0, 1, 2, 3]))

Keyframe latents come from the same per-seed sampling as `generate`, so frame 0 of a walk from
seed 3 is the image `generate --seeds 3` makes (before watermarking). Between keyframes we use
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

import numpy as np
import torch

from nonesuch.atomic import atomic_path, write_json
from nonesuch.progress import progress_bar

BATCH_SIZE = 32


@dataclass
class WalkConfig:
    run: str
    out: str                              # .gif or .mp4
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    frames_per_step: int = 24
    fps: int = 24
    size: int = 256
    truncation: float | None = None
    class_name: str | None = None
    checkpoint: str | None = None
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
    """[K, D] -> [K * frames_per_step, D]: K steps, the last one back to the first keyframe."""
    t = torch.arange(frames_per_step, dtype=torch.float32) / frames_per_step
    steps = [slerp(keyframes[i], keyframes[(i + 1) % len(keyframes)], t) for i in range(len(keyframes))]
    return torch.cat(steps)


def write_walk(config: WalkConfig, show_progress: bool = True, registry=None) -> Path:
    """Writes the walk, its `<out>.json` (config and record) and its registry row. ValueError for
    bad settings, ProvenanceError for a missing watermark key, CheckpointError for a bad run."""
    from nonesuch.gan.checkpoint import load_generator
    from nonesuch.generate.pipeline import class_index
    from nonesuch.generate.sampling import check_truncation
    from nonesuch.provenance.keys import watermark_config

    out = Path(config.out)
    if out.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"{out}: the walk is written as .gif or .mp4, not {out.suffix or 'no extension'}")
    if len(config.seeds) < 2 or config.frames_per_step < 1:
        raise ValueError("a walk needs at least 2 seeds and 1 frame per step")
    check_truncation(config.truncation)
    marking = watermark_config()                          # before any work: the key must exist
    from nonesuch.gan.distributed import choose_device

    loaded = load_generator(config.run, checkpoint=config.checkpoint, device=str(choose_device(config.device)))
    label = class_index(loaded.class_names, config.class_name)
    if label is None and loaded.class_names:
        label = config.seeds[0] % len(loaded.class_names)   # same rule as `generate` for seed 0
    record = _walk_record(config, loaded, label, out.suffix.lower()[1:])
    frames = _marked_frames(config, loaded, label, record.watermark_id, marking, show_progress)
    _write_walk_file(out, frames, config.fps, record, registry)
    write_json(out.with_name(out.name + ".json"), {**asdict(config), "record": record.to_json()})
    return out


def _walk_record(config: WalkConfig, loaded, label: int | None, fmt: str):
    from datetime import datetime, timezone

    import nonesuch
    from nonesuch.generate.about import training_data
    from nonesuch.provenance.record import GenerationRecord
    from nonesuch.provenance.registry import walk_watermark_id_for

    class_name = None if label is None else loaded.class_names[label]
    walk_seeds = ",".join(str(s) for s in config.seeds)
    return GenerationRecord(
        run=Path(loaded.run_dir).name, checkpoint=Path(loaded.checkpoint_path).parent.name,
        checkpoint_sha256=loaded.checkpoint_sha256, seed=config.seeds[0], class_name=class_name,
        truncation=config.truncation, size=config.size, format=fmt,
        watermark_id=walk_watermark_id_for(loaded.checkpoint_sha256, walk_seeds,
                                           config.frames_per_step, class_name, config.truncation),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        nonesuch_version=nonesuch.__version__, walk_seeds=walk_seeds, **training_data(config.run))


def _marked_frames(config: WalkConfig, loaded, label: int | None, watermark_id: int, marking,
                   show_progress: bool) -> np.ndarray:
    """[F, S, S, 3] uint8: the walk's frames, each carrying `watermark_id`."""
    from nonesuch.generate.sampling import latents_for_seeds, resize_lanczos, to_uint8
    from nonesuch.provenance import watermark

    z = walk_latents(latents_for_seeds(config.seeds, loaded.latent_dim),
                     config.frames_per_step)                                   # [F, D]
    frames = []
    with progress_bar("walk", len(z), disable=not show_progress) as advance, torch.inference_mode():
        for start in range(0, len(z), BATCH_SIZE):
            batch = z[start:start + BATCH_SIZE]
            device = next(loaded.generator.parameters()).device
            labels = None if label is None else torch.full((len(batch),), label, dtype=torch.int64, device=device)
            images = loaded.generator(batch.to(device), labels, truncation=config.truncation)
            pixels = resize_lanczos(to_uint8(images.cpu()), config.size)
            frames.extend(watermark.embed(p, watermark_id, config=marking) for p in pixels)
            advance(len(batch))
    return np.stack(frames)


def _write_walk_file(out: Path, frames: np.ndarray, fps: int, record, registry) -> None:
    """Write to a temporary file, register its hash, then rename it into place: a walk anyone
    can see is in the registry."""
    from nonesuch.hashing import file_sha256
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
        own_registry = registry is None
        registry = registry or Registry()
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
