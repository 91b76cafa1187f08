"""The one place explain touches the generator: its code split at the 4x4 features, through the
generator stage's differentiable sampling API (gan.generator.Generator).

    split = split_generator(load_generator("smileys32"))
    h = split.first_features(z)                  # z [N, D] -> [N, C, 4, 4]
    images = split.images_from_features(h)       # [N, C, 4, 4] -> [N, 3, R, R] in ~[-1, 1]

images_from_features(first_features(z)) is G(z) (no truncation). Both are differentiable, so a
gradient reaches z or the features. Explain optimises either z (ProGAN pixel-normalises it, so only
its direction matters) or the 4x4 features (the analogue of DGN's fc6 code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class SplitGenerator:
    first_features: Callable[[torch.Tensor], torch.Tensor]         # z [N, D] -> [N, C, 4, 4]
    images_from_features: Callable[[torch.Tensor], torch.Tensor]   # [N, C, 4, 4] -> [N, 3, R, R]
    latent_dim: int
    resolution: int


def split_generator(generator) -> SplitGenerator:
    """`generator` (a gan.generator.Generator) cut after its input block. Unconditional
    generators only: a conditional one would need a class per code (not built; the error says so)."""
    if generator.class_names:
        raise ValueError(f"{generator.folder}: explain works on unconditional generators; this one "
                         f"is conditional ({len(generator.class_names)} classes)")
    return SplitGenerator(lambda z: generator.features(z, None), generator.synthesize_from_features,
                          generator.latent_dim, generator.resolution)
