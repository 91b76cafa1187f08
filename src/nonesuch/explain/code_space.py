"""Where the search happens: the generator's code, and the constraint that keeps it on the prior.

DGN-AM clips each fc6 unit to [0, U] after every step, so the code stays where the generator was
trained and the images stay images. Two analogues for a ProGAN:

- sphere: optimise z and put it back on the sphere of radius sqrt(D) after each step. G
  pixel-normalises z, so z's length carries nothing and an L2 decay on z (DGN's 0.99) would do
  nothing; the sphere is where every sampled z (almost) lies.
- box: optimise the 4x4 features after the input block (the closest thing to fc6) with each
  unit clipped to its [0.5, 99.5] percentile over random samples, as DGN clips to its range.

    space = code_space("sphere", split)
    h = space.initial(z)           # [N, D] or [N, C, 4, 4], already inside the constraint
    images = space.images(h)       # differentiable
    h = space.project(h + step)
"""

from __future__ import annotations

import torch

from nonesuch.explain.generator_access import SplitGenerator

CODES = ("sphere", "box")
# The first step of each (README "7. explain" and "Explain"): on the sphere 0.3 overshoots and
# seeds fall below their start, 0.15 collapses seeds onto one image; 0.05 climbs steadily. The box
# climbs four to five times further than the sphere and never fell at 0.3.
DEFAULT_STEPS = {"sphere": 0.05, "box": 0.3}
BOX_SAMPLES = 4096          # random latents whose features set the box
BOX_SEED = 0x626F78         # fixed, so the box (and every result) is reproducible
BOX_PERCENTILES = (0.5, 99.5)


class SphereCode:
    name = "sphere"

    def __init__(self, split: SplitGenerator):
        self.split = split
        self.radius = split.latent_dim ** 0.5

    def initial(self, z: torch.Tensor) -> torch.Tensor:
        return self.project(z)

    def project(self, h: torch.Tensor) -> torch.Tensor:                   # [N, D]
        return h * (self.radius / h.norm(dim=1, keepdim=True).clamp_min(1e-8))

    def images(self, h: torch.Tensor) -> torch.Tensor:
        return self.split.images_from_features(self.split.first_features(h))

    def inside(self, h: torch.Tensor, tolerance: float = 1e-4) -> bool:
        return bool(((h.norm(dim=1) - self.radius).abs() <= tolerance * self.radius).all())


class FeatureBoxCode:
    name = "box"

    def __init__(self, split: SplitGenerator):
        self.split = split
        self.low, self.high = feature_box(split)                          # [C, 4, 4] each

    def initial(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.project(self.split.first_features(z))

    def project(self, h: torch.Tensor) -> torch.Tensor:                   # [N, C, 4, 4]
        return torch.maximum(torch.minimum(h, self.high), self.low)

    def images(self, h: torch.Tensor) -> torch.Tensor:
        return self.split.images_from_features(h)

    def inside(self, h: torch.Tensor, tolerance: float = 0.0) -> bool:
        return bool(((h >= self.low - tolerance) & (h <= self.high + tolerance)).all())


def feature_box(split: SplitGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-unit [0.5, 99.5] percentiles of the 4x4 features over BOX_SAMPLES random latents."""
    z = torch.randn(BOX_SAMPLES, split.latent_dim, generator=torch.Generator().manual_seed(BOX_SEED))
    with torch.no_grad():
        features = torch.cat([split.first_features(z[i:i + 512]) for i in range(0, len(z), 512)])
    q = torch.tensor([p / 100 for p in BOX_PERCENTILES])
    low, high = torch.quantile(features.flatten(1), q, dim=0)            # [C * 16] each
    return low.reshape(features.shape[1:]), high.reshape(features.shape[1:])


def code_space(name: str, split: SplitGenerator):
    if name == "sphere":
        return SphereCode(split)
    if name == "box":
        return FeatureBoxCode(split)
    raise ValueError(f"code {name!r}: choose one of {', '.join(CODES)}")
