"""Which page of images a person should label next, and what to propose for each.

A person's cost is actions, not labels: confirming a page of 25 images whose proposed answers
are right is one key press, and each wrong proposal costs one more (a flip). So a page is worth
showing when it teaches the classifier much for few flips. Pages hold images that mostly share
one proposed answer, because spotting the odd ones out of a page of look-alike answers is quick.

Before a classifier exists (no keep and discard yet) a page is the query strategy's cold start
(typical images of every cluster, then exploration; see query.py), each proposed as the answer
most labels so far have (discard at first: a target is usually the minority).

Once a classifier exists, the page is chosen by `PageConfig.choice`:
- 'uncertain' (the default): the images the classifier is least sure of, spread over clusters
  (the query strategy's margin sampling, a page at a time), each proposed as its prediction.
- 'ranked': the unlabelled images ranked highest, each proposed as its prediction. The first
  pages are the surest keeps (cheap); as those are labelled the page walks down the ranking.
- 'band': alternately the images just above and just below the threshold, proposed as that side,
  so every image on a page shares one proposal.
- 'mixed': half 'uncertain', half random.
- 'random': unlabelled images at random, each proposed as its prediction (mostly discards).
- 'clusters': a whole k-means cluster when one nearly shares one answer (`cluster_uniformity` of
  it, labels where given, else predictions): a page of its members the classifier doubts most
  (or those farthest from the centre, as the cluster view shows), and confirming labels every
  other unlabelled member with the cluster's answer, unseen; an 'uncertain' page when no cluster
  qualifies.
Measured with `benchmarks/bench_curate.py --actions` (2 seeds, 3 % of flips missed, a heavily
loaded machine), AP at 50 actions as a share of full-label AP, and actions to reach 95 %:
  Fashion-MNIST T-shirt/top: uncertain 95-96 % (43-47 actions, 125-138 labels), random 96 % (43,
  500 labels), mixed 96 % (41), band 93 % (57), ranked 90 % (> 60); one by one 90 % (> 50).
  OpenMoji animals-nature: uncertain 95 % (50, 150 labels), random 97 % (45, 512 labels), mixed
  93 % (> 50); one by one 82 %.
So the gain is the page itself: labels the classifier already gets right cost almost nothing, and
random pages, nearly all right, buy 10 labels an action. Which choice is best is within the noise
of 2 seeds on 2 targets; 'uncertain' stays the default because it also looks for a rare target's
keeps, which a random page holds few of. Pages of one shared answer (ranked, band) cost more:
ranked pages spend their labels on sure keeps, one-sided band pages on near-copies.

Whole clusters (issue 16's second idea) buy labels by the thousand and still lose where it
matters. AP at 50 actions (labels bought), 2-3 seeds on the named targets, C = 0.1:
  T-shirt/top: uncertain 0.836 (117), clusters 0.821 (2340, 22 wrong a seed), the far-from-centre
  members shown 0.775 (2498, 45 wrong a seed), fine k=64 clusters 0.774 (1601), 99 / 100 %
  uniform 0.817 / 0.816, prior-corrected 0.793; animals-nature: uncertain 0.812, clusters 0.804,
  99 % uniform 0.820, fine 0.744.
The unseen members a cluster's answer reaches wrongly are exactly the keeps the classifier is
surest are discards, so each wrong label confirms its worst mistakes; and the thousands of right
ones are easy images that teach it little (the classifier fitted without class weights did not
do better: clusters 0.812 / 0.796). Proposals by the prior-corrected probability (fewer flips on
uncertain pages) bought a few more labels for no gain (T-shirt 0.839 with 133 labels vs 0.836,
animals 0.813 vs 0.812, 3 seeds); so did 'mixed' (0.840, 175 labels). Regularisation C = 0.3
instead of 0.1 looked better on 3 seeds (T-shirt 0.866) and did not hold on 5 (Coat 0.766 vs
0.782, animals 0.811 vs 0.820); C = 0.03 and 1.0 were no better. The 19-target sweep is in
benchmarks/results/curate-actions-19x5.txt; whole clusters beside it, 5 seeds, on the targets
that finished in benchmarks/results/curate-actions-clusters.txt (T-shirt/top 0.802 with 2,283
labels vs uncertain 0.838; the review found 5 % of their wrong labels in its first 20).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nonesuch.curate.query import QueryStrategy

PAGE_CHOICES = ("ranked", "band", "uncertain", "mixed", "random", "clusters")


@dataclass(frozen=True)
class PageConfig:
    size: int = 25               # 5 x 5: fits a laptop screen at 128 px a tile, one key per tile
    choice: str = "uncertain"    # see the module docstring
    threshold: float = 0.5       # proposed keep at or above this (prior-corrected) probability
    prior_correction: bool = False  # see prior_corrected(); off: not yet measured on the benchmark
    cluster_uniformity: float = 0.97  # 'clusters': a cluster is labelled whole when this share of it has one answer
    cluster_level: str = "coarse"   # 'clusters': the query strategy's 'coarse' (k=16) or 'fine' (k=64) clusters
    cluster_shown: str = "doubtful"  # 'clusters': show the members 'doubtful' of the answer, or 'far' from the centre

    def __post_init__(self):
        if self.choice not in PAGE_CHOICES:
            raise ValueError(f"page choice must be one of {PAGE_CHOICES}, not {self.choice!r}")
        if self.cluster_level not in ("coarse", "fine") or self.cluster_shown not in ("doubtful", "far"):
            raise ValueError(f"cluster level must be coarse or fine and cluster shown doubtful or far, not "
                             f"{self.cluster_level!r} and {self.cluster_shown!r}")


@dataclass(frozen=True)
class PageItem:
    idx: int
    proposed: str                # 'keep' or 'discard': what confirming the page labels it
    probability: float | None    # the keep probability behind the proposal, None before a classifier


@dataclass(frozen=True)
class Page:
    kind: str                    # 'explore', 'ranked', 'keep-band', 'discard-band', 'uncertain', 'random', 'cluster'
    items: list[PageItem]
    cluster: int | None = None   # 'cluster' pages: the cluster (of `PageStrategy.clusters`) labelled whole
    unseen: tuple[int, ...] = ()  # 'cluster' pages: the members not shown, labelled the cluster's answer on confirm


def proposals(indices, probability: np.ndarray | None, threshold: float, default: str) -> list[PageItem]:
    if probability is None:
        return [PageItem(int(i), default, None) for i in indices]
    return [PageItem(int(i), "keep" if probability[i] >= threshold else "discard", float(probability[i]))
            for i in indices]


def majority_label(labelled: dict[int, str]) -> str:
    """The answer most labels so far have; discard while there are none."""
    keeps = sum(1 for label in labelled.values() if label == "keep")
    discards = sum(1 for label in labelled.values() if label == "discard")
    return "keep" if keeps > discards else "discard"


def prior_corrected(probability: np.ndarray, labelled: dict[int, str]) -> np.ndarray:
    """[N] keep probability of the class-balanced classifier -> [N] with the labels' own keep share
    as the prior. The classifier weighs keeps and discards equally (a rare target must still pull
    the boundary), which makes it call far too many images keeps: with 1 keep in 10, an image at
    0.5 is more likely a discard. Proposing by the balanced probability would make a person flip
    those; shifting the log-odds by log(keeps / discards) proposes the likelier answer instead."""
    keeps = sum(1 for label in labelled.values() if label == "keep")
    discards = sum(1 for label in labelled.values() if label == "discard")
    if not keeps or not discards:
        return probability
    p = np.clip(probability.astype(np.float64), 1e-6, 1 - 1e-6)
    return (1 / (1 + (1 - p) / p * (discards / keeps))).astype(np.float32)


class PageStrategy:
    """Chooses pages over one dataset; `next()` is cheap (sorts over N), call it after every page."""

    def __init__(self, queries: QueryStrategy, config: PageConfig = PageConfig()):
        self.queries, self.config = queries, config

    def next(self, labelled: dict[int, str], probability: np.ndarray | None,
             exclude: set[int] = frozenset()) -> Page:
        """labelled: {idx: label} (skips count as seen); probability: [N] keep probability (the
        smoothed one `apply` cuts by), or None while no classifier can be fitted."""
        size, threshold = self.config.size, self.config.threshold
        if probability is None:
            picks = [q.idx for q in self.queries.next(labelled, None, size, exclude)]
            return Page("explore", proposals(picks, None, threshold, majority_label(labelled)))
        if self.config.prior_correction:
            probability = prior_corrected(probability, labelled)
        unseen = np.ones(len(probability), bool)
        unseen[list(set(labelled) | set(exclude))] = False
        candidates = np.flatnonzero(unseen)
        if self.config.choice == "ranked":
            picks = candidates[np.argsort(-probability[candidates], kind="stable")[:size]]
            return Page("ranked", proposals(picks, probability, threshold, "discard"))
        if self.config.choice == "band":
            return self._band(labelled, candidates, probability)
        if self.config.choice == "clusters":
            page = self._whole_cluster(labelled, candidates, probability)
            if page is not None:
                return page
        if self.config.choice in ("uncertain", "clusters"):
            picks = [q.idx for q in self.queries.next(labelled, probability, size, exclude)]
            picks.sort(key=lambda i: -probability[i])   # proposed keeps first: a page reads in two blocks
            return Page("uncertain", proposals(picks, probability, threshold, "discard"))
        rng = np.random.default_rng([self.queries.config.clusters.seed, len(labelled)])
        if self.config.choice == "mixed":      # half the least sure, half at random (cheap, unbiased labels)
            uncertain = [q.idx for q in self.queries.next(labelled, probability, size // 2, exclude)]
            rest = np.setdiff1d(candidates, uncertain)
            picks = uncertain + rng.choice(rest, min(size - len(uncertain), len(rest)), replace=False).tolist()
            picks.sort(key=lambda i: -probability[i])
            return Page("mixed", proposals(picks, probability, threshold, "discard"))
        picks = rng.choice(candidates, min(size, len(candidates)), replace=False)
        return Page("random", proposals(picks, probability, threshold, "discard"))

    def _band(self, labelled: dict[int, str], candidates: np.ndarray, probability: np.ndarray) -> Page:
        """Every other page above the threshold (nearest it first), the others below it."""
        size, threshold = self.config.size, self.config.threshold
        above = candidates[probability[candidates] >= threshold]
        below = candidates[probability[candidates] < threshold]
        keep_side = (len(labelled) // size) % 2 == 0 and len(above) or not len(below)
        if keep_side:
            picks = above[np.argsort(probability[above], kind="stable")[:size]]
        else:
            picks = below[np.argsort(-probability[below], kind="stable")[:size]]
        return Page("keep-band" if keep_side else "discard-band", proposals(picks, probability, threshold, "discard"))

    @property
    def clusters(self):
        """The clusters 'clusters' pages label whole (the query strategy's coarse or fine ones)."""
        return self.queries.fine if self.config.cluster_level == "fine" else self.queries.clusters

    def _whole_cluster(self, labelled: dict[int, str], unseen: np.ndarray, probability: np.ndarray) -> Page | None:
        """The cluster whose members most nearly share one answer (labels where given, else the
        prediction), if that share reaches `cluster_uniformity` and it has more unlabelled
        members than a page: a page of the members least sure of the answer (or farthest from
        the centre), the rest labelled the answer unseen. None when no cluster qualifies."""
        assignment = self.clusters.assignment
        keep = probability >= self.config.threshold                     # [N] the answer each image has or would get
        for i, label in labelled.items():
            if label != "skip":
                keep[i] = label == "keep"
        k = int(assignment.max()) + 1
        sizes = np.bincount(assignment, minlength=k)
        keep_share = np.bincount(assignment, weights=keep, minlength=k) / np.maximum(sizes, 1)
        uniformity = np.maximum(keep_share, 1 - keep_share)
        open_members = np.bincount(assignment[unseen], minlength=k)
        uniformity[open_members <= self.config.size] = 0                # nothing left to gain over a plain page
        best = int(np.argmax(uniformity))
        if uniformity[best] < self.config.cluster_uniformity:
            return None
        answer = "keep" if keep_share[best] >= 0.5 else "discard"
        members = unseen[assignment[unseen] == best]
        if self.config.cluster_shown == "far":
            order = np.argsort(-self.centre_distance[members], kind="stable")
        else:                                                           # least likely to have the answer first
            order = np.argsort(probability[members] if answer == "keep" else -probability[members], kind="stable")
        shown, rest = members[order[: self.config.size]], members[order[self.config.size:]]
        items = [PageItem(int(i), answer, float(probability[i])) for i in shown]
        return Page("cluster", items, cluster=best, unseen=tuple(int(i) for i in rest))

    @property
    def centre_distance(self) -> np.ndarray:
        if getattr(self, "_centre_distance", None) is None:
            from nonesuch.curate.clusters import distance_to_centre

            self._centre_distance = distance_to_centre(self.queries.reduced, self.clusters.assignment)
        return self._centre_distance
