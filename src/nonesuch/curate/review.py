"""The review view: labels the classifier most disagrees with, the likely mistakes first.

A person confirming pages will let a few wrong proposals through. Each label is scored against a
classifier that did not see it (out-of-fold keep probability, as cross-validation computes it):
a 'discard' the others would call a sure keep, or the reverse, is more likely a slip than a hard
case. This is the idea of confident learning (cleanlab, Northcutt et al. 2021) reduced to one
binary label: rank by 1 - p(given label | the other labels).
"""

from __future__ import annotations

import numpy as np

from nonesuch.curate.classifier import ClassifierConfig, out_of_fold_probability


def disagreement(x: np.ndarray, keep: np.ndarray, config: ClassifierConfig = ClassifierConfig()) -> np.ndarray | None:
    """x: [L, D] classifier features of the labelled images, keep: [L] in {0, 1} ->
    [L] in [0, 1], how strongly a classifier trained on the other labels disagrees with each;
    None while there are too few of a class to hold one out (fewer than 2 keeps or discards)."""
    folds = min(config.cv_folds, int(keep.sum()), int(len(keep) - keep.sum()))
    if folds < 2:
        return None
    probability = out_of_fold_probability(x, keep, config, folds)
    return np.where(keep == 1, 1.0 - probability, probability)


def disagreement_order(x: np.ndarray, keep: np.ndarray, config: ClassifierConfig = ClassifierConfig()) -> np.ndarray:
    """[L] positions of the labels, the most disputed first (labelling order while it cannot tell)."""
    score = disagreement(x, keep, config)
    if score is None:
        return np.arange(len(keep))
    return np.argsort(-score, kind="stable")
