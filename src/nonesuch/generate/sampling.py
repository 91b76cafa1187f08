"""Seeds -> latents -> uint8 images, reproducibly.

Every seed owns a torch.Generator, so seed 7 draws the same z whether it is generated alone or in
a batch of 64 (one shared generator would hand seed 7 different numbers depending on its place in
the batch).

Truncation is not done here: G pixel-normalises z, so truncating z's coordinates barely changes
an image (measured: the same spread across seeds at psi 0.5 as at 4). G truncates its first
features instead (ProgressiveGenerator.forward, `truncation=psi`), so a seed draws the same z
at every psi and psi moves that one image towards the average one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def parse_seeds(text: str) -> list[int]:
    """'0-9' -> [0..9]; '3,5,10-12' -> [3, 5, 10, 11, 12]. Seeds are non-negative ints."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"bad seed range {part!r}: use A-B or a list like 1,2,5-9")
        lo, hi = int(first), int(last or first)
        if hi < lo:
            raise ValueError(f"bad seed range {part!r}: {hi} < {lo}")
        seeds.extend(range(lo, hi + 1))
    return seeds


def latents_for_seeds(seeds: list[int], latent_dim: int) -> torch.Tensor:
    """[N, latent_dim] float32, standard normal; row i depends only on (seeds[i], latent_dim)."""
    import torch  # here, not at the top: finish workers import this module for resize_lanczos

    return torch.stack([torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(seed)))
                        for seed in seeds])


def check_truncation(truncation: float | None) -> None:
    """psi in (0, 1] or None (off); ValueError otherwise."""
    if truncation is not None and not 0.0 < truncation <= 1.0:
        raise ValueError(f"--truncation must be in (0, 1] (1 = off, 0.7 a common choice), "
                         f"got {truncation}")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] float in ~[-1, 1] -> [N, H, W, 3] uint8 (rounded, clipped)."""
    import torch

    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def resize_lanczos(pixels: np.ndarray, size: int) -> np.ndarray:
    """[N, R, R, 3] uint8 -> [N, size, size, 3] uint8 with Pillow's Lanczos (antialiased when
    shrinking). Native size passes through untouched."""
    from PIL import Image

    if pixels.shape[1] == size and pixels.shape[2] == size:
        return pixels
    return np.stack([np.asarray(Image.fromarray(p).resize((size, size), Image.LANCZOS))
                     for p in pixels])
