"""Curating one target of one dataset: embeddings, labels, classifier and queries in one place.

The labeling page, `curate fit` and `curate apply` all go through a CurationSession, so the page's
live figures are exactly what `fit` prints and what `apply` cuts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from nonesuch.curate.classifier import (ClassifierConfig, FitReport, can_fit, classifier_features,
                                        cross_validate, fit_classifier, keep_probability,
                                        smooth_over_neighbours)
from nonesuch.curate.clusters import nearest_neighbours, reduce_features
from nonesuch.curate.embed import load_embeddings
from nonesuch.curate.labels import LabelStore
from nonesuch.curate.query import Query, QueryConfig, QueryStrategy
from nonesuch.data import Dataset


@dataclass
class Prediction:
    probability: np.ndarray | None   # [N] float32 keep probability, smoothed over look-alikes: the cut
    classifier_probability: np.ndarray | None   # [N] the classifier's own: what queries rank by
    model: object | None             # the fitted sklearn model; all three None until both classes exist
    labels: int                      # keep + discard labels it was fitted on


class CurationSession:
    def __init__(self, dataset: Dataset, target: str, classifier: ClassifierConfig = ClassifierConfig(),
                 query: QueryConfig = QueryConfig()):
        self.dataset, self.target = dataset, target
        self.classifier_config, self.query_config = classifier, query
        self.embeddings = load_embeddings(dataset)
        self.x = classifier_features(self.embeddings.features)   # [N, 1280] float32
        self.store = LabelStore(dataset.root)
        self._strategy: QueryStrategy | None = None             # k-means takes a moment: built on first query
        self._neighbours: np.ndarray | None = None
        self._reduced: np.ndarray | None = None
        self._prediction: Prediction | None = None
        self._report: FitReport | None = None                   # cross-validation, redone after a change
        self.lock = threading.RLock()                           # the page serves requests from threads

    @property
    def neighbours(self) -> np.ndarray:
        """[N, 10] each image's nearest look-alikes in the embedding (computed once)."""
        if self._neighbours is None:
            self._neighbours = nearest_neighbours(self.reduced)
        return self._neighbours

    @property
    def reduced(self) -> np.ndarray:
        """[N, 64] PCA of the embeddings, computed once for the clusters and the neighbours."""
        if self._reduced is None:
            clusters = self.query_config.clusters
            self._reduced = reduce_features(self.embeddings.features, clusters.pca_dims, clusters.seed)
        return self._reduced

    @property
    def strategy(self) -> QueryStrategy:
        if self._strategy is None:
            self._strategy = QueryStrategy(self.embeddings.features, self.query_config, self.reduced)
        return self._strategy

    def label(self, idx: int, label: str) -> None:
        with self.lock:
            self.store.add(self.target, idx, label)
            self._prediction = self._report = None

    def undo(self) -> int | None:
        with self.lock:
            idx = self.store.undo(self.target)
            self._prediction = self._report = None
            return idx

    def predict(self) -> Prediction:
        """The classifier on the current labels (refitted only when they changed)."""
        with self.lock:
            if self._prediction is None:
                indices, y = self.store.training_set(self.target)
                if can_fit(y):
                    model = fit_classifier(self.x[indices], y, self.classifier_config)
                    probability = keep_probability(model, self.x)
                    smoothed = smooth_over_neighbours(probability, self.neighbours)
                    self._prediction = Prediction(smoothed, probability, model, len(y))
                else:
                    self._prediction = Prediction(None, None, None, len(y))
            return self._prediction

    def report(self) -> FitReport:
        with self.lock:
            if self._report is None:
                indices, y = self.store.training_set(self.target)
                self._report = cross_validate(self.x[indices], y, self.classifier_config)
            return self._report

    def next_queries(self, n: int = 10, exclude: set[int] = frozenset()) -> list[Query]:
        with self.lock:
            probability = self.predict().classifier_probability   # the classifier's own margin
            return self.strategy.next(self.store.current(self.target), probability, n, exclude)

    def kept(self, threshold: float = 0.5) -> np.ndarray:
        """[K] sorted indices of the subset: predicted keeps, with every human label overriding."""
        probability = self.predict().probability
        if probability is None:
            keep = np.zeros(len(self.dataset), bool)
        else:
            keep = probability >= threshold
        for idx, label in self.store.current(self.target).items():
            if label != "skip":
                keep[idx] = label == "keep"
        return np.flatnonzero(keep)
