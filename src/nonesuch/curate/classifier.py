"""The curation classifier: logistic regression on frozen EfficientNet-Lite0 features.

A linear probe on good ImageNet features is the strongest thing a few dozen labels can train
without overfitting; it fits in milliseconds, so the labeling page refits after every label.
Cross-validated accuracy and AP are reported with the number of labels they rest on, because a
figure from 12 labels means something different from one from 300.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nonesuch.cpus import blas_threads


@dataclass(frozen=True)
class ClassifierConfig:
    regularisation: float = 0.1   # inverse strength C; strong, because labels are few and dims many
    balanced: bool = True         # weight classes equally: a rare target must still pull the boundary
    cv_folds: int = 5


@dataclass
class FitReport:
    labels: int          # keep + discard labels the figures rest on
    keeps: int
    discards: int
    cv_accuracy: float | None   # None while there are too few labels of a class to cross-validate
    cv_ap: float | None
    cv_folds: int

    def summary(self) -> str:
        if self.cv_accuracy is None:
            return f"{self.labels} labels ({self.keeps} keep, {self.discards} discard): too few to cross-validate"
        return (f"{self.cv_folds}-fold CV on {self.labels} labels ({self.keeps} keep, {self.discards} discard): "
                f"accuracy {self.cv_accuracy:.3f}, AP {self.cv_ap:.3f}")


def standardise(features: np.ndarray) -> np.ndarray:
    """[N, D] -> [N, D] float32 with zero mean, unit variance per dimension, over ALL images.

    Statistics of the whole dataset (not of the few labelled images) are stable from the first
    label on; this is the only use of unlabelled data the classifier makes."""
    features = np.asarray(features, dtype=np.float32)
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    return (features - mean) / std


def classifier_features(features: np.ndarray) -> np.ndarray:
    """[N, 1280] raw embeddings -> [N, 1280] float32 the classifier sees: standardised, then
    scaled to a common length (measured +0.01-0.03 AP at 20-100 labels over standardising alone)."""
    x = standardise(features)
    return x * (np.sqrt(x.shape[1]) / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6))


def can_fit(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def fit_classifier(x: np.ndarray, y: np.ndarray, config: ClassifierConfig = ClassifierConfig()):
    """x: [L, D] classifier_features() of labelled images, y: [L] 1 = keep. Returns a fitted model.
    One BLAS thread: a few hundred rows gain nothing from two, and on a busy machine two threads
    waiting for each other made the fit 10x slower (see cpus.blas_threads)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=config.regularisation, class_weight="balanced" if config.balanced else None,
                               max_iter=1000)
    with blas_threads(1):
        return model.fit(x, y)


def keep_probability(model, x: np.ndarray) -> np.ndarray:
    """[N, D] classifier_features() -> [N] float32 probability that each image is a keep.
    The logistic of x . w + b in float32, which is what predict_proba computes, without its
    float64 copy of x (100 MB and most of the time on 10,000 images)."""
    from scipy.special import expit                   # the logistic, without overflow warnings

    weights = model.coef_[0].astype(np.float32)
    with blas_threads(1):
        logit = np.asarray(x, dtype=np.float32) @ weights + np.float32(model.intercept_[0])
    return expit(logit).astype(np.float32, copy=False)


def smooth_over_neighbours(probability: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """[N] keep probability, [N, K] neighbour indices -> [N]: half the image's own probability,
    half its neighbours' mean. Images that look alike should be cut alike; with few labels this
    measured +0.02-0.04 held-out AP on the benchmark's two sets at 20-100 labels."""
    return 0.5 * probability + 0.5 * probability[neighbours].mean(axis=1)


def out_of_fold_probability(x: np.ndarray, y: np.ndarray, config: ClassifierConfig = ClassifierConfig(),
                            folds: int | None = None) -> np.ndarray:
    """[L] keep probability of each labelled image from a classifier that did not see its label
    (stratified k-fold). What cross-validation scores and what the review view ranks by."""
    from sklearn.model_selection import StratifiedKFold

    out_of_fold = np.zeros(len(y), np.float32)
    for train, test in StratifiedKFold(folds or config.cv_folds, shuffle=True, random_state=0).split(x, y):
        out_of_fold[test] = keep_probability(fit_classifier(x[train], y[train], config), x[test])
    return out_of_fold


def cross_validate(x: np.ndarray, y: np.ndarray, config: ClassifierConfig = ClassifierConfig()) -> FitReport:
    """Out-of-fold accuracy and average precision of the classifier on the labels so far."""
    from sklearn.metrics import accuracy_score, average_precision_score

    keeps, discards = int(y.sum()), int(len(y) - y.sum())
    folds = min(config.cv_folds, keeps, discards)
    if folds < 2:
        return FitReport(len(y), keeps, discards, None, None, 0)
    out_of_fold = out_of_fold_probability(x, y, config, folds)
    return FitReport(len(y), keeps, discards, float(accuracy_score(y, out_of_fold >= 0.5)),
                     float(average_precision_score(y, out_of_fold)), folds)


def describe(model, config: ClassifierConfig) -> dict:
    """What a subset records about the classifier that cut it."""
    return {"kind": "sklearn LogisticRegression on standardised, length-normalised effnet-lite0 features; "
                    "probability averaged with the mean of its 10 nearest neighbours (cut by that)",
            "config": asdict(config), "coef_norm": float(np.linalg.norm(model.coef_)),
            "intercept": float(model.intercept_[0])}
