"""The explain API: what a classifier's unit wants to see, drawn by our own generator.

    loaded = load_generator("runs/emoji")
    targets = [parse_target("imagenet:lemon")]
    result = explain(loaded, targets, seeds=range(8))
    result.pixels                  # [8, R, R, 3] uint8, the last iterates
    result.scores_after            # [8, T] raw target scores; scores_before likewise
    result.percentile_after(reals) # [8, T] percent of real images scoring below each output

Everything is batched: the N seeds are one batch through G and the classifier at every step.
Standardisation (mean, std per target over random samples) is computed once per generator and
target set and can be passed in, so a --curve sweep computes it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from nonesuch.explain.code_space import code_space
from nonesuch.explain.generator_access import split_generator
from nonesuch.explain.objective import (CALIBRATION_SAMPLES, Standardisation, calibrate,
                                        combined_objective, score_images, with_floor)
from nonesuch.explain.optimise import Ascent, AscentConfig, ascend
from nonesuch.explain.realism import realism_target
from nonesuch.explain.targets import Target
from nonesuch.gan.sampling import latents_for_seeds, to_uint8


@dataclass
class Explanation:
    seeds: list[int]
    weights: list[float]
    directions: list[int]                  # +1 maximise, -1 minimise, per target
    before_pixels: np.ndarray              # [N, R, R, 3] uint8, the seeds' plain samples
    pixels: np.ndarray                     # [N, R, R, 3] uint8, the last iterates
    scores_before: np.ndarray              # [N, T] raw scores of the seeds' plain samples
    scores_after: np.ndarray               # [N, T] raw scores of the outputs
    standardisation: Standardisation
    ascent: Ascent = field(repr=False)
    realism: float = 0.0                   # weight of the floor on D (realism.py); 0 = none
    realism_before: np.ndarray | None = None   # [N] D's raw score of the plain samples, with realism > 0
    realism_after: np.ndarray | None = None    # [N] and of the outputs

    def standardised(self, scores: np.ndarray) -> np.ndarray:
        """[N, T] raw -> [N, T] in standard deviations over random samples."""
        return (scores - np.array(self.standardisation.mean)) / np.array(self.standardisation.std)

    def frames_uint8(self) -> list[np.ndarray]:
        return [to_uint8(f.float()) for f in self.ascent.frames]          # each [N, R, R, 3]


def explain(generator, targets: list[Target], seeds=range(8),
            weights: list[float] | None = None, directions: list[int] | None = None,
            code: str = "box", ascent: AscentConfig = AscentConfig(),
            standardisation: Standardisation | None = None,
            calibration_samples: int = CALIBRATION_SAMPLES,
            advance: Callable[[], None] | None = None,
            check: Callable[[torch.Tensor], None] | None = None,
            realism: float = 0.0, combine: str = "softmin",
            ceilings: list[float | None] | None = None) -> Explanation:
    """Optimise one code per seed for the weighted, standardised targets; returns the last iterates.
    combine: how several targets make one objective, 'softmin' or 'sum' (objective.py).
    realism > 0 adds a floor on the generator's own discriminator with that weight (realism.py).
    ceilings: per target a raw score past which climbing earns nothing (objective.py), or None."""
    seeds = [int(s) for s in seeds]
    weights = list(weights) if weights is not None else [1.0 / len(targets)] * len(targets)
    directions = list(directions) if directions is not None else [1] * len(targets)
    if not (len(weights) == len(directions) == len(targets)):
        raise ValueError("one weight and one direction per target")
    split = split_generator(generator)
    space = code_space(code, split)
    if realism < 0:
        raise ValueError(f"realism must be >= 0, got {realism}")
    prior = realism_target(generator) if realism > 0 else None

    def sample(z):
        return split.images_from_features(split.first_features(z))
    # One calibration pass for the targets and D alike (a reused standardisation covers the targets).
    calibrated = (targets if standardisation is None else []) + ([prior] if prior is not None else [])
    stats = calibrate(calibrated, sample, split.latent_dim, calibration_samples) if calibrated else None
    if standardisation is None:
        standardisation = Standardisation(stats.mean[:len(targets)], stats.std[:len(targets)])
    objective = combined_objective(targets, weights, directions, standardisation, combine, ceilings)
    if prior is not None:
        objective = with_floor(objective, prior, realism, Standardisation(stats.mean[-1:], stats.std[-1:]))
    start = space.initial(latents_for_seeds(seeds, split.latent_dim))   # the seeds' plain samples
    with torch.no_grad():
        start_images = space.images(start)
    before = score_images(targets, start_images)
    differentiable = all(t.differentiable for t, w in zip(targets, weights) if w != 0.0)
    result = ascend(space, objective, start, ascent, differentiable=differentiable,
                    seed=seeds[0], advance=advance, check=check)
    return Explanation(seeds=seeds, weights=weights, directions=directions,
                       before_pixels=to_uint8(start_images.float()),
                       pixels=to_uint8(result.images.float()), scores_before=before,
                       scores_after=score_images(targets, result.images),
                       standardisation=standardisation, ascent=result, realism=realism,
                       realism_before=None if prior is None else score_images([prior], start_images)[:, 0],
                       realism_after=None if prior is None else score_images([prior], result.images)[:, 0])


def percentile_among(reals: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """reals [M, T], scores [N, T] -> [N, T]: percent of real images scoring strictly below."""
    return 100.0 * (reals[None, :, :] < scores[:, None, :]).mean(axis=1)
