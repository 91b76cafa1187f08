"""Modes of a dataset: k-means on the embeddings, with each member's typicality.

Clusters serve twice. A person looks at one grid per cluster and can take a whole cluster as a
subset (`apply --cluster N`); and the query strategy starts from the most typical image of each
cluster, so the first labels cover every mode of the archive (TypiClust, Hacohen et al. 2022).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from nonesuch import atomic
from nonesuch.curate.classifier import standardise
from nonesuch.curate.embed import read_saved_json
from nonesuch.curate.errors import CurateError
from nonesuch.data import Dataset
from nonesuch.data.grid import image_grid, upscale_for_viewing


# A person looks at one grid per cluster; past a few hundred nobody does, and k-means' work grows
# with k (`--k 10**12` was taken, and saved as clusters-k1000000000000.json).
MAX_CLUSTERS = 1000


@dataclass(frozen=True)
class ClusterConfig:
    k: int = 16
    pca_dims: int = 64      # k-means and neighbour search in 64 dims: 20x less work, same clusters
    neighbours: int = 20    # typicality = inverse mean distance to this many in-cluster neighbours
    seed: int = 0


@dataclass
class Clusters:
    config: ClusterConfig
    assignment: np.ndarray   # [N] int64, cluster of each image, clusters numbered largest first
    typicality: np.ndarray   # [N] float32, higher = deeper inside its cluster
    sizes: list[int]         # images per cluster, descending


def reduce_features(features: np.ndarray, dims: int, seed: int = 0) -> np.ndarray:
    """[N, 1280] raw embeddings -> [N, dims] float32 PCA of the standardised features."""
    from sklearn.decomposition import PCA

    x = standardise(features)
    dims = min(dims, x.shape[0], x.shape[1])
    return PCA(dims, random_state=seed).fit_transform(x).astype(np.float32)


def typicality(reduced: np.ndarray, assignment: np.ndarray, neighbours: int) -> np.ndarray:
    """Per image, 1 / mean Euclidean distance to its nearest neighbours in its own cluster."""
    from sklearn.neighbors import NearestNeighbors

    scores = np.zeros(len(reduced), np.float32)
    for c in np.unique(assignment):
        members = np.flatnonzero(assignment == c)
        if len(members) == 1:
            scores[members] = 1.0
            continue
        k = min(neighbours, len(members) - 1)
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(reduced[members]).kneighbors(reduced[members])
        scores[members] = 1.0 / (dist[:, 1:].mean(axis=1) + 1e-6)   # column 0 is the point itself
    return scores


def distance_to_centre(reduced: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """[N] Euclidean distance of each image from the mean of its cluster, in the reduced space:
    the largest are a cluster's outliers, shown first when a whole cluster is labelled at once."""
    k = int(assignment.max()) + 1
    counts = np.bincount(assignment, minlength=k).astype(np.float32)[:, None]
    centres = np.zeros((k, reduced.shape[1]), np.float32)
    np.add.at(centres, assignment, reduced)
    centres /= np.maximum(counts, 1)
    return np.linalg.norm(reduced - centres[assignment], axis=1)


def nearest_neighbours(reduced: np.ndarray, k: int = 10) -> np.ndarray:
    """[N, dims] reduced features -> [N, k] int64 indices of each image's k nearest others."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(reduced) - 1)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(reduced).kneighbors(reduced)
    return neighbours[:, 1:]                                   # column 0 is the image itself


def find_clusters(features: np.ndarray, config: ClusterConfig = ClusterConfig(),
                  reduced: np.ndarray | None = None) -> Clusters:
    """k-means on the reduced embeddings; clusters renumbered by size, largest = 0.
    reduced: reduce_features(features, config.pca_dims, config.seed) if the caller has it already
    (the PCA is the costly part, and a session clusters twice and searches neighbours too)."""
    from sklearn.cluster import KMeans

    if not 1 <= config.k <= MAX_CLUSTERS:
        raise CurateError(f"k must be from 1 to {MAX_CLUSTERS}, got {config.k}", option="k")
    if reduced is None:
        reduced = reduce_features(features, config.pca_dims, config.seed)
    k = min(config.k, len(reduced))
    config = replace(config, k=k)   # saved and named by the clusters it holds, not the k asked for
    raw = KMeans(k, n_init=3, random_state=config.seed).fit_predict(reduced)
    order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    assignment = rank[raw]
    sizes = np.bincount(assignment, minlength=k).tolist()
    return Clusters(config, assignment, typicality(reduced, assignment, config.neighbours), sizes)


def _saved_path(dataset: Dataset, k: int) -> Path:
    return dataset.root / "curation" / f"clusters-k{k}.json"


def save_clusters(dataset: Dataset, clusters: Clusters) -> Path:
    """Keep the assignment in the dataset, so `apply --cluster N` cuts exactly what the grids showed."""
    path = _saved_path(dataset, clusters.config.k)
    atomic.write_json(path, {"config": asdict(clusters.config), "sizes": clusters.sizes,
                             "assignment": clusters.assignment.tolist()})
    return path


def load_cluster_assignment(dataset: Dataset, k: int | None = None) -> tuple[np.ndarray, int]:
    """([N] cluster per image, k) from the latest `curate clusters` run (or the one with this k)."""
    folder = dataset.root / "curation"
    saved = ([_saved_path(dataset, k)] if k is not None else
             sorted(folder.glob("clusters-k*.json"), key=lambda p: p.stat().st_mtime))
    again = f"run `nonesuch curate clusters {dataset.root} --k K --out DIR`"
    if not saved or not saved[-1].exists():     # a FIFO or a link to a device is read, and refused
        raise CurateError(f"{dataset.root}: no saved clusters{f' with k={k}' if k is not None else ''}; {again} first")
    # One number a line (write_json indents): ~10 bytes an image, bounded at 32 and 1 MB more.
    data = read_saved_json(saved[-1], (1 << 20) + 32 * len(dataset), f"{again} again")
    try:
        assignment, k = np.asarray(data["assignment"], dtype=np.int64), int(data["config"]["k"])
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CurateError(f"{saved[-1]}: not saved clusters ({error!r}); {again} again") from None
    if assignment.shape != (len(dataset),):     # clustered before images were added, or edited
        raise CurateError(f"{saved[-1]}: holds clusters of {assignment.size} images and the dataset has "
                          f"{len(dataset)}; {again} again")
    return assignment, k


def write_cluster_grids(dataset: Dataset, clusters: Clusters, out: str | Path, per_grid: int = 64) -> list[Path]:
    """One PNG per cluster (its most typical members first) and clusters.json with the sizes."""
    out = Path(out)
    pixels = dataset.images()
    paths = []
    for c, size in enumerate(clusters.sizes):
        members = np.flatnonzero(clusters.assignment == c)
        shown = members[np.argsort(-clusters.typicality[members], kind="stable")][:per_grid]
        grid = upscale_for_viewing(image_grid(np.asarray(pixels[shown])))   # [n, R, R, 3] uint8
        path = out / f"cluster-{c:02d}-n{size}.png"
        with atomic.atomic_path(path) as tmp:
            grid.save(tmp, format="PNG")
        paths.append(path)
    atomic.write_json(out / "clusters.json", {"dataset": str(dataset.root.resolve()), "config": asdict(clusters.config),
                                               "sizes": clusters.sizes, "grids": [p.name for p in paths]})
    return paths
