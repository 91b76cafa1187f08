"""Curating one target of one dataset: embeddings, labels, classifier and queries in one place.

The labeling page, `curate fit` and `curate apply` all go through a CurationSession, so the page's
live figures are exactly what `fit` prints and what `apply` cuts. A person labels one image at a
time (`next_queries`, `label`) or a page at a time (`next_page`, `label_page`, `cluster_page`);
`review` lists the labels most likely to be slips; `undo` takes back the last label or page.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from nonesuch.curate.classifier import (ClassifierConfig, FitReport, can_fit, classifier_features,
                                        cross_validate, fit_classifier, keep_probability,
                                        smooth_over_neighbours)
from nonesuch.curate.clusters import distance_to_centre, nearest_neighbours, reduce_features
from nonesuch.curate.embed import load_embeddings
from nonesuch.curate.labels import LabelStore
from nonesuch.curate.pages import Page, PageConfig, PageStrategy, proposals
from nonesuch.curate.query import Query, QueryConfig, QueryStrategy
from nonesuch.curate.review import disagreement
from nonesuch.data import Dataset


@dataclass
class Prediction:
    probability: np.ndarray | None   # [N] float32 keep probability, smoothed over look-alikes: the cut
    classifier_probability: np.ndarray | None   # [N] the classifier's own: what queries rank by
    model: object | None             # the fitted sklearn model; all three None until both classes exist
    labels: int                      # keep + discard labels it was fitted on


@dataclass(frozen=True)
class ReviewItem:
    idx: int
    label: str                       # the label a person gave
    disagreement: float              # 0..1: how strongly a classifier without this label says otherwise


class CurationSession:
    def __init__(self, dataset: Dataset, target: str, classifier: ClassifierConfig = ClassifierConfig(),
                 query: QueryConfig = QueryConfig(), page: PageConfig = PageConfig()):
        self.dataset, self.target = dataset, target
        self.classifier_config, self.query_config, self.page_config = classifier, query, page
        self.embeddings = load_embeddings(dataset)
        self.x = classifier_features(self.embeddings.features)   # [N, 1280] float32
        self.store = LabelStore(dataset.root)
        self._strategy: QueryStrategy | None = None             # k-means takes a moment: built on first query
        self._neighbours: np.ndarray | None = None
        self._reduced: np.ndarray | None = None
        self._prediction: Prediction | None = None
        self._report: FitReport | None = None                   # cross-validation, redone after a change
        self._centre_distance: np.ndarray | None = None
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

    def label_page(self, items: list[tuple[int, str]], source: str = "page") -> int:
        """Every (index, label) of a confirmed page at once; one undo takes them all back."""
        with self.lock:
            page = self.store.add_page(self.target, items, source)
            self._prediction = self._report = None
            return page

    def undo(self) -> list[int]:
        """Take back the latest label or page; returns the image indices it was on."""
        with self.lock:
            indices = self.store.undo(self.target)
            self._prediction = self._report = None
            return indices

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

    def next_page(self, exclude: set[int] = frozenset()) -> Page:
        """The next page to confirm, each image with its proposed answer (see pages.py)."""
        with self.lock:
            probability = self.predict().probability            # the smoothed one: what apply cuts by
            strategy = PageStrategy(self.strategy, self.page_config)
            return strategy.next(self.store.current(self.target), probability, exclude)

    def cluster_page(self, cluster: int, answer: str) -> tuple[Page, int]:
        """(a page of the cluster's unlabelled members farthest from its centre, all proposed as
        `answer`; how many unlabelled members confirming it labels). The outliers are shown
        because they are where a cluster's answer is most likely wrong; the rest get the answer
        unseen (`label_cluster`)."""
        with self.lock:
            members = self._unlabelled_members(cluster)
            far_first = members[np.argsort(-self.centre_distance[members], kind="stable")]
            shown = proposals(far_first[: self.page_config.size], None, self.page_config.threshold, answer)
            return Page("cluster", shown), len(members)

    def label_cluster(self, cluster: int, answer: str, shown: list[tuple[int, str]]) -> int:
        """Label the cluster's shown images as given and every other unlabelled member `answer`,
        as one page; labels a person gave before are left as they are."""
        with self.lock:
            shown_indices = {i for i, _ in shown}
            rest = [(int(i), answer) for i in self._unlabelled_members(cluster) if int(i) not in shown_indices]
            return self.label_page(list(shown) + rest, source="cluster")

    @property
    def centre_distance(self) -> np.ndarray:
        """[N] each image's distance from its cluster's centre (see clusters.distance_to_centre)."""
        if self._centre_distance is None:
            self._centre_distance = distance_to_centre(self.reduced, self.strategy.clusters.assignment)
        return self._centre_distance

    def _unlabelled_members(self, cluster: int) -> np.ndarray:
        assignment = self.strategy.clusters.assignment
        labelled = np.fromiter(self.store.current(self.target), np.int64)
        return np.setdiff1d(np.flatnonzero(assignment == cluster), labelled)

    def review(self, n: int = 20) -> list[ReviewItem]:
        """The n keep/discard labels a classifier trained on the others most disagrees with."""
        with self.lock:
            indices, keep = self.store.training_set(self.target)
            score = disagreement(self.x[indices], keep, self.classifier_config)
            if score is None:
                return []
            order = np.argsort(-score, kind="stable")[:n]
            return [ReviewItem(int(indices[i]), "keep" if keep[i] else "discard", float(score[i])) for i in order]

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
