"""Latent walks: a looping animation that glides from seed to seed (`nonesuch interpolate`).

    write_walk(WalkConfig(run="runs/emoji", out="walk.gif", seeds=[0, 1, 2, 3]))

Keyframe latents come from the same per-seed sampling as `generate`, so frame 0 of a walk from
seed 3 is the image `generate --seeds 3` makes (before watermarking). Between keyframes we use
spherical interpolation: a straight line between two Gaussian latents passes near the origin,
where the generator rarely saw inputs (samples there look washed out); the great circle keeps the
norm typical. The last keyframe leads back to the first, so the animation loops.

GIFs are written with Pillow through imageio; MP4 (H.264, yuv420p) with the ffmpeg binary that
the imageio-ffmpeg wheel ships, so no system ffmpeg is needed. Frames are not watermarked: GIF's
256-colour palette and H.264 would destroy the mark anyway; a walk is a preview, not an output.
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


def write_walk(config: WalkConfig, show_progress: bool = True) -> Path:
    from nonesuch.gan.checkpoint import load_generator
    from nonesuch.generate.pipeline import class_index
    from nonesuch.generate.sampling import check_truncation, latents_for_seeds, resize_lanczos, to_uint8

    out = Path(config.out)
    if out.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"{out}: the walk is written as .gif or .mp4, not {out.suffix or 'no extension'}")
    if len(config.seeds) < 2 or config.frames_per_step < 1:
        raise ValueError("a walk needs at least 2 seeds and 1 frame per step")
    check_truncation(config.truncation)
    loaded = load_generator(config.run, checkpoint=config.checkpoint)
    label = class_index(loaded.class_names, config.class_name)
    if label is None and loaded.class_names:
        label = config.seeds[0] % len(loaded.class_names)   # same rule as `generate` for seed 0
    z = walk_latents(latents_for_seeds(config.seeds, loaded.latent_dim),
                     config.frames_per_step)                                   # [F, D]
    frames = []
    with progress_bar("walk", len(z), disable=not show_progress) as advance, torch.inference_mode():
        for start in range(0, len(z), BATCH_SIZE):
            batch = z[start:start + BATCH_SIZE]
            labels = None if label is None else torch.full((len(batch),), label, dtype=torch.int64)
            frames.append(resize_lanczos(to_uint8(loaded.generator(batch, labels, truncation=config.truncation)), config.size))
            advance(len(batch))
    _write_frames(out, np.concatenate(frames), config.fps)                     # [F, S, S, 3]
    write_json(out.with_name(out.name + ".json"), asdict(config))
    return out


def _write_frames(out: Path, frames: np.ndarray, fps: int) -> None:
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".gif":
            import imageio.v3 as iio
            iio.imwrite(tmp, frames, extension=".gif", duration=1000 / fps, loop=0)
        else:
            import imageio_ffmpeg
            size = (frames.shape[2], frames.shape[1])
            # macro_block_size=1: sizes that are not multiples of 16 are kept, not padded.
            writer = imageio_ffmpeg.write_frames(str(tmp), size, fps=fps, codec="libx264",
                                                 pix_fmt_out="yuv420p", macro_block_size=1,
                                                 output_params=["-f", "mp4"], quality=7)
            writer.send(None)
            for frame in frames:
                writer.send(np.ascontiguousarray(frame))
            writer.close()
