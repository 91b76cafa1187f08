"""One number per image to climb, from per-target standardised scores.

Targets speak in different units (an ImageNet logit of 12 is ordinary, a probe logit of 12 is
extreme), so each score is first standardised by its mean and standard deviation over random
samples of the generator: 0 is a typical sample, 1 one standard deviation better,

    s_i = direction_i * (score_i - mean_i) / std_i

with direction -1 for a target being minimised. Two targets with --weight W have weights
(1 - W, W); W = 0 and W = 1 are exactly the two single objectives (a weight-0 target is not run).
Two ways to combine them (`--combine`):

    softmin (the default)   -tau * log(sum_i weight_i * exp(-s_i / tau)),  tau = 1 SD
    sum                     sum_i weight_i * s_i        (DGN-AM's two-network images, research §4)

A weighted sum lets the easier target win: an ImageNet logit climbs to tens of SDs while a probe
of a curation target stays where it started, and the sum rewards that. Measured on smileys64,
8 seeds x 200 iterations, W = 0.5, seeds where BOTH targets reach their 90th percentile over
real images, pairs sunglasses + sad-faces, balloon + cat-faces, orange + sad-faces, hearts + mask,
hearts + lemon: sum 0, 0, 0, 0, 0 of 8 (the ImageNet target at the 100th percentile every time,
the probe at its starting 38th-70th); softmin 4, 6, 5, 6, 0 of 8, at the same cost. The soft
minimum climbs whichever target lags; a weight shifts a target by -tau * log(weight) SDs, so
W still trades one against the other. With one target both are the target's own score.

A ceiling (`--ceiling P`, off by default) caps each standardised score at what the P-th percentile
of the REAL images scores: past it climbing earns nothing, so the search stops where the data's
own most-X images stop instead of pushing an ImageNet logit to 30-40 when no real image passes
12. Measured on smileys64 (hearts, lemon, sunglasses, balloon x 8 seeds, README "7. explain"):
--ceiling 100 lowers KID(outputs)/KID(random) from 5.06 to 3.27 (the 8 random samples each target
ranks highest: 2.72) and keeps 91 % of runs at >= p99 of reals, but only half of the runs then beat
the best of 600 random samples, which can score past every real image; hence off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from nonesuch.explain.targets import Target

COMBINATIONS = ("softmin", "sum")
SOFTMIN_TEMPERATURE = 1.0    # tau, in standard deviations over random samples
CALIBRATION_SAMPLES = 128    # random samples per target for mean and std (fixed seed)
CALIBRATION_SEED = 0x63616C  # distinct from user seeds 0, 1, 2, ...
SCORE_BATCH = 16


def target_scores(targets: list[Target], images: torch.Tensor) -> torch.Tensor:
    """images [N, 3, R, R] in [-1, 1] -> [N, T] raw scores; targets sharing a backbone share its pass."""
    computed: dict[int, torch.Tensor] = {}
    columns = []
    for target in targets:
        if target.backbone is None:
            columns.append(target.head(images))
            continue
        key = id(target.backbone)
        if key not in computed:
            computed[key] = target.backbone(images)
        columns.append(target.head(computed[key]))
    return torch.stack([c.float() for c in columns], dim=1)


def score_images(targets: list[Target], images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Raw scores of many images in batches, no gradients: [M, 3, R, R] float in [-1, 1] or
    [M, R, R, 3] uint8 (dataset pixels) -> [M, T] float32."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        return torch.cat([target_scores(targets, images[i:i + SCORE_BATCH])
                          for i in range(0, len(images), SCORE_BATCH)]).numpy()


@dataclass
class Standardisation:
    mean: list[float]     # per target, over CALIBRATION_SAMPLES random samples
    std: list[float]


def calibrate(targets: list[Target], sample_images: Callable[[torch.Tensor], torch.Tensor],
              latent_dim: int, count: int = CALIBRATION_SAMPLES) -> Standardisation:
    """Mean and std of each target's score over `count` random samples of the generator."""
    z = torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(CALIBRATION_SEED))
    with torch.no_grad():
        images = torch.cat([sample_images(z[i:i + SCORE_BATCH]) for i in range(0, count, SCORE_BATCH)])
    scores = score_images(targets, images)                               # [count, T]
    return Standardisation(mean=scores.mean(0).tolist(), std=(scores.std(0) + 1e-6).tolist())


def pair_weights(count: int, weight: float | None) -> list[float]:
    """One weight per target: [1] for one target, [1 - W, W] for two, equal for more."""
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise ValueError(f"--weight must be in [0, 1], got {weight}")
    if count == 2:
        w = 0.5 if weight is None else weight
        return [1.0 - w, w]
    if weight is not None:
        raise ValueError(f"--weight needs exactly two targets (got {count})")
    return [1.0 / count] * count


def combined_objective(targets: list[Target], weights: list[float], directions: list[int],
                       standardisation: Standardisation, combine: str = "softmin",
                       ceilings: list[float | None] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """images -> [N] objective (see the module docstring). Targets with weight 0 are not even run:
    W = 0 and W = 1 are then exactly the single objectives, and cost what they cost.
    ceilings: per target a raw score past which climbing earns nothing (see the docstring), or None."""
    if combine not in COMBINATIONS:
        raise ValueError(f"combine must be one of {COMBINATIONS}, not {combine!r}")
    used = [i for i, w in enumerate(weights) if w != 0.0]
    weight = torch.tensor([weights[i] for i in used])
    scale = torch.tensor([directions[i] / standardisation.std[i] for i in used])
    offset = torch.tensor([standardisation.mean[i] for i in used])
    chosen = [targets[i] for i in used]
    ceilings = ceilings or [None] * len(targets)
    top = torch.tensor([math.inf if ceilings[i] is None else (ceilings[i] - offset[k].item()) * scale[k].item()
                        for k, i in enumerate(used)])                  # standardised, per used target

    def standardised(images: torch.Tensor) -> torch.Tensor:           # [N, used]
        return torch.minimum((target_scores(chosen, images) - offset) * scale, top)

    if combine == "sum":
        return lambda images: (standardised(images) * weight).sum(dim=1)
    tau = SOFTMIN_TEMPERATURE
    return lambda images: -tau * torch.logsumexp(torch.log(weight) - standardised(images) / tau, dim=1)


def real_ceilings(real_scores: np.ndarray, percentile: float, directions: list[int]) -> list[float]:
    """[M, T] the targets' raw scores of real images -> per target the score of the given
    percentile, from the target's own side (a minimised target's ceiling is its low percentile)."""
    return [float(np.percentile(real_scores[:, t], percentile if d > 0 else 100.0 - percentile))
            for t, d in enumerate(directions)]


def with_floor(objective: Callable[[torch.Tensor], torch.Tensor], target: Target, weight: float,
               standardisation: Standardisation) -> Callable[[torch.Tensor], torch.Tensor]:
    """objective + weight * min(0, target standardised): a penalty only for falling below a
    typical random sample (standardised 0), never a reward for rising above it. The realism
    prior (realism.py): rewarding D's score without bound climbs into what D scores highest,
    which is not what the data looks like."""
    mean, std = standardisation.mean[0], standardisation.std[0]

    def floored(images: torch.Tensor) -> torch.Tensor:
        return objective(images) + weight * ((target.scores(images).float() - mean) / std).clamp(max=0.0)
    return floored
