"""Seeds -> latents -> pixels, reproducibly: the pieces every way of sampling shares.

Every seed owns a torch.Generator, so seed 7 draws the same z whether it is generated alone or in
a batch of 64 (one shared generator would hand seed 7 different numbers depending on its place in
the batch).

Truncation is not done on z: G pixel-normalises z, so truncating z's coordinates barely changes
an image (measured: the same spread across seeds at psi 0.5 as at 4). G truncates its first
features instead (ProgressiveGenerator.first_features, `truncation=psi`), so a seed draws the
same z at every psi and psi moves that one image towards the average one.

The generator always runs on exactly GENERATOR_BATCH latents (see fixed_shape_batches), so the
same seed gives the same image to the bit whether it is generated alone, in a batch, in a latent
walk or by the live server.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

GENERATOR_BATCH = 16     # latents per generator call, always this many (see fixed_shape_batches)


def latents_for_seeds(seeds: list[int], latent_dim: int) -> torch.Tensor:
    """[N, latent_dim] float32, standard normal; row i depends only on (seeds[i], latent_dim)."""
    return torch.stack([torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(seed)))
                        for seed in seeds])


def check_truncation(truncation: float | None) -> None:
    """psi in (0, 1] or None (off); ValueError otherwise."""
    if truncation is not None and not 0.0 < truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1] (1 = off, 0.7 a common choice), got {truncation}")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] float in ~[-1, 1] (any float dtype, any device) -> [N, H, W, 3] uint8,
    rounded and clamped (an unclamped cast would wrap)."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def fixed_shape_batches(run: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
                        z: torch.Tensor, labels: torch.Tensor | None) -> Iterator[torch.Tensor]:
    """run(z [GENERATOR_BATCH, D], labels [GENERATOR_BATCH] | None) on exactly GENERATOR_BATCH
    latents at a time, padding the last batch with zeros; yields each batch's real rows.

    A CPU kernel may sum in a different order for another batch shape (measured: half of all
    seeds off by one grey level between batch 1 and 32), and "same seed, same image" should
    hold to the bit. With one fixed shape every image is computed the same way wherever it sits
    in the batch (tested), and batching is ~1.4x faster than one latent per call."""
    for start in range(0, len(z), GENERATOR_BATCH):
        batch = z[start:start + GENERATOR_BATCH]
        batch_labels = None if labels is None else labels[start:start + GENERATOR_BATCH]
        count = len(batch)
        if count < GENERATOR_BATCH:
            batch = torch.cat([batch, batch.new_zeros(GENERATOR_BATCH - count, batch.shape[1])])
            if batch_labels is not None:
                batch_labels = torch.cat([batch_labels, batch_labels.new_zeros(GENERATOR_BATCH - count)])
        yield run(batch, batch_labels)[:count]
