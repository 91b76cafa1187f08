"""Precision and recall of a generator (Kynkäänniemi et al. 2019, "Improved precision and recall
metric for assessing generative models"), in Inception feature space.

Each feature set stands for a manifold: the union of balls around its points, each ball reaching
the point's k-th nearest neighbour within its own set (k = 3, the paper's choice). Precision is the
share of generated images inside the real manifold: samples that look like real ones (blotches
fall outside it). Recall is the share of real images inside the generated manifold: how much of
the dataset the generator covers (modes it never makes stay outside).

The balls shrink as a set grows, so each estimate depends on how many points build the manifold.
Both sides therefore use the same n = min(N_real, N_gen) points, as the paper does (50k vs 50k):
the larger side is cut into draws of n (at most `max_draws`) and the shares are averaged over them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    k: int
    n: int        # points per side in each draw
    draws: int


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] Euclidean distances (float64), via |a|^2 + |b|^2 - 2 a.b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """[N] distance from each point to its k-th nearest other point of the same set."""
    distances = pairwise_distances(features, features)
    # Column 0 of the sorted row is the point itself (distance 0), so the k-th neighbour is at k.
    return np.partition(distances, k, axis=1)[:, k]


def _draw(order: np.ndarray, draw: int, n: int) -> np.ndarray:
    """The draw-th run of n indices of a permutation, wrapping around its end."""
    return order[(np.arange(n) + draw * n) % len(order)]


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray, k: int = 3, max_draws: int = 10,
                     seed: int = 0) -> PrecisionRecall:
    n = min(len(real_features), len(fake_features))
    if n <= k:
        raise ValueError(f"precision/recall with k = {k} needs more than {k} images per side, "
                         f"got {len(real_features)} real and {len(fake_features)} generated")
    draws = min(max_draws, math.ceil(max(len(real_features), len(fake_features)) / n))
    rng = np.random.default_rng([seed, 0x9E3])
    real_order, fake_order = rng.permutation(len(real_features)), rng.permutation(len(fake_features))
    precisions, recalls = [], []
    for draw in range(draws):
        real = real_features[_draw(real_order, draw, n)]
        fake = fake_features[_draw(fake_order, draw, n)]
        fake_to_real = pairwise_distances(fake, real)                                 # [n fake, n real]
        precisions.append((fake_to_real <= knn_radii(real, k)[None, :]).any(axis=1).mean())
        recalls.append((fake_to_real.T <= knn_radii(fake, k)[None, :]).any(axis=1).mean())
    return PrecisionRecall(float(np.mean(precisions)), float(np.mean(recalls)), k, n, draws)
