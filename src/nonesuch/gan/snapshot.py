"""Snapshot grids: the EMA generator on the same latents every time, so a person watching
RUN/grids/ (or RUN/progress.gif at the end) sees the same faces sharpen, not new ones."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from nonesuch import atomic
from nonesuch.data.grid import image_grid, upscale_for_viewing
from nonesuch.gan.sampling import to_uint8

GRID_SEED_OFFSET = 7919  # the grid's latents must not coincide with any training step's


def snapshot_latents(config, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fixed latents [grid_size, latent_dim] and labels [grid_size] (one class per row) or None."""
    random = torch.Generator().manual_seed(config.seed + GRID_SEED_OFFSET)
    latents = torch.randn(config.grid_size, config.arch.latent_dim, generator=random)
    labels = None
    if config.num_classes:
        columns = math.ceil(math.sqrt(config.grid_size))
        labels = (torch.arange(config.grid_size) // columns) % config.num_classes
        labels = labels.to(device)
    return latents.to(device), labels


@torch.no_grad()
def save_grid(generator, latents, labels, stage, path: Path) -> None:
    images = generator(latents, labels, stage.resolution, stage.alpha)  # [N, 3, r, r]
    scale = generator.resolution // stage.resolution
    if scale > 1:  # every grid at the run's size, so the GIF's frames line up
        images = torch.nn.functional.interpolate(images.float(), scale_factor=scale, mode="nearest")
    sheet = upscale_for_viewing(image_grid(to_uint8(images), math.ceil(math.sqrt(len(images)))))
    with atomic.atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def save_progress_gif(grid_folder: Path, path: Path, max_frames: int = 100) -> None:
    grids = sorted(grid_folder.glob("*.png"))
    if not grids:
        return
    step = max(1, math.ceil(len(grids) / max_frames))
    chosen = grids[::step] if grids[::step][-1] == grids[-1] else grids[::step] + [grids[-1]]
    frames = [Image.open(p).convert("RGB") for p in chosen]
    durations = [200] * (len(frames) - 1) + [2000]  # linger on the last frame
    with atomic.atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
