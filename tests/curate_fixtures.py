"""Fixtures of the curate tests: a private copy of the emoji dataset, embedded once per module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nonesuch.curate.embed import embed_dataset
from nonesuch.data import Dataset


def copy_dataset(source: Path, out: Path, embeddings: bool = False) -> Dataset:
    """Curation writes into the dataset folder (embeddings, labels): never into the shared fixture.
    The copy starts without labels and clusters, and with the embeddings only if asked."""
    skip = ["labels.sqlite*", "curation"] + ([] if embeddings else ["embeddings"])
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(*skip))
    return Dataset(out)


@pytest.fixture(scope="module")
def embedded_dataset(emoji_dataset, tmp_path_factory) -> Dataset:
    """The 48-emoji dataset (4 groups, 32 px) with its EfficientNet-Lite0 embeddings."""
    dataset = copy_dataset(emoji_dataset, tmp_path_factory.mktemp("curate") / "emoji32")
    embed_dataset(dataset)
    return dataset


def group_labels(dataset: Dataset, group: str) -> dict[int, str]:
    """The oracle: keep every image of one emoji group, discard the rest."""
    return {i: "keep" if label == group else "discard" for i, label in enumerate(dataset.labels())}
