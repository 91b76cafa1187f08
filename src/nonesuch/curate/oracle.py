"""Answer the labeling page's questions from labels the dataset already has, instead of a person.

With a folder-labelled dataset (ingest records each image's folder name) this reproduces a cut
"made with N labels" exactly, without anyone at the keyboard: the strategy asks for images in
batches, exactly as the page would, and only the asked-for images get their label revealed.
The benchmark and the README's curated-vs-whole comparison rest on it.
"""

from __future__ import annotations

from nonesuch.curate.classifier import FitReport
from nonesuch.curate.errors import CurateError
from nonesuch.curate.session import CurationSession


def label_from_dataset_labels(session: CurationSession, keep_label: str, budget: int, batch: int = 5) -> FitReport:
    """Label `budget` images the strategy asks for: keep where the dataset label is keep_label."""
    truth = session.dataset.labels()
    if keep_label not in set(truth):
        names = ", ".join(sorted({t for t in truth if t}))
        raise CurateError(f"{session.dataset.root}: no image is labelled {keep_label!r} (labels: {names})")

    def answered() -> int:
        return sum(1 for label in session.store.current(session.target).values() if label != "skip")

    while answered() < budget:
        queries = session.next_queries(min(batch, budget - answered()))
        if not queries:
            break
        for q in queries:
            session.label(q.idx, "keep" if truth[q.idx] == keep_label else "discard")
    return session.report()
