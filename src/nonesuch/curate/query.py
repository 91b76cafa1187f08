"""Which images a person should label next.

Two phases, because what helps changes with the number of labels (TypiClust, Hacohen et al.
2022; uncertainty sampling is worse than random at tiny budgets):

1. Cold start: the most typical image of each k-means cluster, largest cluster first, so the
   first labels cover every mode of the archive and are clear examples, not oddities. If that
   round finds no keep (or no discard), exploration follows until it does: in each batch, the
   typical images of a finer clustering, the one farthest from everything labelled first (a
   rare target may hide in a mode the coarse clusters merged away), and two in five images
   drawn at random. The random share is the hedge for a target that is nobody's typical image:
   scattered OpenMoji food emoji took 55 labels on average (155 at worst) to find the first
   keep by typical images alone, 24 (30) with this mix; over the benchmark's 19 targets the
   first keep comes at 10.7 labels on average, was 12.9 (5 seeds each).
2. Once both keeps and discards exist: margin sampling (the images whose keep probability is
   nearest 0.5), spread across clusters, so a batch is not ten near-copies of one confusing image
   (the complaint against plain uncertainty sampling in modAL #11 and Label Studio #3256).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nonesuch.curate.clusters import ClusterConfig, Clusters, find_clusters, reduce_features


@dataclass(frozen=True)
class QueryConfig:
    clusters: ClusterConfig = ClusterConfig()
    uncertain_pool: int = 10     # candidate pool = this many x the batch, most uncertain first
    fine_clusters: int = 64      # finer k-means to explore while there is no classifier yet
    explore_random_share: float = 0.4   # of each exploring batch, drawn at random (see above)


@dataclass(frozen=True)
class Query:
    idx: int
    reason: str                  # 'typical' or 'random' (cold start), or 'uncertain'
    probability: float | None    # the classifier's keep probability, None before it exists


def most_typical_members(clusters: Clusters) -> np.ndarray:
    """[k] int64: the index of each cluster's most typical image."""
    order = np.lexsort((-clusters.typicality, clusters.assignment))   # by cluster, most typical first
    firsts = np.flatnonzero(np.r_[True, np.diff(clusters.assignment[order]) != 0])
    return order[firsts]


class QueryStrategy:
    """Holds the clusters of one dataset's embeddings; `next()` is cheap, call it after every label."""

    def __init__(self, features: np.ndarray, config: QueryConfig = QueryConfig(),
                 reduced: np.ndarray | None = None):
        """reduced: the features' PCA (see clusters.reduce_features), computed here if not given."""
        self.config = config
        if reduced is None:
            reduced = reduce_features(features, config.clusters.pca_dims, config.clusters.seed)
        self.reduced = reduced                                 # [N, dims]: where "far" is measured
        self.clusters: Clusters = find_clusters(features, config.clusters, reduced)
        self.fine: Clusters = find_clusters(features, replace(config.clusters, k=config.fine_clusters), reduced)
        self.fine_typical = most_typical_members(self.fine)    # [fine k] image indices

    def next(self, labelled: dict[int, str], probability: np.ndarray | None, n: int = 10,
             exclude: set[int] = frozenset()) -> list[Query]:
        """Up to n images to label. labelled: {idx: label} (skips count as seen);
        probability: [N] keep probability, or None while the classifier cannot be fitted."""
        seen = set(labelled) | set(exclude)
        uncovered = self._uncovered(self.clusters, labelled)
        if probability is None:
            typical = self._typical(seen, min(n, len(uncovered)), first_clusters=uncovered)
            seen |= {q.idx for q in typical}
            return typical + self._explore(seen, labelled, n - len(typical))
        # A classifier exists: clusters nobody has looked at yet still get their typical image first.
        # (Also exploring one unlabelled fine cluster per batch measured no better on the benchmark.)
        picks = self._typical(seen, min(n, len(uncovered)), first_clusters=uncovered)
        seen |= {q.idx for q in picks}
        return picks + self._uncertain(seen, probability, n - len(picks))

    @staticmethod
    def _uncovered(clusters: Clusters, labelled: dict[int, str]) -> set[int]:
        covered = {int(clusters.assignment[i]) for i, label in labelled.items() if label != "skip"}
        return set(range(len(clusters.sizes))) - covered

    def _explore(self, seen: set[int], labelled: dict[int, str], n: int) -> list[Query]:
        """A share of random images, the rest typical images of fine clusters, farthest from
        everything labelled (or picked) first; then any typical image if those run out."""
        randoms = self._random(seen, labelled, round(n * self.config.explore_random_share))
        seen = seen | {q.idx for q in randoms}
        chosen = sorted(seen)                                  # labelled, queued or picked above
        candidates = [int(i) for i in self.fine_typical if int(i) not in seen]
        picks: list[Query] = []
        while len(picks) < n - len(randoms) and candidates:
            if chosen:   # squared distance from each candidate to its nearest chosen image
                gaps = ((self.reduced[candidates][:, None] - self.reduced[chosen][None]) ** 2).sum(-1).min(1)
            else:
                gaps = np.zeros(len(candidates))
            i = candidates.pop(int(np.argmax(gaps)))
            picks.append(Query(i, "typical", None))
            chosen.append(i)
        if len(picks) < n - len(randoms):
            picks += self._typical(seen | {q.idx for q in picks}, n - len(randoms) - len(picks), first_clusters=set())
        return picks + randoms

    def _random(self, seen: set[int], labelled: dict[int, str], n: int) -> list[Query]:
        """n unseen images at random; the same labels so far give the same draw (reproducible runs)."""
        unseen = np.setdiff1d(np.arange(len(self.clusters.assignment)), list(seen))
        rng = np.random.default_rng([self.config.clusters.seed, len(labelled)])
        return [Query(int(i), "random", None) for i in rng.choice(unseen, min(n, len(unseen)), replace=False)]

    def _typical(self, seen: set[int], n: int, first_clusters: set[int]) -> list[Query]:
        """Round-robin over clusters (uncovered ones first, then by size), most typical unseen each."""
        order = sorted(range(len(self.clusters.sizes)), key=lambda c: (c not in first_clusters, c))
        queues = {c: self._by_typicality(c, seen) for c in order}
        picks: list[Query] = []
        while len(picks) < n and any(queues.values()):
            for c in order:
                if queues[c] and len(picks) < n:
                    picks.append(Query(queues[c].pop(0), "typical", None))
        return picks

    def _by_typicality(self, cluster: int, seen: set[int]) -> list[int]:
        members = np.flatnonzero(self.clusters.assignment == cluster)
        members = members[np.argsort(-self.clusters.typicality[members], kind="stable")]
        return [int(i) for i in members if int(i) not in seen][: 64]

    def _uncertain(self, seen: set[int], probability: np.ndarray, n: int) -> list[Query]:
        """The n most uncertain unseen images, at most a fair share from any one cluster."""
        margin = np.abs(probability - 0.5)                     # [N], 0 = the classifier cannot tell
        if seen:
            margin = margin.copy()
            margin[list(seen)] = np.inf
        pool = np.argsort(margin, kind="stable")[: n * self.config.uncertain_pool]
        pool = pool[np.isfinite(margin[pool])]
        by_cluster: dict[int, list[int]] = {}
        for i in pool:                                         # pool is sorted: most uncertain first
            by_cluster.setdefault(int(self.clusters.assignment[i]), []).append(int(i))
        picks: list[Query] = []
        while len(picks) < n and any(by_cluster.values()):
            for c in list(by_cluster):                         # clusters in order of their best margin
                if by_cluster[c] and len(picks) < n:
                    i = by_cluster[c].pop(0)
                    picks.append(Query(i, "uncertain", float(probability[i])))
        return picks
