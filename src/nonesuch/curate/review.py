"""The review view: labels the classifier most disagrees with, the likely mistakes first.

A person confirming pages will let a few wrong proposals through. Such a slip is a label the
classifier of its day proposed, so a classifier of the same kind tends to agree with it; two
witnesses that did not make the proposal judge it better, and the review ranks by both:

- out of fold: a classifier fitted on the other labels (`ReviewConfig.folds`-fold, so each is
  judged by one that saw 90 % of the rest) gives 1 - p(given label), the idea of confident
  learning (cleanlab, Northcutt et al. 2021) reduced to one binary label;
- look-alikes: the share of the label's nearest labelled neighbours (cosine, in the classifier's
  features) that were given the other answer, each answer weighted by its rarity so that a rare
  target's keeps can outvote the many discards around them. A slipped T-shirt sits among the
  T-shirts the person did flip.

Each score is turned into its rank among the labels and the two ranks are averaged: they are on
different scales and neither is the better judge everywhere. Measured with the benchmark's
simulated person (`bench_curate.py --actions`, 3 % of flips missed, the shipped pages, 50
actions), wrong labels among the review's first 20 items on the two named targets:
  over 20 seeds x 2 targets (52 wrong labels), out of fold alone (5 folds, the old ranking) 31 %,
  10 folds 38 %, look-alikes alone 38 %, the two ranks averaged 46 %; seeds 0-4: 5 of 10.
  A random order would find about 13 % (20 of the 125-200 labels). Over all 19 targets x 5
  seeds (`--actions --all-targets --seeds 5`) the shipped ranking found 50 of 94 (53 %), the
  goal being 50 %; on the two named targets alone it stays below it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nonesuch.cpus import blas_threads
from nonesuch.curate.classifier import ClassifierConfig, out_of_fold_probability


@dataclass(frozen=True)
class ReviewConfig:
    folds: int = 10          # each label judged by a classifier fitted on 90 % of the others
    neighbours: int = 10     # labelled look-alikes that vote on each label


def classifier_disagreement(x: np.ndarray, keep: np.ndarray, folds: int,
                            config: ClassifierConfig = ClassifierConfig()) -> np.ndarray:
    """[L] 1 - out-of-fold probability of the given label."""
    probability = out_of_fold_probability(x, keep, config, folds)
    return np.where(keep == 1, 1.0 - probability, probability)


def neighbour_disagreement(x: np.ndarray, keep: np.ndarray, neighbours: int) -> np.ndarray:
    """[L] rarity-weighted share of each label's nearest labelled look-alikes that got the other answer."""
    unit = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)
    with blas_threads(1):
        similarity = unit @ unit.T                                  # [L, L]; a few hundred labels: small
    np.fill_diagonal(similarity, -np.inf)                           # a label is not its own witness
    k = min(neighbours, len(keep) - 1)
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]    # [L, k], in no particular order
    weight = np.where(keep == 1, 1 / keep.mean(), 1 / (1 - keep.mean()))[nearest]
    return ((keep[nearest] != keep[:, None]) * weight).sum(axis=1) / weight.sum(axis=1)


def share_ranked_below(score: np.ndarray) -> np.ndarray:
    """[L] -> [L] in [0, 1): the share of the other scores strictly below each (ties share a rank)."""
    return np.searchsorted(np.sort(score), score, side="left") / len(score)


def disagreement(x: np.ndarray, keep: np.ndarray, config: ClassifierConfig = ClassifierConfig(),
                 review: ReviewConfig = ReviewConfig()) -> np.ndarray | None:
    """x: [L, D] classifier features of the labelled images, keep: [L] in {0, 1} ->
    [L] in [0, 1), the mean of the two witnesses' ranks (see above), 1 = most disputed;
    None while there are too few of a class to hold one out (fewer than 2 keeps or discards)."""
    folds = min(review.folds, int(keep.sum()), int(len(keep) - keep.sum()))
    if folds < 2:
        return None
    by_classifier = classifier_disagreement(x, keep, folds, config)
    by_neighbours = neighbour_disagreement(x, keep, review.neighbours)
    return (share_ranked_below(by_classifier) + share_ranked_below(by_neighbours)) / 2


def disagreement_order(x: np.ndarray, keep: np.ndarray, config: ClassifierConfig = ClassifierConfig(),
                       review: ReviewConfig = ReviewConfig()) -> np.ndarray:
    """[L] positions of the labels, the most disputed first (labelling order while it cannot tell)."""
    score = disagreement(x, keep, config, review)
    if score is None:
        return np.arange(len(keep))
    return np.argsort(-score, kind="stable")
