"""Seeds -> latents -> uint8 images, reproducibly.

Every seed owns a torch.Generator, so seed 7 draws the same z whether it is generated alone or in
a batch of 64 (one shared generator would hand seed 7 different numbers depending on its place in
the batch).

Truncation (`psi`): each coordinate of z is drawn from the standard normal *truncated* to
[-psi, psi], by inverse-CDF sampling: u ~ U(Phi(-psi), Phi(psi)), z = Phi^-1(u). That is the exact
truncated normal with one uniform draw per coordinate (no rejection loop, so still reproducible
and vectorised). Smaller psi trades variety for typical, cleaner samples (BigGAN's "truncation
trick"); psi around 0.7 is a common choice, psi >= 4 is indistinguishable from no truncation.
"""

from __future__ import annotations

import math

import numpy as np
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


def latents_for_seeds(seeds: list[int], latent_dim: int, truncation: float | None = None) -> torch.Tensor:
    """[N, latent_dim] float32; row i depends only on (seeds[i], latent_dim, truncation)."""
    if truncation is not None and truncation <= 0:
        raise ValueError(f"truncation must be > 0, got {truncation}")
    rows = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        if truncation is None:
            rows.append(torch.randn(latent_dim, generator=generator))
        else:
            rows.append(torch.rand(latent_dim, generator=generator, dtype=torch.float64))
    if truncation is None:
        return torch.stack(rows)
    uniform = torch.stack(rows)                                         # [N, D] in [0, 1)
    low = 0.5 * (1 + math.erf(-truncation / math.sqrt(2)))              # Phi(-psi)
    u = low + uniform * (1 - 2 * low)                                   # U(Phi(-psi), Phi(psi))
    z = math.sqrt(2) * torch.erfinv(2 * u - 1)
    return z.clamp_(-truncation, truncation).float()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] float in ~[-1, 1] -> [N, H, W, 3] uint8 (rounded, clipped)."""
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
