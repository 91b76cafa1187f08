"""Cut the curated subset: a new dataset of the same format, recording how it was cut.

`SUBSET/dataset.json` names the parent, the target, the threshold and the classifier; beside the
pixels, `SUBSET/curation/` holds two grids a person should look at before training on it: a
sample of what was kept, and the rejected images closest to the threshold (where mistakes are).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from nonesuch import atomic
from nonesuch.curate.classifier import describe
from nonesuch.curate.clusters import load_cluster_assignment
from nonesuch.curate.errors import CurateError
from nonesuch.curate.session import CurationSession
from nonesuch.data import Dataset, write_subset
from nonesuch.data.grid import image_grid, upscale_for_viewing


def apply_classifier(session: CurationSession, out: str | Path, threshold: float = 0.5) -> Dataset:
    """Write the images the target's classifier keeps (human labels override) as a new dataset."""
    prediction = session.predict()
    if prediction.model is None:
        raise CurateError(f"{session.dataset.root}: target {session.target!r} needs at least one keep and one "
                          f"discard label; label some with `nonesuch curate label`")
    kept = session.kept(threshold)
    if not len(kept):
        raise CurateError(f"{session.dataset.root}: no image reaches threshold {threshold}; lower --threshold")
    report = session.report()
    curation = {"target": session.target, "threshold": threshold, "labels": report.labels,
                "cv_accuracy": report.cv_accuracy, "cv_ap": report.cv_ap,
                "classifier": describe(prediction.model, session.classifier_config),
                "embeddings": session.embeddings.info["model"],
                "embedding_precision": session.embeddings.info["config"].get("precision", "float32")}
    subset = write_subset(session.dataset, kept, out, curation=curation)
    probability = prediction.probability
    rejected = np.setdiff1d(np.arange(len(probability)), kept)
    near = rejected[np.argsort(-probability[rejected], kind="stable")][:64]   # just below the threshold
    shown_kept = kept[np.argsort(probability[kept], kind="stable")][:64]      # least sure keeps first
    _write_grids(session.dataset, Path(out), {"kept": shown_kept, "rejected-near-threshold": near})
    return subset


def apply_cluster(dataset: Dataset, cluster: int, out: str | Path, k: int | None = None) -> Dataset:
    """Write one k-means cluster (from the latest `curate clusters` run) as a new dataset."""
    assignment, k = load_cluster_assignment(dataset, k)
    if not 0 <= cluster < k:
        raise CurateError(f"{dataset.root}: cluster {cluster} does not exist (clusters 0..{k - 1})")
    members = np.flatnonzero(assignment == cluster)
    subset = write_subset(dataset, members, out, curation={"cluster": cluster, "k": k})
    _write_grids(dataset, Path(out), {"kept": members[:64]})
    return subset


def _write_grids(dataset: Dataset, out: Path, groups: dict[str, np.ndarray]) -> None:
    pixels = dataset.images()
    for name, indices in groups.items():
        grid = upscale_for_viewing(image_grid(np.asarray(pixels[np.asarray(indices, dtype=np.int64)])))
        with atomic.atomic_path(out / "curation" / f"{name}.png") as tmp:
            grid.save(tmp, format="PNG")
