"""The one place explain touches the generator's insides: the network split at its 4x4 features.

    split = split_generator(loaded)              # a LoadedGenerator from gan.checkpoint
    h = split.first_features(z)                  # z [N, D] -> [N, C, 4, 4]
    images = split.images_from_features(h)       # [N, C, 4, 4] -> [N, 3, R, R] in ~[-1, 1]

images_from_features(first_features(z)) is G(z) (no truncation). Both are differentiable, so a
gradient reaches z or the features. Explain optimises either z (ProGAN pixel-normalises it, so only
its direction matters) or the 4x4 features (the analogue of DGN's fc6 code).

This adapter calls the nn.Module's parts directly (input block, growing blocks, to_rgb); when the
generator stage offers a differentiable sampling API, point these two functions at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from nonesuch.gan.checkpoint import LoadedGenerator
from nonesuch.gan.layers import upsample2x


@dataclass
class SplitGenerator:
    first_features: Callable[[torch.Tensor], torch.Tensor]         # z [N, D] -> [N, C, 4, 4]
    images_from_features: Callable[[torch.Tensor], torch.Tensor]   # [N, C, 4, 4] -> [N, 3, R, R]
    latent_dim: int
    resolution: int


def split_generator(loaded: LoadedGenerator) -> SplitGenerator:
    """The EMA generator of `loaded`, cut after its input block. Unconditional runs only: a
    conditional one would need a class per code (not built; the error says so)."""
    generator = loaded.generator
    if loaded.class_names:
        raise ValueError(f"{loaded.run_dir}: explain works on unconditional generators; this run "
                         f"is conditional ({len(loaded.class_names)} classes)")
    stage, alpha = generator.stage_resolution, generator.stage_alpha
    levels = [1 << k for k in range(3, stage.bit_length())]         # [8, 16, ..., stage]

    def first_features(z: torch.Tensor) -> torch.Tensor:
        return generator.input(z, None)

    def images_from_features(x: torch.Tensor) -> torch.Tensor:
        previous = None
        for r in levels:
            previous = x
            x = generator.blocks[str(r)](x)
        rgb = generator.to_rgb[str(stage)](x)                       # [N, 3, stage, stage]
        if alpha < 1.0 and previous is not None:                    # a checkpoint taken mid-fade
            rgb = torch.lerp(upsample2x(generator.to_rgb[str(stage // 2)](previous)), rgb, alpha)
        while rgb.shape[-1] < loaded.resolution:
            rgb = upsample2x(rgb)
        return rgb

    return SplitGenerator(first_features, images_from_features, loaded.latent_dim, loaded.resolution)
